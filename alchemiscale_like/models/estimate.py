"""`ResultEstimate`: the small scalar summary of a result, readable without protocol code.

A compute service (which has the protocol's code) reads it from ``Protocol.gather``
and sends it with the DAG result; the server stores it beside the result and the
dashboard and ``results --plot`` chart it, so neither ever imports a protocol.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The shape of a unit label: printable, no control characters, at most 32 characters.
UNITS_PATTERN = re.compile(r"[^\x00-\x1f\x7f]{1,32}")


class ResultEstimate(BaseModel):
    """A scalar estimate, its uncertainty (one standard error) and its units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    estimate: float
    uncertainty: float | None = Field(default=None, ge=0)
    units: str | None = None

    @field_validator("estimate", "uncertainty")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("units")
    @classmethod
    def _units(cls, value: str | None) -> str | None:
        if value is not None and UNITS_PATTERN.fullmatch(value) is None:
            raise ValueError("units must be 1-32 printable characters")
        return value


def _number(value: Any) -> float | None:
    """``value`` as a finite float if it is a real number (numpy scalars included)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def estimate_from_data(data: dict[str, Any]) -> ResultEstimate | None:
    """The estimate in a ProtocolResult's ``data`` (keys ``estimate``, ``uncertainty``,
    ``units``), or None when it has no finite scalar estimate."""
    estimate = _number(data.get("estimate"))
    if estimate is None:
        return None
    uncertainty = _number(data.get("uncertainty"))
    units = data.get("units")
    return ResultEstimate(
        estimate=estimate,
        uncertainty=abs(uncertainty) if uncertainty is not None else None,
        units=units if isinstance(units, str) and UNITS_PATTERN.fullmatch(units) else None,
    )


def combine_estimates(estimates: Sequence[ResultEstimate]) -> ResultEstimate | None:
    """One transformation's estimate from its Tasks' estimates, without protocol code.

    The mean of the estimates, with standard error ``sqrt(sum u_i^2) / n`` (independent
    repeats, as HarmonicTI's own gather combines them). Units are kept only when every
    estimate states the same ones; the uncertainty only when every estimate has one.
    None for no estimates.
    """
    if not estimates:
        return None
    n = len(estimates)
    mean = sum(e.estimate for e in estimates) / n
    uncertainties = [e.uncertainty for e in estimates]
    uncertainty = (
        math.sqrt(sum(u * u for u in uncertainties if u is not None)) / n
        if all(u is not None for u in uncertainties)
        else None
    )
    units = {e.units for e in estimates}
    return ResultEstimate(
        estimate=mean, uncertainty=uncertainty, units=units.pop() if len(units) == 1 else None
    )


class TransformationEstimate(BaseModel):
    """One transformation's estimate, combined over its ``n_results`` successful results."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transformation: str
    name: str
    estimate: ResultEstimate
    n_results: int = Field(ge=1)
