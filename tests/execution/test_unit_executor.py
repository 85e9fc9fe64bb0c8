import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alchemiscale_like.errors import IntegrityError
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models import Context, ProtocolUnit, ProtocolUnitFailure, ResultFile

SEEN: dict[str, Any] = {}


class ProbeUnit(ProtocolUnit):
    """Writes files and records the context it saw."""

    def _execute(self, ctx: Context, *, mode: str) -> dict[str, Any]:
        SEEN["ctx"] = ctx
        (ctx.scratch / "tmp.txt").write_text("scratch")
        (ctx.shared / "handoff.txt").write_text("shared")
        (ctx.checkpoint / "state").write_text("ckpt")
        (ctx.permanent / "sub").mkdir()
        kept = ctx.permanent / "sub" / "kept.txt"
        kept.write_bytes(b"kept bytes")
        (ctx.permanent / "unreferenced.bin").write_bytes(b"\x00\x01")
        if mode == "array":
            return {"bad": np.zeros(3)}
        if mode == "outside":
            return {"bad": ctx.scratch / "tmp.txt"}
        if mode == "raise":
            raise KeyError("missing thing")
        if mode == "not-dict":
            return ["nope"]  # type: ignore[return-value]
        return {"file": kept, "n": np.int64(3), "x": 1.5, "nested": {"l": [1, "a", None]}}


def test_successful_attempt_keeps_files_and_json_outputs(unit_executor):
    unit = ProbeUnit(name="probe", inputs={"mode": "ok"})
    outcome = unit_executor.run(unit, {}, attempt=1)
    result = outcome.result
    assert result.ok()
    ctx = SEEN["ctx"]
    assert not ctx.scratch.exists(), "scratch is deleted after the attempt"
    assert (ctx.shared / "handoff.txt").read_text() == "shared"
    assert (ctx.checkpoint / "state").read_text() == "ckpt"
    assert result.outputs["n"] == 3
    assert type(result.outputs["n"]) is int
    ref = result.outputs["file"]
    assert isinstance(ref, ResultFile)
    assert ref.name == "sub/kept.txt"
    assert ref.sha256 == hashlib.sha256(b"kept bytes").hexdigest()
    assert ref.size == len(b"kept bytes")
    assert ref.location == f"units/{unit.key}/1/files/sub/kept.txt"
    assert sorted(f.name for f in result.files) == ["sub/kept.txt", "unreferenced.bin"]
    assert set(outcome.files) == {f.location for f in result.files}
    assert outcome.files[ref.location].read_bytes() == b"kept bytes"
    # Produced files are in the node's content cache: no download needed downstream.
    assert unit_executor.fetcher.fetch(ref).read_bytes() == b"kept bytes"


@pytest.mark.parametrize(
    ("mode", "exc_type", "message"),
    [
        ("array", "ValidationError", "JSON values or files"),
        ("outside", "ValidationError", "not a file in ctx.permanent"),
        ("raise", "KeyError", "missing thing"),
        ("not-dict", "ValidationError", "must return a dict"),
    ],
)
def test_errors_become_failures(unit_executor, mode, exc_type, message):
    outcome = unit_executor.run(ProbeUnit(inputs={"mode": mode}), {}, attempt=2)
    failure = outcome.result
    assert isinstance(failure, ProtocolUnitFailure)
    assert failure.attempt == 2
    assert failure.exception[0] == exc_type
    assert message in failure.exception[1]
    assert "Traceback" in failure.traceback
    assert outcome.files == {}


def test_fetcher_downloads_once_and_verifies(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"payload")
    calls = []

    def download(ref: ResultFile, dest: Path) -> None:
        calls.append(ref.location)
        dest.write_bytes(source.read_bytes())

    ref = ResultFile(
        name="a.bin",
        size=7,
        sha256=hashlib.sha256(b"payload").hexdigest(),
        location="units/U/1/files/a.bin",
    )
    fetcher = FileFetcher(tmp_path / "cache", download=download)
    assert fetcher.fetch(ref).read_bytes() == b"payload"
    assert fetcher.fetch(ref).read_bytes() == b"payload"
    assert calls == ["units/U/1/files/a.bin"]

    bad = ref.model_copy(update={"sha256": "0" * 64})
    with pytest.raises(IntegrityError):
        fetcher.fetch(bad)
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "cache").rglob("*"))


def test_fetch_without_downloader_fails_clearly(tmp_path):
    ref = ResultFile(name="a.bin", size=1, sha256="1" * 64, location="units/U/1/files/a.bin")
    with pytest.raises(FileNotFoundError, match="not on this node"):
        FileFetcher(tmp_path / "cache").fetch(ref)


class FetchingUnit(ProtocolUnit):
    """Reads one upstream file through ``ctx.fetch``."""

    def _execute(self, ctx: Context, *, ref: ResultFile) -> dict[str, Any]:
        return {"size": ctx.fetch(ref).stat().st_size}


def test_a_damaged_input_is_not_recorded_as_a_unit_failure(tmp_path):
    # A corrupt input is the node's fault: it must not use up the unit's retries.
    ref = ResultFile(name="a.bin", size=1, sha256="1" * 64, location="units/U/1/files/a.bin")
    fetcher = FileFetcher(tmp_path / "cache", download=lambda r, dest: dest.write_bytes(b"x"))
    executor = UnitExecutor(tmp_path / "work", tmp_path / "checkpoints", fetcher)
    with pytest.raises(IntegrityError, match=r"a\.bin"):
        executor.run(FetchingUnit(inputs={"ref": ref}), {}, attempt=1)
