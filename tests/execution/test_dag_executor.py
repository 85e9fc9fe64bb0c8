import pytest

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.protocols import HarmonicTIProtocol, HarmonicTISettings
from alchemiscale_like.protocols.testing import (
    FailingProtocol,
    FailingSettings,
    FileProtocol,
    FileSettings,
    SleepProtocol,
    SleepSettings,
)
from tests.execution.conftest import dag_executor, make_transformation


@pytest.mark.parametrize("model", ["inprocess", "processes"])
def test_callback_runs_before_any_dependant_starts(tmp_path, model):
    dag = make_transformation(
        SleepProtocol(settings=SleepSettings(n_units=6, layout="fanout"))
    ).create(seed=1)
    root_key = dag.ordered_units()[0].key
    events = []

    def on_result(result, files):
        events.append(result.source_key)

    dag_result = dag_executor(tmp_path, model, max_workers=2).execute(dag, on_unit_result=on_result)
    assert dag_result.ok()
    assert events[0] == root_key
    assert sorted(events) == sorted(u.key for u in dag.protocol_units)
    # Dependants saw the root's result as their input.
    for result in dag_result.protocol_unit_results:
        if result.source_key != root_key:
            assert result.outputs["upstream"] == [0]


def test_resume_skips_completed_units(tmp_path):
    dag = make_transformation(SleepProtocol(settings=SleepSettings(n_units=4))).create(seed=2)
    first = dag_executor(tmp_path / "a").execute(dag)
    done = [
        r
        for r in first.protocol_unit_results
        if r.source_key in {u.key for u in dag.ordered_units()[:2]}
    ]
    executed = []
    resumed = dag_executor(tmp_path / "b").execute(
        dag, previous_results=done, on_unit_result=lambda r, f: executed.append(r.source_key)
    )
    assert resumed.ok()
    assert executed == [u.key for u in dag.ordered_units()[2:]]
    assert not (tmp_path / "b" / "work" / "shared" / "ran-0").exists()
    assert (tmp_path / "b" / "work" / "shared" / "ran-3").exists()
    outputs = {r.source_key: r.outputs for r in resumed.unit_to_result().values()}
    assert outputs == {r.source_key: r.outputs for r in first.unit_to_result().values()}


def test_retries_continue_attempt_numbers(tmp_path):
    protocol = FailingProtocol(settings=FailingSettings(n_units=3, fail_on={"1": [1, 2]}))
    dag = make_transformation(protocol).create(seed=0)
    result = dag_executor(tmp_path, max_retries=2).execute(dag)
    assert result.ok()
    unit1 = dag.ordered_units()[1].key
    attempts = result.unit_to_all_results()[unit1]
    assert [(r.attempt, r.ok()) for r in attempts] == [(1, False), (2, False), (3, True)]
    assert attempts[0].exception == ("DeliberateFailure", "deliberate failure: unit 1 attempt 1")


@pytest.mark.parametrize("model", ["inprocess", "processes"])
def test_exhausted_retries_stop_dependants(tmp_path, model):
    protocol = FailingProtocol(settings=FailingSettings(n_units=3, fail_on={"1": [1, 2, 3]}))
    dag = make_transformation(protocol).create(seed=0)
    result = dag_executor(tmp_path, model, max_retries=1).execute(dag)
    assert not result.ok()
    units = dag.ordered_units()
    by_unit = result.unit_to_all_results()
    assert [r.ok() for r in by_unit[units[0].key]] == [True]
    assert [r.attempt for r in by_unit[units[1].key]] == [1, 2]
    assert by_unit[units[2].key] == []


def test_resume_after_failure_counts_attempts_on(tmp_path):
    protocol = FailingProtocol(settings=FailingSettings(n_units=2, fail_on={"1": [1]}))
    dag = make_transformation(protocol).create(seed=0)
    first = dag_executor(tmp_path / "a").execute(dag)
    assert not first.ok()
    second = dag_executor(tmp_path / "b").execute(dag, previous_results=first.protocol_unit_results)
    assert second.ok()
    assert second.unit_to_result()[dag.ordered_units()[1].key].attempt == 2


def test_should_stop_halts_between_units(tmp_path):
    dag = make_transformation(SleepProtocol(settings=SleepSettings(n_units=5))).create(seed=0)
    ran = []
    result = dag_executor(tmp_path).execute(
        dag, on_unit_result=lambda r, f: ran.append(r), should_stop=lambda: len(ran) >= 2
    )
    assert len(ran) == 2
    assert not result.ok()


def test_callback_error_propagates_and_stops(tmp_path):
    dag = make_transformation(SleepProtocol(settings=SleepSettings(n_units=3))).create(seed=0)

    def refuse(result, files):
        raise RuntimeError("claim lost")

    with pytest.raises(RuntimeError, match="claim lost"):
        dag_executor(tmp_path, "processes", max_workers=2).execute(dag, on_unit_result=refuse)


def test_results_for_unknown_units_are_refused(tmp_path):
    dag_a = make_transformation(SleepProtocol(settings=SleepSettings(n_units=1))).create(seed=0)
    dag_b = make_transformation(SleepProtocol(settings=SleepSettings(n_units=1))).create(seed=1)
    other = dag_executor(tmp_path / "a").execute(dag_b).protocol_unit_results
    with pytest.raises(ValidationError, match="unknown unit"):
        dag_executor(tmp_path / "b").execute(dag_a, previous_results=other)


def test_unknown_execution_model_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="execution model"):
        dag_executor(tmp_path, "threads")


def test_processes_and_inprocess_give_identical_results(tmp_path):
    settings = HarmonicTISettings(
        n_lambda=3,
        n_repeats=2,
        n_walkers=16,
        n_steps=300,
        n_equilibration=50,
        checkpoint_interval=100,
    )
    dag = make_transformation(HarmonicTIProtocol(settings=settings)).create(seed=11)
    serial = dag_executor(tmp_path / "s").execute(dag)
    parallel = dag_executor(tmp_path / "p", "processes", max_workers=2).execute(dag)
    assert serial.ok()
    assert parallel.ok()
    assert {k: r.outputs for k, r in serial.unit_to_result().items()} == {
        k: r.outputs for k, r in parallel.unit_to_result().items()
    }


def test_files_flow_between_processes(tmp_path):
    protocol = FileProtocol(settings=FileSettings(n_producers=3, n_files=4, file_size=3000))
    dag = make_transformation(protocol).create(seed=4)
    result = dag_executor(tmp_path, "processes", max_workers=2).execute(dag)
    assert result.ok()
    producers = [r for r in result.protocol_unit_results if "producer" in r.outputs]
    expected = {ref.name: ref.sha256 for r in producers for ref in r.outputs["files"]}
    (consumer,) = result.terminal_protocol_unit_results
    assert consumer.outputs["digests"] == expected
    assert len(expected) == 12
