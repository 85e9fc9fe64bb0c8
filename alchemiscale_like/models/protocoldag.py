"""`ProtocolDAG` (the units of one Task, with their dependencies) and `ProtocolDAGResult`."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import model_validator

from alchemiscale_like.errors import DAGError
from alchemiscale_like.models.protocolunit import (
    ProtocolUnit,
    ProtocolUnitFailure,
    ProtocolUnitResult,
)
from alchemiscale_like.models.tokenization import Tokenizable


def topological_order(units: Sequence[ProtocolUnit]) -> list[ProtocolUnit]:
    """Order ``units`` so every unit comes after its dependencies.

    Ties keep the given order, so the result is deterministic.

    Raises:
        DAGError: duplicate unit keys, a dependency outside ``units``, or a cycle.
    """
    by_key: dict[str, ProtocolUnit] = {}
    for unit in units:
        if unit.key in by_key:
            raise DAGError(f"unit key {unit.key} appears twice in the DAG")
        by_key[unit.key] = unit
    pending = {key: {dep.key for dep in unit.upstream_units()} for key, unit in by_key.items()}
    for key, deps in pending.items():
        missing = deps - by_key.keys()
        if missing:
            raise DAGError(f"unit {key} depends on {sorted(missing)}, which are not in the DAG")
    ordered: list[ProtocolUnit] = []
    done: set[str] = set()
    while len(ordered) < len(by_key):
        ready = [k for k, deps in pending.items() if k not in done and deps <= done]
        if not ready:
            stuck = sorted(k for k in pending if k not in done)
            raise DAGError(f"the DAG has a cycle among {stuck}")
        for key in ready:
            done.add(key)
            ordered.append(by_key[key])
    return ordered


class ProtocolDAG(Tokenizable):
    """The units a Protocol created for one Task, in topological order."""

    name: str = ""
    protocol_units: list[ProtocolUnit]
    transformation_key: str | None = None
    extends_key: str | None = None

    @model_validator(mode="after")
    def _check_graph(self) -> ProtocolDAG:
        if not self.protocol_units:
            raise DAGError("a ProtocolDAG needs at least one unit")
        topological_order(self.protocol_units)
        return self

    @property
    def graph(self) -> dict[str, list[str]]:
        """``unit key -> keys of the units it depends on``."""
        return {u.key: [d.key for d in u.upstream_units()] for u in self.protocol_units}

    def ordered_units(self) -> list[ProtocolUnit]:
        """Units with every dependency before its dependants."""
        return topological_order(self.protocol_units)

    def terminal_units(self) -> list[ProtocolUnit]:
        """Units no other unit depends on."""
        used = {dep for deps in self.graph.values() for dep in deps}
        return [u for u in self.protocol_units if u.key not in used]


class ProtocolDAGResult(Tokenizable):
    """Every unit result of one execution of a ProtocolDAG, failures included."""

    name: str = ""
    protocol_units: list[ProtocolUnit]
    protocol_unit_results: list[ProtocolUnitResult]
    transformation_key: str | None = None
    extends_key: str | None = None
    dag_key: str | None = None

    def ok(self) -> bool:
        """True if every unit has a successful result."""
        done = self.unit_to_result()
        return all(u.key in done for u in self.protocol_units)

    def unit_to_result(self) -> dict[str, ProtocolUnitResult]:
        """``unit key -> its successful result`` (units without one are absent)."""
        return {r.source_key: r for r in self.protocol_unit_results if r.ok()}

    def unit_to_all_results(self) -> dict[str, list[ProtocolUnitResult]]:
        """``unit key -> every attempt's result``, in attempt order."""
        out: dict[str, list[ProtocolUnitResult]] = {u.key: [] for u in self.protocol_units}
        for result in sorted(self.protocol_unit_results, key=lambda r: r.attempt):
            out.setdefault(result.source_key, []).append(result)
        return out

    @property
    def protocol_unit_failures(self) -> list[ProtocolUnitFailure]:
        """Every failed attempt."""
        return [r for r in self.protocol_unit_results if isinstance(r, ProtocolUnitFailure)]

    @property
    def terminal_protocol_unit_results(self) -> list[ProtocolUnitResult]:
        """Successful results of the units nothing depends on."""
        used = {d.key for u in self.protocol_units for d in u.upstream_units()}
        done = self.unit_to_result()
        return [done[u.key] for u in self.protocol_units if u.key not in used and u.key in done]
