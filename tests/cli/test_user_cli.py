"""The user verbs (``network``, ``status``, ``tasks``, ``results``, ``files``) over real HTTP.

One deployment (both APIs under uvicorn on the worker's Neo4j and S3Proxy) serves the
whole module. Alice submits the ``example`` HarmonicTI network with the CLI; a compute
service, run in this process, completes one Task on its first transformation, and the
second gets one Task that nobody actions. The ``tasks`` verbs change only a separate
small network, so the counts the other tests expect stay put. Commands run through
click's runner (the installed script's command objects); one test runs the real
``python -m alchemiscale_like`` for exit codes and tracebacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j
import pytest
from pydantic import SecretStr

from alchemiscale_like import ComputeClient, UserClient
from alchemiscale_like.client.config import ClientConfig, write_client_config
from alchemiscale_like.client.user import ResultFileInfo
from alchemiscale_like.compute.service import SynchronousComputeService
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.protocols.harmonic_ti import analytic_free_energy
from tests.cli.runner import Done, run_cli
from tests.server.conftest import KEYS, SCOPE, Deployment, module_deployment
from tests.server.helpers import file_network

__all__ = ["module_deployment"]

pytestmark = pytest.mark.xdist_group("user_cli")

UNKNOWN_NETWORK = f"AlchemicalNetwork-{'0' * 32}-{SCOPE}"


@dataclass(frozen=True)
class World:
    """What the module's tests share: alice's environment and her objects."""

    deployment: Deployment
    env: dict[str, str]
    workdir: Path
    submitted: Done
    network: ScopedKey
    done_tf: ScopedKey
    idle_tf: ScopedKey
    done_task: ScopedKey
    idle_task: ScopedKey
    names: dict[ScopedKey, str]
    files: list[ResultFileInfo]
    scratch_network: ScopedKey
    scratch_tf: ScopedKey

    def run(self, *args: str, **env: str) -> Done:
        """``alchemiscale-like ARGS`` as alice (``env`` overrides her environment)."""
        return run_cli(list(args), {**self.env, **env})


def alice_env(deployment: Deployment, workdir: Path) -> dict[str, str]:
    return {
        "ALCHEMISCALE_LIKE_API_URL": deployment.user_url,
        "ALCHEMISCALE_LIKE_IDENTIFIER": "alice",
        "ALCHEMISCALE_LIKE_KEY": KEYS["alice"],
        # Never the developer's own config file.
        "ALCHEMISCALE_LIKE_CONFIG": "",
        "XDG_CONFIG_HOME": str(workdir / "no-config"),
    }


def complete_actioned_tasks(deployment: Deployment, scratch: Path) -> int:
    """Run a compute service in this process until no actioned task is left."""
    settings = ComputeServiceSettings.load(
        None,
        api_url=deployment.compute_url,
        identifier="worker",
        key=KEYS["worker"],
        scratch_dir=scratch,
        once=True,
        idle_sleep=0.05,
    )
    client = ComputeClient(
        deployment.compute_url, "worker", KEYS["worker"], service_id="worker~cli", backoff=0.01
    )
    service = SynchronousComputeService(settings, client)
    assert service.run() == 0
    return service.tasks_done


@pytest.fixture(scope="module")
def world(module_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> World:
    workdir = tmp_path_factory.mktemp("user-cli")
    env = alice_env(module_deployment, workdir)
    example = workdir / "network.json"
    made = run_cli(["example", str(example), "--n-steps", "200", "--n-repeats", "1"], {})
    assert made.returncode == 0, made.stderr
    submitted = run_cli(["network", "submit", str(example), "--scope", str(SCOPE)], env)
    assert submitted.returncode == 0, submitted.stderr
    with UserClient(module_deployment.user_url, "alice", KEYS["alice"], backoff=0.01) as alice:
        (network,) = alice.query_networks()
        done_tf, idle_tf = sorted(alice.get_network_transformations(network))
        (done_task,) = alice.create_tasks(done_tf)
        alice.action_tasks([done_task], network)
        (idle_task,) = alice.create_tasks(idle_tf)
        assert complete_actioned_tasks(module_deployment, workdir / "scratch") == 1
        names = {tf: alice.get_transformation(tf).name for tf in (done_tf, idle_tf)}
        files = sorted(alice.list_result_files(done_task), key=lambda f: f.name)
        scratch_network = alice.create_network(file_network("scratch"), SCOPE)
        (scratch_tf,) = alice.get_network_transformations(scratch_network)
    return World(
        module_deployment,
        env,
        workdir,
        submitted,
        network,
        done_tf,
        idle_tf,
        done_task,
        idle_task,
        names,
        files,
        scratch_network,
        scratch_tf,
    )


def ok(done: Done) -> Done:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done


def as_json(done: Done) -> Any:
    return json.loads(ok(done).stdout)


def rows(done: Done) -> list[list[str]]:
    """The words of each line of a table (the header first)."""
    return [line.split() for line in ok(done).stdout.splitlines() if line.strip()]


def failed(done: Done, code: int, *texts: str) -> str:
    """Assert exit status ``code`` with one line of error on stderr containing ``texts``."""
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    if code == 1:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert last.startswith("Error: ")
    assert "Traceback" not in done.stderr
    for text in texts:
        assert text in last, last
    return last


# -- networks and status --------------------------------------------------------------------


def test_network_submit_prints_the_key_and_is_idempotent(world: World) -> None:
    lines = rows(world.submitted)
    assert lines[0][:2] == ["submitted", str(world.network)]
    assert lines[1] == ["TRANSFORMATION", "NAME"]
    expected = sorted([str(tf), world.names[tf]] for tf in (world.done_tf, world.idle_tf))
    assert sorted(lines[2:]) == expected
    path = str(world.workdir / "network.json")
    again = as_json(world.run("network", "submit", path, "--scope", str(SCOPE), "--json"))
    assert isinstance(again, dict)
    assert again["network"] == str(world.network)
    assert again["name"] == "harmonic-example"
    found = sorted([e["transformation"], e["name"]] for e in again["transformations"])
    assert found == expected


def test_network_submit_refuses_a_scope_alice_may_not_write(world: World) -> None:
    path = str(world.workdir / "network.json")
    failed(
        world.run("network", "submit", path, "--scope", "rival-campaign-project"),
        1,
        "Error: Forbidden: ",
    )
    failed(world.run("network", "submit", path, "--scope", "org-*-*"), 2, "specific")
    garbage = world.workdir / "garbage.json"
    garbage.write_text("not json")
    failed(
        world.run("network", "submit", str(garbage), "--scope", str(SCOPE)),
        1,
        "Error: ValidationError: malformed JSON",
    )
    edge = world.workdir / "edge.json"
    edge.write_text(file_network("edge").edges[0].to_json())
    failed(
        world.run("network", "submit", str(edge), "--scope", str(SCOPE)),
        1,
        "holds a Transformation, not an AlchemicalNetwork",
    )


def test_network_list_shows_alices_networks(world: World) -> None:
    networks = sorted([str(world.network), str(world.scratch_network)])
    assert rows(world.run("network", "list")) == [
        ["NETWORK", "STATE"],
        *([sk, "active"] for sk in networks),
    ]
    listed = as_json(world.run("network", "list", "--state", "all", "--json"))
    assert listed == [{"network": sk, "state": "active"} for sk in networks]
    assert as_json(world.run("network", "list", "--name", "scratch", "--json")) == [
        {"network": str(world.scratch_network), "state": "active"}
    ]
    assert as_json(world.run("network", "list", "--state", "inactive", "--json")) == []
    bob = world.run(
        "network",
        "list",
        "--json",
        ALCHEMISCALE_LIKE_IDENTIFIER="bob",
        ALCHEMISCALE_LIKE_KEY=KEYS["bob"],
    )
    assert as_json(bob) == []


def test_status_counts_the_network_and_each_transformation(world: World) -> None:
    zeros = {"waiting": 0, "running": 0, "complete": 0, "error": 0, "invalid": 0, "deleted": 0}
    network_counts = {**zeros, "waiting": 1, "complete": 1, "total": 2}
    assert rows(world.run("status", str(world.network))) == [
        ["STATUS", "TASKS"],
        *([name, str(count)] for name, count in network_counts.items()),
    ]
    answer = as_json(world.run("status", str(world.network), "--transformations", "--json"))
    assert answer == {
        "network": str(world.network),
        "status": network_counts,
        "transformations": [
            {
                "transformation": str(world.done_tf),
                "name": world.names[world.done_tf],
                "status": {**zeros, "complete": 1, "total": 1},
            },
            {
                "transformation": str(world.idle_tf),
                "name": world.names[world.idle_tf],
                "status": {**zeros, "waiting": 1, "total": 1},
            },
        ],
    }
    table = rows(world.run("status", str(world.network), "--transformations"))
    assert table[len(network_counts) + 1 :] == [
        ["TRANSFORMATION", "NAME", *(name.upper() for name in network_counts)],
        [str(world.done_tf), world.names[world.done_tf], "0", "0", "1", "0", "0", "0", "1"],
        [str(world.idle_tf), world.names[world.idle_tf], "1", "0", "0", "0", "0", "0", "1"],
    ]
    one = as_json(world.run("status", str(world.idle_tf), "--json"))
    assert one == {
        "transformation": str(world.idle_tf),
        "status": {**zeros, "waiting": 1, "total": 1},
    }
    failed(world.run("status", str(world.idle_tf), "--transformations"), 2, "needs a NETWORK")


# -- results and files ------------------------------------------------------------------------


def kilobytes(size: int) -> list[str]:
    """How the tables show a size of 1 to 999 kB."""
    assert 1000 <= size < 999_950
    return [f"{size / 1000:.1f}", "kB"]


def short(key: str) -> str:
    name, digest = key.split("-")[:2]
    return f"{name}-{digest[:8]}"


def exact_answer(name: str) -> float:
    """ligand0->ligandN of the example: spring constants 1, 2, 4 in three dimensions."""
    k_b = {"ligand0->ligand1": 2.0, "ligand0->ligand2": 4.0}[name]
    return analytic_free_energy(1.0, k_b, 3)


def test_results_of_a_network_gather_the_estimates(world: World) -> None:
    found = as_json(world.run("results", str(world.network), "--json"))
    assert isinstance(found, list)
    done, idle = found
    done_name = world.names[world.done_tf]
    assert done["transformation"] == str(world.done_tf)
    assert (done["name"], done["complete"], done["results"]) == (done_name, 1, 1)
    assert done["exact"] == pytest.approx(exact_answer(done_name), abs=1e-12)
    assert isinstance(done["estimate"], float)
    assert 0 < done["uncertainty"] < 1
    assert abs(done["estimate"] - done["exact"]) < 0.5
    assert idle == {
        "transformation": str(world.idle_tf),
        "name": world.names[world.idle_tf],
        "complete": 0,
        "results": 0,
        "estimate": None,
        "uncertainty": None,
        "exact": None,
    }
    table = rows(world.run("results", str(world.network)))
    assert table == [
        ["NAME", "TRANSFORMATION", "COMPLETE", "ESTIMATE", "EXACT"],
        [
            done_name,
            short(str(world.done_tf)),
            "1",
            f"{done['estimate']:.4f}",
            "±",
            f"{done['uncertainty']:.4f}",
            f"{done['exact']:.4f}",
        ],
        [world.names[world.idle_tf], short(str(world.idle_tf)), "0", "-", "-"],
    ]


def test_results_of_one_transformation(world: World) -> None:
    (one,) = as_json(world.run("results", str(world.done_tf), "--json"))
    assert one["transformation"] == str(world.done_tf)
    assert one["complete"] == 1
    failed(world.run("results", str(world.done_task)), 2, "is a Task key")
    failed(world.run("results", str(world.network), "-m", "os;x"), 2, "not a module name")
    failed(
        world.run("results", str(world.network), "-m", "no_such_module_here"), 2, "cannot import"
    )


def test_results_plot_writes_the_dashboards_chart(world: World, tmp_path: Path) -> None:
    # The compute service stored the estimate with the result (computed with the
    # protocol's gather there), so the chart needs no protocol code here.
    with UserClient(world.deployment.user_url, "alice", KEYS["alice"]) as alice:
        (stored,) = alice.get_network_estimates(world.network)
    gathered, _ = as_json(world.run("results", str(world.network), "--json"))
    assert stored.transformation == str(world.done_tf)
    assert (stored.name, stored.n_results) == (world.names[world.done_tf], 1)
    assert stored.estimate.estimate == pytest.approx(gathered["estimate"], rel=1e-12)
    assert stored.estimate.uncertainty == pytest.approx(gathered["uncertainty"], rel=1e-12)
    assert stored.estimate.units == "kT"
    for name, magic in (("chart.png", b"\x89PNG\r\n\x1a\n"), ("chart.svg", b"<?xml")):
        done = world.run("results", str(world.network), "--plot", str(tmp_path / name))
        assert ok(done).stdout.startswith("NAME")  # the table still prints
        assert f"wrote the chart of 1 transformations to {tmp_path / name}" in done.stderr
        assert (tmp_path / name).read_bytes().startswith(magic)


def test_results_plot_usage_errors(world: World, tmp_path: Path) -> None:
    chart = tmp_path / "chart.png"
    failed(world.run("results", str(world.done_tf), "--plot", str(chart)), 2, "charts a NETWORK")
    failed(world.run("results", str(world.network), "--plot", str(tmp_path / "c.txt")), 2, ".png")
    failed(
        world.run("results", str(world.scratch_network), "--plot", str(chart)),
        1,
        "no transformation of this network has an estimate yet",
    )
    assert not chart.exists()


def test_files_list_shows_every_result_file(world: World) -> None:
    listed = as_json(world.run("files", "list", str(world.done_task), "--json"))
    assert listed == [f.model_dump(mode="json") for f in world.files]
    assert len(world.files) == 6  # one samples file per lambda window of the example
    assert rows(world.run("files", "list", str(world.done_task))) == [
        ["NAME", "SIZE", "SHA256", "UNIT", "ATTEMPT", "OK"],
        *(
            [f.name, *kilobytes(f.size), f.sha256[:16], short(f.unit_key), str(f.attempt), "yes"]
            for f in world.files
        ),
    ]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_download_one_file_verified(world: World, tmp_path: Path) -> None:
    ref = world.files[0]
    dest = tmp_path / "one"
    table = rows(world.run("files", "download", str(world.done_task), ref.name, str(dest)))
    assert table == [
        ["NAME", "SIZE", "SHA256", "PATH", "OUTCOME"],
        [
            ref.name,
            *kilobytes(ref.size),
            ref.sha256[:16],
            str((dest / ref.name).resolve()),
            "downloaded",
        ],
    ]
    assert [p.name for p in dest.iterdir()] == [ref.name]
    assert sha256_of(dest / ref.name) == ref.sha256
    again = as_json(
        world.run("files", "download", str(world.done_task), ref.name, str(dest), "--json")
    )
    assert again == [
        {
            "name": ref.name,
            "path": str((dest / ref.name).resolve()),
            "size": ref.size,
            "sha256": ref.sha256,
            "unit_key": ref.unit_key,
            "attempt": ref.attempt,
            "outcome": "present",
        }
    ]
    (dest / ref.name).write_bytes(b"not the file")
    fetched = world.run(
        "files", "download", str(world.done_task), ref.name, str(dest), "--json", "--progress"
    )
    assert [r["outcome"] for r in as_json(fetched)] == ["downloaded"]
    assert sha256_of(dest / ref.name) == ref.sha256
    # The progress bar, on stderr only, moved to the end by the download's own progress.
    (bar,) = fetched.stderr.strip().splitlines()
    assert bar.startswith(ref.name)
    assert f"{ref.size / 1000:.1f}/{ref.size / 1000:.1f} kB" in bar


def test_files_download_all_files_of_the_task(world: World, tmp_path: Path) -> None:
    dest = tmp_path / "all" / "nested"
    found = as_json(world.run("files", "download", str(world.done_task), str(dest), "--json"))
    assert isinstance(found, list)
    assert sorted(r["name"] for r in found) == sorted(f.name for f in world.files)
    assert {r["outcome"] for r in found} == {"downloaded"}
    assert sorted(p.name for p in dest.iterdir()) == sorted(f.name for f in world.files)
    for ref in world.files:
        assert sha256_of(dest / ref.name) == ref.sha256
    unit = world.files[1].unit_key
    only = as_json(
        world.run("files", "download", str(world.done_task), str(dest), "--unit", unit, "--json")
    )
    assert [(r["name"], r["outcome"]) for r in only] == [(world.files[1].name, "present")]
    failed(
        world.run("files", "download", str(world.done_task), "missing.npy", str(dest)),
        1,
        "Error: NotFound: ",
        "missing.npy",
    )


@pytest.mark.parametrize("name", ["../escape.npy", "/etc/passwd", "a/../../b", "sub\\x", "."])
def test_files_download_refuses_unsafe_names(world: World, tmp_path: Path, name: str) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    failed(world.run("files", "download", str(world.done_task), name, str(dest)), 2, "NAME")
    assert list(tmp_path.rglob("*")) == [dest]


def test_files_download_writes_only_inside_dest(world: World, tmp_path: Path) -> None:
    ref = world.files[0]
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / ref.name).symlink_to(outside / ref.name)
    failed(
        world.run("files", "download", str(world.done_task), ref.name, str(dest)),
        1,
        "Error: UnsafeFileName: ",
        "outside",
    )
    assert list(outside.iterdir()) == []


def test_files_download_refuses_bytes_that_do_not_match_the_sha256(
    world: World, neo4j_driver: neo4j.Driver, tmp_path: Path
) -> None:
    ref = world.files[0]
    wrong = "0" * 64
    tamper = "MATCH (f:ResultFileRef {location: $location}) SET f.sha256 = $sha256 RETURN count(f)"
    with neo4j_driver.session() as session:
        assert session.run(tamper, location=ref.location, sha256=wrong).single()[0] == 1
    try:
        done = world.run("files", "download", str(world.done_task), ref.name, str(tmp_path))
    finally:
        with neo4j_driver.session() as session:
            session.run(tamper, location=ref.location, sha256=ref.sha256).consume()
    failed(done, 1, "Error: IntegrityError: ", wrong)
    assert list(tmp_path.iterdir()) == []


# -- tasks ------------------------------------------------------------------------------------


def test_tasks_create_list_priority_cancel_and_action(world: World) -> None:
    net, tf = str(world.scratch_network), str(world.scratch_tf)
    created = as_json(world.run("tasks", "create", net, "--count", "2", "--json"))
    assert isinstance(created, list)
    assert [(r["transformation"], r["actioned_on"]) for r in created] == [(tf, net)] * 2
    tasks = sorted(r["task"] for r in created)
    listed = as_json(world.run("tasks", "list", net, "--json"))
    assert listed == [{"task": t, "status": "waiting", "priority": 10} for t in tasks]
    assert rows(world.run("tasks", "list", tf, "--status", "complete")) == [
        ["TASK", "STATUS", "PRIORITY"]
    ]

    prioritized = as_json(world.run("tasks", "priority", *tasks, "--set", "3", "--json"))
    assert prioritized == [{"task": t, "priority": 3} for t in tasks]
    assert rows(world.run("tasks", "priority", tasks[0])) == [["TASK", "PRIORITY"], [tasks[0], "3"]]

    cancelled = rows(world.run("tasks", "cancel", net, tasks[0]))
    assert cancelled == [
        ["cancelled", "1", "of", "1", "tasks", "on", net],
        ["TASK", "CANCELLED"],
        [tasks[0], "yes"],
    ]
    with UserClient(world.deployment.user_url, "alice", KEYS["alice"]) as alice:
        assert alice.get_network_actioned_tasks(world.scratch_network) == [
            ScopedKey.from_str(tasks[1])
        ]
    actioned = as_json(world.run("tasks", "action", net, *tasks, "--weight", "0.5", "--json"))
    assert actioned == {"network": net, "actioned": tasks}

    plain = rows(world.run("tasks", "create", tf, "--no-action"))
    assert plain[0] == ["created", "1", "tasks,", "not", "actioned"]
    assert plain[1] == ["TASK", "TRANSFORMATION"]
    assert plain[2][1] == tf
    extended = as_json(
        world.run("tasks", "create", tf, "--extends", tasks[0], "--action-on", net, "--json")
    )
    assert [(r["transformation"], r["actioned_on"]) for r in extended] == [(tf, net)]


def test_tasks_usage_errors(world: World) -> None:
    net, tf = str(world.scratch_network), str(world.scratch_tf)
    task = str(world.done_task)
    failed(world.run("tasks", "create", net, "--extends", task), 2, "--extends needs")
    failed(world.run("tasks", "create", tf, "--no-action", "--action-on", net), 2, "not both")
    failed(world.run("tasks", "create", tf, "--count", "0"), 2, "--count")
    failed(world.run("tasks", "priority", task, "--set", "0"), 2, "--set")
    failed(world.run("tasks", "action", tf, task), 2, "not a AlchemicalNetwork key")
    failed(world.run("tasks", "cancel", net), 2, "TASK")


# -- configuration and errors -----------------------------------------------------------------


def test_a_config_file_alone_is_enough_and_options_beat_it(world: World, tmp_path: Path) -> None:
    config = tmp_path / "client.yaml"
    settings = ClientConfig(
        api_url=world.deployment.user_url, identifier="alice", key=SecretStr(KEYS["alice"])
    )
    write_client_config(config, settings)
    bare = {
        "ALCHEMISCALE_LIKE_API_URL": "",
        "ALCHEMISCALE_LIKE_IDENTIFIER": "",
        "ALCHEMISCALE_LIKE_KEY": "",
    }
    listed = world.run("network", "list", "--config", str(config), "--json", **bare)
    assert len(as_json(listed)) == 2
    from_variable = world.run(
        "network", "list", "--json", ALCHEMISCALE_LIKE_CONFIG=str(config), **bare
    )
    assert as_json(from_variable) == as_json(listed)
    default = tmp_path / "xdg" / "alchemiscale-like" / "client.yaml"
    default.parent.mkdir(parents=True)
    write_client_config(default, settings)
    from_default = world.run(
        "network", "list", "--json", XDG_CONFIG_HOME=str(tmp_path / "xdg"), **bare
    )
    assert as_json(from_default) == as_json(listed)
    bob = world.run(
        "network",
        "list",
        "--config",
        str(config),
        "--identifier",
        "bob",
        "--key",
        KEYS["bob"],
        "--json",
        **bare,
    )
    assert as_json(bob) == []
    wrong = world.run(
        "network", "list", "--config", str(config), "--key", "not-the-key-000", **bare
    )
    failed(wrong, 1, "Error: AuthenticationFailed: ")
    assert "not-the-key-000" not in wrong.stderr
    failed(
        world.run("network", "list", **bare),
        1,
        "Error: ValidationError: no api_url",
        "ALCHEMISCALE_LIKE_KEY",
    )
    failed(
        world.run("network", "list", "--config", str(tmp_path / "none.yaml")), 2, "does not exist"
    )


def test_unknown_and_foreign_objects_are_one_clean_line(world: World) -> None:
    failed(world.run("status", UNKNOWN_NETWORK), 1, "Error: NotFound: ")
    failed(world.run("results", UNKNOWN_NETWORK), 1, "Error: NotFound: ")
    foreign = world.run(
        "status",
        str(world.network),
        ALCHEMISCALE_LIKE_IDENTIFIER="bob",
        ALCHEMISCALE_LIKE_KEY=KEYS["bob"],
    )
    failed(foreign, 1, "Error: NotFound: ")
    failed(world.run("files", "list", f"Task-{'1' * 32}-{SCOPE}"), 1, "Error: NotFound: ")
    failed(world.run("status", "AlchemicalNetwork-123-org-campaign-project"), 2, "32 hex")
    failed(world.run("status"), 2, "Missing argument")
    failed(
        world.run("status", UNKNOWN_NETWORK, ALCHEMISCALE_LIKE_API_URL="ftp://x"), 1, "http(s) URL"
    )


def test_debug_logging_shows_the_traceback_but_never_the_key(world: World) -> None:
    done = world.run("--log-level", "debug", "status", UNKNOWN_NETWORK)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("Error: NotFound: ")
    assert KEYS["alice"] not in done.stderr + done.stdout


def test_the_installed_command_exit_codes_in_a_subprocess(world: World) -> None:
    env = {**os.environ, **world.env}
    command = [sys.executable, "-m", "alchemiscale_like"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, env=env, timeout=120
        )

    good = run("status", str(world.network), "--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["status"]["total"] == 2
    missing = run("status", UNKNOWN_NETWORK)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr.startswith("Error: NotFound: ")
    assert len(missing.stderr.strip().splitlines()) == 1
    traced = run("--log-level", "debug", "status", UNKNOWN_NETWORK)
    assert traced.returncode == 1
    assert "Traceback (most recent call last)" in traced.stderr
    assert traced.stderr.strip().splitlines()[-1].startswith("Error: NotFound: ")
    assert KEYS["alice"] not in traced.stderr
    usage = run("status", "not-a-key")
    assert usage.returncode == 2
    assert "Usage:" in usage.stderr
    assert "Traceback" not in usage.stderr
