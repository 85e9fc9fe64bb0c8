"""The user verbs' pure helpers: which files a download takes, where they go, error lines."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from alchemiscale_like.cli.user_common import (
    TASK,
    describe_error,
    names_in_chain,
    short_key,
)
from alchemiscale_like.cli.user_results import select_files, target_path
from alchemiscale_like.client.user import ResultFileInfo
from alchemiscale_like.errors import NotFound, UnsafeFileName, ValidationError
from alchemiscale_like.protocols.examples import harmonic_network

TASK_KEY = f"Task-{'a' * 32}-org-campaign-project"


def info(name: str, unit: str, attempt: int, ok: bool) -> ResultFileInfo:
    return ResultFileInfo(
        task=TASK_KEY,
        name=name,
        size=1,
        sha256="0" * 64,
        location=f"units/{unit}/{attempt}/files/{name}",
        unit_key=unit,
        attempt=attempt,
        unit_ok=ok,
    )


def test_a_retried_unit_gives_its_successful_attempt() -> None:
    failed, retried = info("a.npy", "U-1", 1, False), info("a.npy", "U-1", 2, True)
    other = info("b.npy", "U-2", 1, True)
    assert select_files([failed, retried, other], None, None) == [retried, other]
    assert select_files([failed, retried, other], "a.npy", None) == [retried]
    assert select_files([failed, retried, other], None, "U-2") == [other]


def test_files_of_failed_attempts_come_only_by_name() -> None:
    failed = info("log.txt", "U-1", 1, False)
    assert select_files([failed], None, None) == []
    assert select_files([failed, info("log.txt", "U-1", 2, False)], "log.txt", None) == [
        info("log.txt", "U-1", 2, False)
    ]
    with pytest.raises(NotFound, match=r"no result file 'x\.txt'"):
        select_files([failed], "x.txt", None)


def test_one_name_from_several_units_needs_a_unit() -> None:
    both = [info("out.npy", "U-1", 1, True), info("out.npy", "U-2", 1, True)]
    with pytest.raises(ValidationError, match=r"out\.npy: made by several units; .*--unit"):
        select_files(both, None, None)
    assert select_files(both, "out.npy", "U-2") == [both[1]]


def test_targets_stay_inside_dest(tmp_path: Path) -> None:
    assert target_path(tmp_path, "traj/frame_1.dcd") == tmp_path.resolve() / "traj/frame_1.dcd"
    for name in ("../x", "/abs", "a/../../x", "", "a\\b"):
        with pytest.raises(UnsafeFileName):
            target_path(tmp_path, name)
    (tmp_path / "link").symlink_to(tmp_path.parent)
    with pytest.raises(UnsafeFileName, match="outside"):
        target_path(tmp_path, "link/x")


def test_errors_are_one_line_named_by_their_class() -> None:
    assert describe_error(NotFound("no such\nnetwork  here")) == "NotFound: no such network here"
    assert describe_error(OSError()) == "OSError: (no message)"


def test_names_come_from_the_chain_as_plain_json() -> None:
    network = harmonic_network()
    names = names_in_chain(json.loads(network.to_json()))
    assert names[network.key] == "harmonic-example"
    assert {names[edge.key] for edge in network.edges} == {"ligand0->ligand1", "ligand0->ligand2"}
    assert names_in_chain({"not": "a chain"}) == {}
    assert names_in_chain([["k", {"name": 3}], "junk"]) == {}


def test_scoped_keys_are_checked_by_class() -> None:
    assert str(TASK.convert(TASK_KEY, None, None)) == TASK_KEY
    assert short_key(TASK.convert(TASK_KEY, None, None)) == "Task-aaaaaaaa"
    with pytest.raises(click.BadParameter, match="is a AlchemicalNetwork key, not a Task key"):
        TASK.convert(f"AlchemicalNetwork-{'b' * 32}-o-c-p", None, None)
    with pytest.raises(click.BadParameter, match="must look like"):
        TASK.convert("Task-1", None, None)
