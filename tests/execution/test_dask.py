"""The ``dask`` model on a real LocalCluster of 2 worker processes."""

import contextlib
import ipaddress
import json
import logging
import socket
import subprocess
import sys

import psutil
import pytest
from distributed import LocalCluster
from distributed.diagnostics.plugin import SchedulerPlugin

from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.errors import ValidationError
from alchemiscale_like.execution import worker
from alchemiscale_like.protocols import HarmonicTIProtocol, HarmonicTISettings
from alchemiscale_like.protocols.examples import harmonic_network
from alchemiscale_like.protocols.testing import (
    FailingProtocol,
    FailingSettings,
    FileProtocol,
    FileSettings,
    SleepProtocol,
    SleepSettings,
)
from tests.execution.conftest import dag_executor, make_transformation
from tests.execution.helper_protocols import MARKER_MODULE, ProbeProtocol, ProbeSettings

SMALL_TI = HarmonicTISettings(
    n_lambda=3, n_repeats=2, n_walkers=16, n_steps=300, n_equilibration=50, checkpoint_interval=100
)


class SubmittedTasks(SchedulerPlugin):
    """Records what each submitted task is, as the scheduler holds it."""

    def __init__(self) -> None:
        self.tasks: list[tuple[object, tuple, dict]] = []

    def update_graph(self, scheduler, *, tasks, **kwargs) -> None:
        for key in tasks:
            spec = scheduler.tasks[key].run_spec
            self.tasks.append((spec.func, tuple(spec.args), dict(spec.kwargs)))


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ) as local:
        local.submitted = SubmittedTasks()
        local.scheduler.add_plugin(local.submitted)
        yield local


def on_cluster(tmp_path, cluster, **kwargs):
    return dag_executor(tmp_path, "dask", scheduler=cluster.scheduler_address, **kwargs)


def test_own_local_cluster_gives_the_inprocess_results_and_is_closed(tmp_path):
    dag = make_transformation(HarmonicTIProtocol(settings=SMALL_TI)).create(seed=11)
    serial = dag_executor(tmp_path / "s").execute(dag)
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    listening = set()

    def look_at_sockets(result, files):
        # Runs in this process while the cluster is up. Only the cluster's own processes
        # (and this one) count: servers other tests of this worker left running (a
        # browser's driver listens on localhost, ::1 included) are not the cluster's.
        started = [
            p for p in psutil.Process().children(recursive=True) if p.pid not in children_before
        ]
        for process in [psutil.Process(), *started]:
            for conn in process.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    listening.add(conn.laddr.ip)

    # Dask's default HTTP port is taken (as by another cluster on the node): no collision.
    with socket.socket() as taken:
        with contextlib.suppress(OSError):  # already taken by someone else: just as good
            taken.bind(("127.0.0.1", 8787))
            taken.listen()
        on_dask = dag_executor(tmp_path / "d", "dask").execute(dag, on_unit_result=look_at_sockets)
    assert serial.ok()
    assert on_dask.ok(), [f.traceback for f in on_dask.protocol_unit_failures]
    assert {k: r.outputs for k, r in serial.unit_to_result().items()} == {
        k: r.outputs for k, r in on_dask.unit_to_result().items()
    }
    # A Java server in this process tree would report IPv4-mapped loopback (::ffff:127.0.0.1).
    assert listening
    assert all(_is_loopback(ip) for ip in listening), listening
    # The LocalCluster's worker processes are gone with it. (multiprocessing's resource
    # tracker, started with the first spawned process, lives as long as this process.)
    new = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in children_before
        and "multiprocessing.resource_tracker" not in " ".join(p.cmdline())
    ]
    _, alive = psutil.wait_procs(new, timeout=60)
    assert [p.cmdline() for p in alive] == []


def test_files_flow_between_dask_workers(tmp_path, cluster):
    protocol = FileProtocol(settings=FileSettings(n_producers=3, n_files=4, file_size=3000))
    dag = make_transformation(protocol).create(seed=4)
    result = on_cluster(tmp_path, cluster).execute(dag)
    assert result.ok(), [f.traceback for f in result.protocol_unit_failures]
    producers = [r for r in result.protocol_unit_results if "producer" in r.outputs]
    expected = {ref.name: ref.sha256 for r in producers for ref in r.outputs["files"]}
    (consumer,) = result.terminal_protocol_unit_results
    assert consumer.outputs["digests"] == expected
    assert len(expected) == 12


def test_retries_on_dask_continue_attempt_numbers(tmp_path, cluster):
    protocol = FailingProtocol(settings=FailingSettings(n_units=3, fail_on={"1": [1, 2]}))
    dag = make_transformation(protocol).create(seed=0)
    result = on_cluster(tmp_path, cluster, max_retries=2).execute(dag)
    assert result.ok()
    attempts = result.unit_to_all_results()[dag.ordered_units()[1].key]
    assert [(r.attempt, r.ok()) for r in attempts] == [(1, False), (2, False), (3, True)]
    assert attempts[0].exception == ("DeliberateFailure", "deliberate failure: unit 1 attempt 1")


def test_exhausted_retries_on_dask_stop_dependants(tmp_path, cluster):
    protocol = FailingProtocol(settings=FailingSettings(n_units=3, fail_on={"1": [1, 2, 3]}))
    dag = make_transformation(protocol).create(seed=0)
    result = on_cluster(tmp_path, cluster, max_retries=1).execute(dag)
    assert not result.ok()
    by_unit = result.unit_to_all_results()
    units = dag.ordered_units()
    assert [r.attempt for r in by_unit[units[1].key]] == [1, 2]
    assert by_unit[units[2].key] == []


def test_callback_runs_before_any_dependant_starts_on_dask(tmp_path, cluster):
    dag = make_transformation(
        SleepProtocol(settings=SleepSettings(n_units=5, layout="fanout"))
    ).create(seed=1)
    root_key = dag.ordered_units()[0].key
    events = []
    result = on_cluster(tmp_path, cluster).execute(
        dag, on_unit_result=lambda r, f: events.append(r.source_key)
    )
    assert result.ok()
    assert events[0] == root_key
    assert sorted(events) == sorted(u.key for u in dag.protocol_units)
    dependants = [r for r in result.protocol_unit_results if r.source_key != root_key]
    assert [r.outputs["upstream"] for r in dependants] == [[0]] * 4


def test_only_text_and_numbers_reach_the_scheduler(tmp_path, cluster):
    protocol = FileProtocol(settings=FileSettings(n_producers=2, n_files=1, file_size=10))
    dag = make_transformation(protocol).create(seed=5)
    cluster.submitted.tasks.clear()
    assert on_cluster(tmp_path, cluster).execute(dag).ok()
    submitted = cluster.submitted.tasks
    assert len(submitted) == len(dag.protocol_units)
    for func, args, kwargs in submitted:
        # A module-level function of this package, not user code or a bound executor.
        assert func is worker.run_unit
        assert kwargs == {}
        assert {type(a) for a in args} <= {str, int}
    # The consumer got its two upstream results as keyed-chain JSON text.
    longest = max(submitted, key=lambda task: len(task[1]))
    assert len(longest[1]) == 3 + 2
    assert all(isinstance(json.loads(text), list) for text in longest[1][3:])


def test_dask_workers_import_the_module_list(tmp_path, cluster):
    dag = make_transformation(ProbeProtocol(settings=ProbeSettings(n_units=2))).create(seed=0)
    plain = on_cluster(tmp_path / "a", cluster).execute(dag)
    assert plain.ok(), [f.traceback for f in plain.protocol_unit_failures]
    assert [r.outputs["marker_imported"] for r in plain.protocol_unit_results] == [False, False]
    marked = on_cluster(tmp_path / "b", cluster, modules=[MARKER_MODULE]).execute(dag)
    assert [r.outputs["marker_imported"] for r in marked.protocol_unit_results] == [True, True]


@pytest.mark.parametrize(
    ("model", "scheduler"),
    [("processes", "tcp://127.0.0.1:8786"), ("dask", "127.0.0.1:8786"), ("dask", "tcp://a b")],
)
def test_bad_scheduler_options_are_refused(tmp_path, model, scheduler):
    with pytest.raises(ValidationError, match="scheduler"):
        dag_executor(tmp_path, model, scheduler=scheduler)


def test_compute_settings_take_a_dask_scheduler():
    base = {"api_url": "http://127.0.0.1:1", "identifier": "node", "key": "k"}
    settings = ComputeServiceSettings.load(
        None, **base, execution="dask", scheduler="tcp://127.0.0.1:8786"
    )
    assert settings.scheduler == "tcp://127.0.0.1:8786"
    with pytest.raises(ValidationError, match="only used with 'execution: dask'"):
        ComputeServiceSettings.load(None, **base, scheduler="tcp://127.0.0.1:8786")


def test_cli_run_on_a_dask_scheduler(tmp_path, cluster):
    network = harmonic_network(settings=SMALL_TI)
    path = tmp_path / "network.json"
    path.write_text(network.to_json())

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "alchemiscale_like", "run", str(path), "--seed", "3", *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )

    inprocess = run("--out", str(tmp_path / "a"))
    address = cluster.scheduler_address
    on_dask = run("--out", str(tmp_path / "b"), "--execution", "dask", "--scheduler", address)
    assert inprocess.returncode == 0, inprocess.stderr
    assert on_dask.returncode == 0, on_dask.stderr
    assert on_dask.stdout == inprocess.stdout
    refused = run("--out", str(tmp_path / "c"), "--scheduler", address)
    assert refused.returncode != 0
    assert "only used by the 'dask' model" in refused.stderr
    assert not (tmp_path / "c").exists()


def test_dask_worker_logs_reach_the_parents_loggers(tmp_path, cluster, caplog):
    caplog.set_level(logging.INFO)
    dag = make_transformation(ProbeProtocol(settings=ProbeSettings(n_units=2))).create(seed=0)
    result = on_cluster(tmp_path, cluster).execute(dag)
    assert result.ok()
    ends = [r for r in caplog.records if r.getMessage().startswith("event=unit_end")]
    assert sorted(r.process for r in ends) == sorted(
        r.outputs["pid"] for r in result.protocol_unit_results
    )


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address) == ipaddress.ip_address("127.0.0.1")
