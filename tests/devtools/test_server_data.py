"""Where the test servers keep their data (:mod:`tests.fixtures.server_data`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import server_data
from tests.fixtures.neo4j_server import Neo4jTestServer
from tests.fixtures.s3_server import S3TestServer


def test_the_session_servers_keep_their_data_where_the_rule_says(
    neo4j_server: Neo4jTestServer, s3_server: S3TestServer
) -> None:
    if neo4j_server.process is None or s3_server.process is None:
        pytest.skip("external servers: not ours to inspect")
    in_memory = (
        os.environ.get(server_data.CHOICE_VAR, "auto") == "auto" and server_data.memory_has_room()
    )
    for process in (neo4j_server.process, s3_server.process):
        under_memory = process.data_dir.is_relative_to(server_data.MEMORY_ROOT)
        assert under_memory == in_memory, process.data_dir
        if in_memory:
            assert process.data_dir.name.startswith(f"{server_data.PREFIX}{os.getpid()}-")


def test_no_room_in_memory_without_a_writable_folder(tmp_path: Path) -> None:
    assert not server_data.memory_has_room(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    assert not server_data.memory_has_room(tmp_path / "file")


def test_orphans_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = tmp_path / f"{server_data.PREFIX}{dead.stdout.strip()}-neo4j-x"
    mine = tmp_path / f"{server_data.PREFIX}{os.getpid()}-s3proxy-y"
    other = tmp_path / "someone-elses"
    for folder in (orphan, mine, other):
        (folder / "data").mkdir(parents=True)
    server_data.remove_orphans(tmp_path)
    assert not orphan.exists()
    assert mine.exists()
    assert other.exists()


def test_disk_can_be_forced_and_a_bad_choice_is_refused(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(server_data.CHOICE_VAR, "disk")
    with server_data.server_data_dir(tmp_path_factory, "forced") as folder:
        assert folder.is_relative_to(tmp_path_factory.getbasetemp())
    assert folder.exists()  # pytest cleans its own folders
    monkeypatch.setenv(server_data.CHOICE_VAR, "memory\n")
    refused = server_data.server_data_dir(tmp_path_factory, "bad")
    with pytest.raises(pytest.UsageError, match="'auto' or 'disk'"):
        refused.__enter__()


def test_a_memory_folder_is_removed_afterwards(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not server_data.memory_has_room():
        pytest.skip(f"{server_data.MEMORY_ROOT} has no room here: the disk rule applies")
    monkeypatch.delenv(server_data.CHOICE_VAR, raising=False)
    with server_data.server_data_dir(tmp_path_factory, "probe") as folder:
        assert folder.parent == server_data.MEMORY_ROOT
        (folder / "blob").write_bytes(b"x")
    assert not folder.exists()
