"""Checkpoint generations: whole, atomic, verified, and a stop request that is no failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alchemiscale_like.errors import UnitInterrupted, ValidationError
from alchemiscale_like.execution.checkpoints import MANIFEST, CheckpointFolder, parse_manifest
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models import Context, ProtocolUnit


def _save(folder: CheckpointFolder, **files: str) -> None:
    with folder.save() as staging:
        for name, text in files.items():
            (staging / name).write_text(text)


def test_a_generation_is_committed_whole(tmp_path: Path) -> None:
    folder = CheckpointFolder(tmp_path / "unit")
    assert folder.current() is None
    assert folder.restore() is None
    _save(folder, **{"state.json": "1", "samples.npy": "a"})
    first = folder.current()
    assert first is not None
    assert first.name == "gen-000001"
    _save(folder, **{"state.json": "2", "samples.npy": "b"})
    second = folder.restore()
    assert second is not None
    assert (second / "state.json").read_text() == "2"
    assert (second / "samples.npy").read_text() == "b"
    # The previous generation stays until the next commit (an upload may be reading it).
    assert (first.folder / "state.json").read_text() == "1"
    _save(folder, **{"state.json": "3"})
    assert not first.folder.exists()
    current = folder.current()
    assert current is not None
    assert set(current.files) == {"state.json"}


def test_a_failure_inside_the_block_commits_nothing(tmp_path: Path) -> None:
    folder = CheckpointFolder(tmp_path / "unit")
    _save(folder, **{"state.json": "good"})

    def crash_while_writing() -> None:
        with folder.save() as staging:
            (staging / "state.json").write_text("half")
            raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        crash_while_writing()
    restored = folder.restore()
    assert restored is not None
    assert (restored / "state.json").read_text() == "good"
    assert not list((tmp_path / "unit").glob(".staging-*"))


def test_a_damaged_generation_is_dropped_not_resumed(tmp_path: Path) -> None:
    folder = CheckpointFolder(tmp_path / "unit")
    _save(folder, **{"state.json": "good"})
    generation = folder.current()
    assert generation is not None
    (generation.folder / "state.json").write_text("flipped")
    assert folder.restore() is None
    assert folder.current() is None


@pytest.mark.parametrize(
    "manifest",
    [
        b"not json",
        json.dumps({"generation": "../x", "files": {}}).encode(),
        json.dumps({"generation": "gen-000001", "files": {"../../etc/passwd": "0"}}).encode(),
        json.dumps({"generation": "gen-000001"}).encode(),
    ],
)
def test_hostile_manifests_are_refused(manifest: bytes, tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        parse_manifest(manifest)
    (tmp_path / "unit").mkdir()
    (tmp_path / "unit" / MANIFEST).write_bytes(manifest)
    assert CheckpointFolder(tmp_path / "unit").restore() is None


class StoppableUnit(ProtocolUnit):
    """Counts in steps, checkpointing each one, and stops when asked to."""

    def _execute(self, ctx: Context, *, steps: int) -> dict[str, Any]:
        restored = ctx.restore_checkpoint()
        done = int((restored / "step").read_text()) if restored is not None else 0
        while done < steps:
            done += 1
            with ctx.save_checkpoint() as folder:
                (folder / "step").write_text(str(done))
            if ctx.should_stop():
                raise UnitInterrupted(f"stopped at {done}")
        return {"resumed_from": int(restored.name[4:]) if restored is not None else 0}


def test_a_stop_request_interrupts_at_a_checkpoint_and_resume_continues(tmp_path: Path) -> None:
    executor = UnitExecutor(tmp_path / "work", tmp_path / "ck", FileFetcher(tmp_path / "cache"))
    unit = StoppableUnit(inputs={"steps": 5})
    executor.workdir.mkdir(parents=True)
    executor.stop_file.touch()
    with pytest.raises(UnitInterrupted):
        executor.run(unit, {}, attempt=1)
    executor.stop_file.unlink()
    outcome = executor.run(unit, {}, attempt=1)
    assert outcome.result.ok()
    assert outcome.result.outputs["resumed_from"] == 1
