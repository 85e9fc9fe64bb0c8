"""The ``processes`` model: workers started by forkserver, protocols imported by name."""

import logging
import os
import shutil
import threading
import warnings

import pytest

from alchemiscale_like.errors import ExecutionError, StoreUnavailable, ValidationError
from alchemiscale_like.execution.dag_executor import DAGExecutor
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.protocols.testing import FileProtocol, FileSettings
from tests.execution.conftest import dag_executor, make_transformation
from tests.execution.helper_protocols import (
    HELD,
    MARKER_MODULE,
    ProbeProtocol,
    ProbeSettings,
    ScriptProtocol,
    StoreOutageProtocol,
    StoreOutageSettings,
)


def probe_dag(n_units: int = 2):
    return make_transformation(ProbeProtocol(settings=ProbeSettings(n_units=n_units))).create(
        seed=0
    )


def test_helper_module_protocol_runs_without_naming_its_module(tmp_path):
    # Nothing passes the module: the executor finds it among the registered protocols.
    result = dag_executor(tmp_path, "processes", max_workers=2).execute(probe_dag())
    assert result.ok(), [f.traceback for f in result.protocol_unit_failures]
    for unit_result in result.protocol_unit_results:
        # Not forked from this process: a forkserver child's parent is the fork server.
        assert unit_result.outputs["pid"] != os.getpid()
        assert unit_result.outputs["ppid"] != os.getpid()
        # Only what was asked for is imported.
        assert unit_result.outputs["marker_imported"] is False


def test_modules_passed_explicitly_are_imported_by_the_workers(tmp_path):
    executor = dag_executor(tmp_path, "processes", max_workers=2, modules=[MARKER_MODULE])
    result = executor.execute(probe_dag())
    assert result.ok()
    assert [r.outputs["marker_imported"] for r in result.protocol_unit_results] == [True, True]


def test_pool_works_while_other_threads_hold_locks(tmp_path):
    # Like a compute service: a heartbeat-like thread runs and holds a lock during the run.
    release = threading.Event()
    holding = threading.Event()

    def hold() -> None:
        with HELD:
            holding.set()
            release.wait(timeout=300)

    others = [threading.Thread(target=hold, daemon=True)]
    others += [threading.Thread(target=release.wait, args=(300,), daemon=True) for _ in range(3)]
    for thread in others:
        thread.start()
    assert holding.wait(timeout=60)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = dag_executor(tmp_path, "processes", max_workers=2).execute(probe_dag(3))
    finally:
        release.set()
        for thread in others:
            thread.join(timeout=60)
    assert result.ok()
    # A forked child would have inherited the lock held; a fresh import has it free.
    assert [r.outputs["lock_free"] for r in result.protocol_unit_results] == [True] * 3
    assert [str(w.message) for w in caught if "fork" in str(w.message)] == []


def test_worker_that_cannot_import_a_module_reports_it(tmp_path):
    executor = dag_executor(
        tmp_path, "processes", max_workers=1, modules=["tests.execution.no_such_module"]
    )
    seen = []
    with pytest.raises(ExecutionError, match=r"cannot import protocol module.*no_such_module"):
        executor.execute(probe_dag(1), on_unit_result=lambda r, f: seen.append(r))
    assert seen == []


def test_protocol_defined_in_a_script_is_refused_before_anything_runs(tmp_path):
    dag = make_transformation(ScriptProtocol(settings=ProbeSettings(n_units=1))).create(seed=0)
    seen = []
    with pytest.raises(ExecutionError, match=r"ScriptUnit is defined in the script .*__main__"):
        dag_executor(tmp_path, "processes").execute(dag, on_unit_result=lambda r, f: seen.append(r))
    assert seen == []
    # In-process it runs: the class is right here.
    assert dag_executor(tmp_path / "inprocess").execute(dag).ok()


@pytest.mark.parametrize("name", ["__main__", "bad name", "a..b", "x" * 300])
def test_module_names_are_checked(tmp_path, name):
    with pytest.raises(ValidationError):
        dag_executor(tmp_path, "processes", modules=[name])


def test_files_of_another_node_reach_workers_through_the_parent(tmp_path):
    """Resume elsewhere: upstream files are not on this node; only the parent can download."""
    protocol = FileProtocol(settings=FileSettings(n_producers=2, n_files=3, file_size=5000))
    dag = make_transformation(protocol).create(seed=3)
    producer_keys = {u.key for u in dag.protocol_units if u.name.startswith("producer")}
    # The first node persisted its files here (a stand-in for the object store).
    kept = tmp_path / "store"

    def persist(result, files):
        for location, path in files.items():
            (kept / location).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, kept / location)

    first = dag_executor(tmp_path / "a").execute(dag, on_unit_result=persist)
    done = [r for r in first.protocol_unit_results if r.source_key in producer_keys]
    downloads = []

    def download(ref, dest):
        downloads.append(ref.location)
        shutil.copyfile(kept / ref.location, dest)

    node = tmp_path / "b"
    executor = DAGExecutor(
        UnitExecutor(node / "work", node / "checkpoints", FileFetcher(node / "cache", download)),
        model="processes",
        max_workers=2,
    )
    resumed = executor.execute(dag, previous_results=done)
    assert resumed.ok(), [f.traceback for f in resumed.protocol_unit_failures]
    (consumer,) = resumed.terminal_protocol_unit_results
    assert consumer.outputs == first.terminal_protocol_unit_results[0].outputs
    assert sorted(downloads) == sorted(ref.location for r in done for ref in r.files)


def test_results_in_flight_are_recorded_when_a_sibling_hits_a_node_error(tmp_path):
    dag = make_transformation(StoreOutageProtocol(settings=StoreOutageSettings())).create(seed=0)
    by_name = {u.name: u.key for u in dag.protocol_units}
    recorded = []
    executor = dag_executor(tmp_path, "processes", max_workers=3)
    with pytest.raises(StoreUnavailable, match="deliberate outage"):
        executor.execute(dag, on_unit_result=lambda r, f: recorded.append(r.source_key))
    # Sibling 1 finished after sibling 0 raised: its result was still handed over.
    assert by_name["sibling 1"] in recorded
    assert by_name["sibling 0"] not in recorded
    shared = tmp_path / "work" / "shared"
    finished = {p.name for p in shared.glob("finished-*")}
    assert {f"finished-{k}" for k in (1, 2)} <= finished
    assert {by_name["sibling 2"], by_name["root"]} <= set(recorded)


def test_worker_logs_reach_the_parents_loggers(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    result = dag_executor(tmp_path, "processes", max_workers=2).execute(probe_dag())
    assert result.ok()
    starts = [r for r in caplog.records if r.getMessage().startswith("event=unit_start")]
    assert sorted(r.process for r in starts) == sorted(
        r.outputs["pid"] for r in result.protocol_unit_results
    )
    assert {r.name for r in starts} == {"alchemiscale_like.execution.unit_executor"}
