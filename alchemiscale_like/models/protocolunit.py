"""`ProtocolUnit` (one step of a ProtocolDAG) and its results."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from alchemiscale_like.models.context import Context
from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.tokenization import Tokenizable, _children


class ProtocolUnit(Tokenizable):
    """One unit of work. Units depend on other units by taking them as ``inputs``.

    Subclasses implement :meth:`_execute`. When it runs, every upstream unit in
    ``inputs`` has been replaced by that unit's successful :class:`ProtocolUnitResult`.
    """

    name: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)

    def upstream_units(self) -> list[ProtocolUnit]:
        """The units this unit depends on (units found anywhere in ``inputs``)."""
        seen: dict[str, ProtocolUnit] = {}
        for child in _children(self.inputs):
            if isinstance(child, ProtocolUnit):
                seen.setdefault(child.key, child)
        return list(seen.values())

    # ``*args: Any, **kwargs: Any`` lets subclasses declare their own keyword inputs.
    def _execute(self, ctx: Context, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Do the work; return outputs (JSON values, or ``Path``s under ``ctx.permanent``)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _execute")


class ProtocolUnitResult(Tokenizable):
    """The successful outcome of one attempt at a unit.

    ``outputs`` holds JSON values and :class:`~alchemiscale_like.models.resultfile.ResultFile`
    references only, so any client can read it without the protocol's code.
    ``files`` lists every file the attempt kept (all of ``ctx.permanent``), whether
    or not an output refers to it.
    """

    name: str = ""
    source_key: str
    attempt: int = Field(default=1, ge=1)
    outputs: dict[str, Any] = Field(default_factory=dict)
    files: list[ResultFile] = Field(default_factory=list)
    start_time: dt.datetime
    end_time: dt.datetime

    def ok(self) -> bool:
        """True for a success."""
        return True


class ProtocolUnitFailure(ProtocolUnitResult):
    """A failed attempt: the exception type and message, and the traceback."""

    exception: tuple[str, str]
    traceback: str

    def ok(self) -> bool:
        """False: this attempt failed."""
        return False
