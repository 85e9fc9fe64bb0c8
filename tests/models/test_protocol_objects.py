import datetime as dt

import pytest

from alchemiscale_like.errors import DAGError, ValidationError
from alchemiscale_like.models import (
    NonTransformation,
    ProtocolDAG,
    ProtocolDAGResult,
    ProtocolUnit,
    ProtocolUnitFailure,
    ProtocolUnitResult,
    Transformation,
)
from alchemiscale_like.models.protocoldag import topological_order
from alchemiscale_like.protocols.testing import SleepProtocol, SleepSettings, SleepUnit

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def unit(index: int, *upstream: ProtocolUnit) -> SleepUnit:
    return SleepUnit(
        name=f"u{index}",
        inputs={
            "index": index,
            "seconds": 0,
            "seed": 0,
            "upstream": list(upstream),
        },
    )


def test_units_depend_on_units_among_inputs():
    a = unit(0)
    b = unit(1, a)
    c = unit(2, a, b)
    assert c.upstream_units() == [a, b]
    dag = ProtocolDAG(protocol_units=[c, a, b])
    assert [u.key for u in dag.ordered_units()] == [a.key, b.key, c.key]
    assert dag.graph[c.key] == [a.key, b.key]
    assert dag.terminal_units() == [c]


def test_missing_dependency_and_duplicates_are_refused():
    a = unit(0)
    b = unit(1, a)
    with pytest.raises(DAGError, match="not in the DAG"):
        ProtocolDAG(protocol_units=[b])
    with pytest.raises(DAGError, match="twice"):
        topological_order([a, unit(0)])


class _CyclicUnit(ProtocolUnit):
    """Test double: content-addressed units cannot form a cycle, so fake the edges."""

    peers: dict[str, list[str]] = {}

    def upstream_units(self) -> list[ProtocolUnit]:
        return [u for u in _CYCLE if u.name in self.peers.get(self.name, [])]


_CYCLE: list[_CyclicUnit] = []


def test_cycle_is_refused():
    x = _CyclicUnit(name="x", peers={"x": ["y"], "y": ["x"]})
    y = _CyclicUnit(name="y", peers={"x": ["y"], "y": ["x"]})
    _CYCLE[:] = [x, y]
    try:
        with pytest.raises(DAGError, match="cycle"):
            topological_order([x, y])
    finally:
        _CYCLE.clear()


def test_empty_dag_is_refused():
    with pytest.raises(DAGError, match="at least one unit"):
        ProtocolDAG(protocol_units=[])


def test_dag_survives_json_round_trip(system_a, system_b):
    protocol = SleepProtocol(settings=SleepSettings(n_units=4, layout="fanout"))
    transformation = Transformation(stateA=system_a, stateB=system_b, protocol=protocol)
    dag = transformation.create(seed=5)
    again = ProtocolDAG.from_json(dag.to_json())
    assert again.key == dag.key
    assert again.transformation_key == transformation.key
    assert [u.key for u in again.ordered_units()] == [u.key for u in dag.ordered_units()]
    assert transformation.create(seed=5).key == dag.key
    assert transformation.create(seed=6).key != dag.key


def _ok(u: ProtocolUnit, attempt: int = 1, **outputs) -> ProtocolUnitResult:
    return ProtocolUnitResult(
        source_key=u.key, attempt=attempt, outputs=outputs, start_time=NOW, end_time=NOW
    )


def test_dag_result_maps_and_terminal_results():
    (a,) = [unit(0)]
    b = unit(1, a)
    failure = ProtocolUnitFailure(
        source_key=b.key,
        attempt=1,
        exception=("RuntimeError", "boom"),
        traceback="tb",
        start_time=NOW,
        end_time=NOW,
    )
    partial = ProtocolDAGResult(protocol_units=[a, b], protocol_unit_results=[_ok(a), failure])
    assert not partial.ok()
    assert partial.protocol_unit_failures == [failure]
    assert not failure.ok()
    assert partial.terminal_protocol_unit_results == []
    complete = ProtocolDAGResult(
        protocol_units=[a, b], protocol_unit_results=[_ok(a), failure, _ok(b, attempt=2, x=1)]
    )
    assert complete.ok()
    assert complete.unit_to_result()[b.key].attempt == 2
    assert [r.attempt for r in complete.unit_to_all_results()[b.key]] == [1, 2]
    assert [r.outputs for r in complete.terminal_protocol_unit_results] == [{"x": 1}]
    again = ProtocolDAGResult.from_json(complete.to_json())
    assert again.key == complete.key
    assert isinstance(again.protocol_unit_results[1], ProtocolUnitFailure)
    assert again.protocol_unit_results[1].exception == ("RuntimeError", "boom")


def test_non_transformation_has_one_system(system_a, system_b):
    protocol = SleepProtocol(settings=SleepSettings())
    nt = NonTransformation(system=system_a, protocol=protocol, name="md")
    assert nt.system == system_a
    assert NonTransformation.from_json(nt.to_json()) == nt
    with pytest.raises(ValidationError, match="one system"):
        NonTransformation(stateA=system_a, stateB=system_b, protocol=protocol)


def test_extends_must_come_from_the_same_transformation(system_a, system_b):
    protocol = SleepProtocol(settings=SleepSettings(n_units=1))
    t1 = Transformation(stateA=system_a, stateB=system_b, protocol=protocol)
    t2 = Transformation(stateA=system_b, stateB=system_a, protocol=protocol)
    dag = t2.create(seed=1)
    foreign = ProtocolDAGResult(
        protocol_units=dag.protocol_units, protocol_unit_results=[], transformation_key=t2.key
    )
    with pytest.raises(ValidationError, match="same Transformation"):
        t1.create(extends=foreign)
