"""A compute node with the core install only: a subprocess service without server packages.

A ``sitecustomize`` on ``PYTHONPATH`` puts an import hook first on ``sys.meta_path``
of the service and of every worker process it starts: importing any module of the
server extras (or of the optional ``dask`` extra) raises ImportError, as if it were not
installed, and the attempt is written down, so even an import that was tried and
caught shows up.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols import HarmonicTISettings
from alchemiscale_like.protocols.examples import harmonic_network
from tests.compute.conftest import Tenant
from tests.compute.service_processes import make_service, running, service_env

#: Top-level modules of the ``server`` and ``dask`` extras (and what only they bring).
BLOCKED = (
    "fastapi",
    "starlette",
    "uvicorn",
    "neo4j",
    "boto3",
    "botocore",
    "s3transfer",
    "jwt",
    "argon2",
    "multipart",
    "python_multipart",
    "dask",
    "distributed",
)
BLOCKER = '''
import os
import sys

BLOCKED = frozenset({blocked!r})
ATTEMPTS = os.environ["CORE_INSTALL_ATTEMPTS"]


class CoreInstallOnly:
    """Refuses the modules of the server and dask extras."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            with open(ATTEMPTS, "a") as handle:
                handle.write(name + "\\n")
            raise ImportError(f"{{name}} is not installed (core install test)")
        return None


sys.meta_path.insert(0, CoreInstallOnly())
'''
PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    raise SystemExit(f"{name} imported despite the block")
print("all blocked")
"""
SETTINGS = HarmonicTISettings(n_lambda=2, n_repeats=1, n_steps=1000, n_walkers=16)


def core_install_env(folder: Path) -> tuple[dict[str, str], Path]:
    """An environment whose interpreters cannot import :data:`BLOCKED`; and the file
    listing every import of them that was tried."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER.format(blocked=sorted(BLOCKED)))
    attempts = folder / "attempts.txt"
    env = service_env(pythonpath=(folder,))
    env["CORE_INSTALL_ATTEMPTS"] = str(attempts)
    return env, attempts


def test_a_service_runs_a_task_end_to_end_with_the_core_install_only(
    tenant: Tenant, tmp_path: Path
) -> None:
    env, attempts = core_install_env(tmp_path / "core")
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *BLOCKED],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "all blocked"
    assert sorted(attempts.read_text().split()) == sorted(BLOCKED)
    attempts.unlink()

    user = tenant.user_client()
    network_sk = user.create_network(harmonic_network((1.0, 2.0), settings=SETTINGS), tenant.scope)
    (transformation,) = user.get_network_transformations(network_sk)
    (task,) = user.create_tasks(transformation)
    user.action_tasks([task], network_sk)

    # Worker processes too: they are new interpreters, each with the hook.
    service = make_service(
        tmp_path,
        "core",
        api_url=tenant.deployment.compute_url,
        identifier=tenant.compute,
        key=tenant.compute_key,
        env=env,
        execution="processes",
        max_workers=2,
    )
    with running(service):
        assert service.wait() == 0, service.tail()

    tried = attempts.read_text().split() if attempts.exists() else []
    assert tried == [], f"the service tried to import {sorted(set(tried))}"
    assert user.get_tasks_status([task]) == [TaskStatus.COMPLETE], service.tail()
    assert [e["task"] for e in service.events("task_done")] == [str(task)]
    assert len(service.events("deregistered")) == 1
    result = user.get_transformation_results(transformation)
    assert result is not None
    assert result.n_protocol_dag_results == 1
    files = user.list_result_files(task)
    assert len(files) == SETTINGS.n_lambda * SETTINGS.n_repeats
