"""`worker`: a unit attempt from plain data, and the answers that come back."""

import json

import pytest

from alchemiscale_like.errors import ExecutionError, IntegrityError, ValidationError
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.execution.worker import (
    SHIPPED_PROTOCOLS,
    WorkerSpec,
    outcome_from_json,
    run_unit,
    worker_modules,
)
from alchemiscale_like.models.protocol import Protocol
from alchemiscale_like.protocols.testing import FileProtocol, FileSettings
from tests.execution.conftest import make_transformation


def spec_for(tmp_path, **kwargs) -> WorkerSpec:
    executor = UnitExecutor(
        tmp_path / "work", tmp_path / "checkpoints", FileFetcher(tmp_path / "cache")
    )
    return WorkerSpec.for_executor(executor, worker_modules(), **kwargs)


def test_modules_are_the_shipped_the_given_and_the_registered_ones():
    import tests.execution.helper_protocols  # noqa: F401 -- registers ProbeProtocol & co.

    modules = worker_modules(["tests.execution.helper_marker"])
    assert modules[:2] == (SHIPPED_PROTOCOLS, "tests.execution.helper_marker")
    assert "tests.execution.helper_protocols" in modules
    assert "alchemiscale_like.protocols.testing" in modules
    # ScriptProtocol claims to live in __main__: no worker could import that.
    assert "__main__" not in modules
    assert "alchemiscale_like.models.protocol" not in modules  # the base class
    assert len(set(modules)) == len(modules)


def test_protocols_of_modules_built_at_run_time_are_left_out():
    class Generated(Protocol):
        __module__ = "generated_at_run_time"

    assert "generated_at_run_time" not in worker_modules()


def test_spec_round_trips_and_rejects_garbage(tmp_path):
    spec = spec_for(tmp_path)
    assert WorkerSpec.from_json(spec.to_json()) == spec
    for bad in ["[]", "{}", "not json", json.dumps({**json.loads(spec.to_json()), "claim": "1"})]:
        with pytest.raises(ValidationError, match="malformed worker spec"):
            WorkerSpec.from_json(bad)


def test_consumer_runs_from_json_and_reads_the_cache(tmp_path):
    dag = make_transformation(FileProtocol(settings=FileSettings(n_producers=1))).create(seed=1)
    producer, consumer = dag.ordered_units()
    spec = spec_for(tmp_path)
    produced = outcome_from_json(run_unit(spec.to_json(), producer.to_json(), 1))
    assert produced.result.ok()
    assert set(produced.files) == {ref.location for ref in produced.result.files}
    answer = run_unit(spec.to_json(), consumer.to_json(), 1, produced.result.to_json())
    consumed = outcome_from_json(answer).result
    assert consumed.ok()
    assert set(consumed.outputs["digests"]) == {ref.name for ref in produced.result.files}


def test_damaged_input_comes_back_as_an_integrity_error(tmp_path):
    dag = make_transformation(FileProtocol(settings=FileSettings(n_producers=1))).create(seed=1)
    producer, consumer = dag.ordered_units()
    spec = spec_for(tmp_path)
    produced = outcome_from_json(run_unit(spec.to_json(), producer.to_json(), 1)).result
    ref = produced.files[0]
    (cached,) = (tmp_path / "cache" / ref.sha256).iterdir()
    cached.unlink()  # it is a hard link of the produced file: replace, do not overwrite
    cached.write_bytes(b"damaged")
    answer = run_unit(spec.to_json(), consumer.to_json(), 1, produced.to_json())
    assert json.loads(answer)["error"]["type"] == "IntegrityError"
    with pytest.raises(IntegrityError, match="cached copy has sha256"):
        outcome_from_json(answer)


def test_worker_that_does_not_share_the_folder_refuses(tmp_path):
    dag = make_transformation(FileProtocol(settings=FileSettings(n_producers=1))).create(seed=1)
    spec = spec_for(tmp_path, shared_probe=".shared-probe-missing")
    answer = run_unit(spec.to_json(), dag.ordered_units()[0].to_json(), 1)
    with pytest.raises(ExecutionError, match="needs a filesystem shared by"):
        outcome_from_json(answer)
    assert not (tmp_path / "work" / "permanent").exists()


def test_unknown_error_types_and_bad_answers_become_execution_errors():
    unknown = json.dumps({"error": {"type": "SomethingElse", "message": "boom"}})
    with pytest.raises(ExecutionError, match="worker error SomethingElse: boom"):
        outcome_from_json(unknown)
    for bad in ["", "[]", "{}", json.dumps({"result": "not a chain", "files": {}})]:
        with pytest.raises(ExecutionError, match="malformed answer"):
            outcome_from_json(bad)
