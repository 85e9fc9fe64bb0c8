"""`Protocol`: how to turn two end states into a ProtocolDAG, and gather its results."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from alchemiscale_like.models.components import ChemicalSystem
from alchemiscale_like.models.estimate import ResultEstimate, estimate_from_data
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnit
from alchemiscale_like.models.tokenization import Tokenizable, registered_classes


class ProtocolSettings(BaseModel):
    """Base class of protocol settings: frozen, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ProtocolResult(Tokenizable):
    """What :meth:`Protocol.gather` returns: a protocol's combined estimate."""

    data: dict[str, Any] = Field(default_factory=dict)
    n_protocol_dag_results: int = 0

    def get_estimate(self) -> Any:
        """The combined estimate (protocol-specific)."""
        return self.data.get("estimate")

    def get_uncertainty(self) -> Any:
        """The uncertainty of :meth:`get_estimate` (protocol-specific)."""
        return self.data.get("uncertainty")

    def get_units(self) -> Any:
        """The units of :meth:`get_estimate` (protocol-specific; None if not stated)."""
        return self.data.get("units")

    def to_estimate(self) -> ResultEstimate | None:
        """The scalar summary the server stores and charts, or None if there is none.

        Read from ``data["estimate"]``, ``data["uncertainty"]`` and ``data["units"]``;
        a protocol whose estimate is not a finite number has no summary.
        """
        return estimate_from_data(self.data)


class Protocol(Tokenizable):
    """A method for computing something between two ChemicalSystems.

    Subclasses declare ``settings`` with their own settings type, implement
    :meth:`_create` (return the units of one DAG) and :meth:`_gather`
    (combine successful DAG results), and may set ``result_cls``.
    """

    settings: ProtocolSettings
    result_cls: ClassVar[type[ProtocolResult]] = ProtocolResult

    @classmethod
    def default_settings(cls) -> ProtocolSettings:
        """Settings to start from (override in subclasses)."""
        return ProtocolSettings()

    def create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None = None,
        extends: ProtocolDAGResult | None = None,
        name: str | None = None,
        seed: int | None = None,
        transformation_key: str | None = None,
    ) -> ProtocolDAG:
        """Create the ProtocolDAG of one Task.

        ``seed`` fixes every random choice of the DAG (a random one is drawn when
        omitted); ``extends`` continues from an earlier successful DAG result.
        """
        if seed is None:
            seed = secrets.randbelow(2**31)
        units = self._create(stateA, stateB, mapping, extends, seed)
        return ProtocolDAG(
            name=name or "",
            protocol_units=list(units),
            transformation_key=transformation_key,
            extends_key=extends.key if extends is not None else None,
        )

    def gather(self, dag_results: Iterable[ProtocolDAGResult]) -> ProtocolResult:
        """Combine the successful DAG results of one Transformation into one result."""
        successful = [r for r in dag_results if r.ok()]
        return self.result_cls(
            data=self._gather(successful), n_protocol_dag_results=len(successful)
        )

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        raise NotImplementedError(f"{type(self).__name__} does not implement _create")

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not implement _gather")


def registered_protocol_names() -> list[str]:
    """Class names of every registered Protocol subclass (what a service can run)."""
    return sorted(
        {
            cls.__qualname__
            for cls in registered_classes()
            if issubclass(cls, Protocol) and cls is not Protocol
        }
    )
