"""File locality through the compute service: a unit's upstream files are downloaded only
when they were made on another node, and every file a task made reaches its user intact.

A first service runs the setup unit and one sampling unit of a HarmonicTI task and
stops; a second service resumes the task, runs the other sampling units and the
analysis unit, which reads every sampling unit's file. The second service is on
"another node" (a cache of its own) or on "the same node" (the first one's cache
folder, as the services of one batch job share it). Downloads are counted by the
compute client itself, so they do not depend on what the service chooses to log.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from alchemiscale_like import ComputeClient, UserClient
from alchemiscale_like.compute.service import SynchronousComputeService
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.models import ProtocolUnitResult, ResultFile, ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols import HarmonicTISettings
from alchemiscale_like.protocols.examples import harmonic_network
from tests.server.conftest import KEYS, SCOPE, Deployment

SETTINGS = HarmonicTISettings(n_lambda=3, n_repeats=1, n_steps=2000, n_walkers=16)
N_UNITS = 2 + SETTINGS.n_lambda * SETTINGS.n_repeats


class CountingClient(ComputeClient):
    """A real compute client that counts result-file downloads and unit uploads, and can
    stop its service once it has uploaded ``stop_after`` unit results."""

    def __init__(self, *args: Any, stop_after: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.downloads: list[str] = []
        self.uploaded: list[ProtocolUnitResult] = []
        self.stop_after = stop_after
        self.service: SynchronousComputeService | None = None

    def download_result_file(
        self, task: ScopedKey | str, ref: ResultFile, dest: Path, progress: Any = None
    ) -> Path:
        self.downloads.append(ref.location)
        return super().download_result_file(task, ref, dest, progress)

    def upload_unit_result(self, task: ScopedKey | str, result: ProtocolUnitResult) -> Any:
        answer = super().upload_unit_result(task, result)
        self.uploaded.append(result)
        if self.service is not None and len(self.uploaded) == self.stop_after:
            self.service.stop()  # the run stops before its next unit
        return answer


def run_service(
    deployment: Deployment, name: str, stop_after: int | None = None, **settings: object
) -> CountingClient:
    client = CountingClient(
        deployment.compute_url,
        "worker",
        KEYS["worker"],
        service_id=f"worker~{name}",
        backoff=0.01,
        stop_after=stop_after,
    )
    values: dict[str, object] = {
        "api_url": deployment.compute_url,
        "identifier": "worker",
        "key": KEYS["worker"],
        "once": True,
        "idle_sleep": 0.05,
    }
    service = SynchronousComputeService(
        ComputeServiceSettings.load(None, **(values | settings)), client
    )
    client.service = service
    assert service.run() == 0
    return client


def submit_one_task(deployment: Deployment) -> tuple[UserClient, ScopedKey]:
    alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
    network_sk = alice.create_network(harmonic_network(settings=SETTINGS), SCOPE)
    transformation = alice.get_network_transformations(network_sk)[0]
    (task,) = alice.create_tasks(transformation)
    alice.action_tasks([task], network_sk)
    return alice, task


def split_between_two_services(
    deployment: Deployment, tmp_path: Path, second: dict[str, object], **both: object
) -> tuple[UserClient, ScopedKey, CountingClient, CountingClient]:
    """The task's first two units on one service, the rest on another (``second``)."""
    alice, task = submit_one_task(deployment)
    first = run_service(deployment, "first", stop_after=2, scratch_dir=tmp_path / "a", **both)
    assert len(first.uploaded) == 2
    assert alice.get_tasks_status([task]) == [TaskStatus.WAITING]  # released at once
    resumed = run_service(deployment, "second", **(both | second))
    assert len(resumed.uploaded) == N_UNITS - 2  # nothing the first service did ran again
    assert alice.get_tasks_status([task]) == [TaskStatus.COMPLETE]
    return alice, task, first, resumed


def files_of(results: list[ProtocolUnitResult]) -> list[str]:
    return sorted(ref.location for r in results for ref in r.files)


def test_files_made_on_another_node_are_downloaded_and_files_made_here_are_not(
    deployment: Deployment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="alchemiscale_like.execution.fetcher"):
        _, _, first, second = split_between_two_services(
            deployment, tmp_path, {"scratch_dir": tmp_path / "b"}
        )
    made_first, made_second = files_of(first.uploaded), files_of(second.uploaded)
    assert len(made_first) == 1  # the first sampling unit's file
    assert len(made_second) == SETTINGS.n_lambda - 1
    assert first.downloads == []
    # The analysis unit read all of them: only the other node's was downloaded.
    assert sorted(second.downloads) == made_first
    logged = re.findall(r"event=file_download location=(\S+)", caplog.text)
    assert sorted(logged) == made_first


@pytest.mark.parametrize(
    ("cache_max_bytes", "downloads"),
    [("1GiB", "none"), (0, "the first service's files")],
    ids=["shared-cache", "cache-off"],
)
def test_a_service_sharing_the_nodes_cache_downloads_nothing_made_on_the_node(
    deployment: Deployment, tmp_path: Path, cache_max_bytes: object, downloads: str
) -> None:
    """Both services name one cache folder, with separate scratch folders (as the
    services of one batch job do); ``cache_max_bytes: 0`` turns that cache off."""
    node_cache = tmp_path / "node-cache"
    _, _, first, second = split_between_two_services(
        deployment,
        tmp_path,
        {"scratch_dir": tmp_path / "b"},
        cache_dir=node_cache,
        cache_max_bytes=cache_max_bytes,
    )
    if downloads == "none":
        assert second.downloads == []
        cached = {p.name for p in node_cache.iterdir() if not p.name.startswith(".")}
        assert cached == {ref.sha256 for r in first.uploaded + second.uploaded for ref in r.files}
    else:
        assert sorted(second.downloads) == files_of(first.uploaded)
        assert not node_cache.exists()


def test_every_unit_file_of_a_resumed_task_is_listed_and_downloadable_intact(
    deployment: Deployment, tmp_path: Path
) -> None:
    alice, task, first, second = split_between_two_services(
        deployment, tmp_path, {"scratch_dir": tmp_path / "b"}
    )
    (ref,) = alice.get_task_results(task)
    final = alice.get_task_result(task, ref.key)
    expected = {f.location: f for r in final.protocol_unit_results for f in r.files}
    assert set(expected) == set(files_of(first.uploaded + second.uploaded))

    listed = alice.list_result_files(task)
    assert sorted(f.location for f in listed) == sorted(expected)
    for info in listed:
        assert info.unit_ok
        assert (info.sha256, info.size) == (
            expected[info.location].sha256,
            expected[info.location].size,
        )
        dest = tmp_path / "downloads" / info.location
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = alice.download_result_file(info, dest).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info.sha256
        assert len(data) == info.size
