"""Small protocols for tests and fault drills: sleeping, failing on demand, writing files.

They use no chemistry: the end states only need to exist. Every unit is
deterministic given its inputs, so resumed and uninterrupted runs can be compared.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Literal

from pydantic import Field

from alchemiscale_like.models.components import ChemicalSystem
from alchemiscale_like.models.context import Context
from alchemiscale_like.models.protocol import Protocol, ProtocolSettings
from alchemiscale_like.models.protocoldag import ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnit, ProtocolUnitResult


class DeliberateFailure(RuntimeError):
    """Raised by :class:`FailingUnit` when told to fail."""


def _summarize(dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
    return {
        "estimate": float(len(dag_results)),
        "uncertainty": 0.0,
        "dag_results": [r.key for r in dag_results],
    }


class SleepSettings(ProtocolSettings):
    """``n_units`` units of ``seconds`` each, in a ``chain`` or fanned out from a root."""

    n_units: int = Field(default=3, ge=1, le=10_000)
    seconds: float = Field(default=0.0, ge=0)
    layout: Literal["chain", "fanout"] = "chain"


class SleepUnit(ProtocolUnit):
    """Sleep, then report the upstream units it saw and a value derived from its index."""

    def _execute(
        self,
        ctx: Context,
        *,
        index: int,
        seconds: float,
        seed: int,
        upstream: list[ProtocolUnitResult],
    ) -> dict[str, Any]:
        time.sleep(seconds)
        (ctx.shared / f"ran-{index}").touch()
        return {
            "index": index,
            "value": index * 10 + seed % 7,
            "upstream": sorted(r.outputs["index"] for r in upstream),
        }


class SleepProtocol(Protocol):
    """Units that only sleep: for scheduling, claiming and kill tests."""

    settings: SleepSettings

    @classmethod
    def default_settings(cls) -> SleepSettings:
        """Three zero-second units in a chain."""
        return SleepSettings()

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        s = self.settings
        units: list[ProtocolUnit] = []
        for index in range(s.n_units):
            # chain: each unit after the previous; fanout: every unit after the first
            upstream = units[-1:] if s.layout == "chain" else units[:1]
            units.append(
                SleepUnit(
                    name=f"sleep {index}",
                    inputs={
                        "index": index,
                        "seconds": s.seconds,
                        "seed": seed,
                        "upstream": upstream,
                    },
                )
            )
        return units

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        return _summarize(dag_results)


class FailingSettings(ProtocolSettings):
    """``fail_on``: unit index (as a string) -> the attempts on which that unit fails."""

    n_units: int = Field(default=3, ge=1, le=1000)
    fail_on: dict[str, list[int]] = Field(default_factory=dict)
    message: str = "deliberate failure"


class FailingUnit(ProtocolUnit):
    """Fails on the attempts listed for its index; otherwise succeeds."""

    def _execute(
        self,
        ctx: Context,
        *,
        index: int,
        fail_attempts: list[int],
        message: str,
        upstream: list[ProtocolUnitResult],
    ) -> dict[str, Any]:
        if ctx.attempt in fail_attempts:
            raise DeliberateFailure(f"{message}: unit {index} attempt {ctx.attempt}")
        return {"index": index, "attempt": ctx.attempt}


class FailingProtocol(Protocol):
    """A chain of units that fail on demand (by unit index and attempt number)."""

    settings: FailingSettings

    @classmethod
    def default_settings(cls) -> FailingSettings:
        """Three units, none failing."""
        return FailingSettings()

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        s = self.settings
        units: list[ProtocolUnit] = []
        for index in range(s.n_units):
            units.append(
                FailingUnit(
                    name=f"failing {index}",
                    inputs={
                        "index": index,
                        "fail_attempts": s.fail_on.get(str(index), []),
                        "message": s.message,
                        "upstream": units[-1:],
                    },
                )
            )
        return units

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        return _summarize(dag_results)


class FileSettings(ProtocolSettings):
    """``n_producers`` units each write ``n_files`` files of ``file_size`` bytes."""

    n_producers: int = Field(default=2, ge=1, le=1000)
    n_files: int = Field(default=3, ge=0, le=100_000)
    file_size: int = Field(default=1024, ge=0)


def file_content_chunks(seed: int, producer: int, index: int, size: int) -> Any:
    """Deterministic pseudo-random bytes for one test file, in 1 MiB chunks."""
    block = hashlib.sha256(f"{seed}-{producer}-{index}".encode()).digest() * (1 << 15)
    remaining = size
    while remaining > 0:
        chunk = block[: min(remaining, len(block))]
        remaining -= len(chunk)
        yield chunk


class FileProducerUnit(ProtocolUnit):
    """Writes its files to ``ctx.permanent`` and returns them."""

    def _execute(
        self,
        ctx: Context,
        *,
        producer: int,
        n_files: int,
        file_size: int,
        seed: int,
    ) -> dict[str, Any]:
        paths = []
        for index in range(n_files):
            path = ctx.permanent / f"data/p{producer}_f{index}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as handle:
                for chunk in file_content_chunks(seed, producer, index, file_size):
                    handle.write(chunk)
            paths.append(path)
        return {"producer": producer, "files": paths}


class FileConsumerUnit(ProtocolUnit):
    """Fetches every upstream file and reports its sha256 (computed from the bytes)."""

    def _execute(self, ctx: Context, *, producers: list[ProtocolUnitResult]) -> dict[str, Any]:
        digests = {}
        for result in producers:
            for ref in result.outputs["files"]:
                digest = hashlib.sha256()
                with open(ctx.fetch(ref), "rb") as handle:
                    while chunk := handle.read(1 << 20):
                        digest.update(chunk)
                digests[ref.name] = digest.hexdigest()
        return {"digests": digests}


class FileProtocol(Protocol):
    """Producers writing many or large files, and one consumer reading them all."""

    settings: FileSettings

    @classmethod
    def default_settings(cls) -> FileSettings:
        """Two producers of three 1 KiB files."""
        return FileSettings()

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        s = self.settings
        producers = [
            FileProducerUnit(
                name=f"producer {p}",
                inputs={
                    "producer": p,
                    "n_files": s.n_files,
                    "file_size": s.file_size,
                    "seed": seed,
                },
            )
            for p in range(s.n_producers)
        ]
        consumer = FileConsumerUnit(name="consumer", inputs={"producers": producers})
        return [*producers, consumer]

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        return _summarize(dag_results)
