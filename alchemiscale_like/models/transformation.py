"""`Transformation`, `NonTransformation` and `AlchemicalNetwork`."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.components import ChemicalSystem
from alchemiscale_like.models.protocol import Protocol, ProtocolResult
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.models.tokenization import Tokenizable


class Transformation(Tokenizable):
    """An edge: compute something between ``stateA`` and ``stateB`` with ``protocol``."""

    stateA: ChemicalSystem
    stateB: ChemicalSystem
    protocol: Protocol
    mapping: dict[str, Any] | None = None
    name: str = ""

    def create(
        self,
        extends: ProtocolDAGResult | None = None,
        name: str | None = None,
        seed: int | None = None,
    ) -> ProtocolDAG:
        """Create the ProtocolDAG of one Task on this Transformation."""
        if extends is not None and extends.transformation_key not in (None, self.key):
            raise ValidationError("extends must be a result of this same Transformation")
        return self.protocol.create(
            stateA=self.stateA,
            stateB=self.stateB,
            mapping=self.mapping,
            extends=extends,
            name=name,
            seed=seed,
            transformation_key=self.key,
        )

    def gather(self, dag_results: list[ProtocolDAGResult]) -> ProtocolResult:
        """Combine DAG results of this Transformation with its protocol's ``gather``."""
        return self.protocol.gather(dag_results)


class NonTransformation(Transformation):
    """A node-only calculation (e.g. a simulation of one system): ``stateA == stateB``."""

    @model_validator(mode="before")
    @classmethod
    def _single_system(cls, data: Any) -> Any:
        if isinstance(data, dict) and "system" in data:
            data = dict(data)
            system = data.pop("system")
            data.setdefault("stateA", system)
            data.setdefault("stateB", system)
        return data

    @model_validator(mode="after")
    def _same_states(self) -> NonTransformation:
        if self.stateA != self.stateB:
            raise ValueError("a NonTransformation has one system: stateA must equal stateB")
        return self

    @property
    def system(self) -> ChemicalSystem:
        """The one system this calculation runs on."""
        return self.stateA


class AlchemicalNetwork(Tokenizable):
    """A set of Transformations (edges) over ChemicalSystems (nodes)."""

    edges: list[Transformation] = Field(default_factory=list)
    nodes: list[ChemicalSystem] = Field(default_factory=list)
    name: str = ""

    @field_validator("edges")
    @classmethod
    def _sorted_edges(cls, value: list[Transformation]) -> list[Transformation]:
        # A set, stored in key order so the network key ignores insertion order.
        return sorted({t.key: t for t in value}.values(), key=lambda t: t.key)

    @model_validator(mode="after")
    def _all_nodes(self) -> AlchemicalNetwork:
        nodes = {n.key: n for n in self.nodes}
        for edge in self.edges:
            nodes.setdefault(edge.stateA.key, edge.stateA)
            nodes.setdefault(edge.stateB.key, edge.stateB)
        ordered = sorted(nodes.values(), key=lambda n: n.key)
        object.__setattr__(self, "nodes", ordered)
        return self
