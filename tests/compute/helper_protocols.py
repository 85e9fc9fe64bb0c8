"""A protocol for the walltime tests, imported by subprocess services through ``modules``.

Nothing in the package imports this module: a service has these classes only because
its ``modules`` setting names ``tests.compute.helper_protocols``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import Field

from alchemiscale_like.errors import UnitInterrupted
from alchemiscale_like.models.components import ChemicalSystem
from alchemiscale_like.models.context import Context
from alchemiscale_like.models.protocol import Protocol, ProtocolSettings
from alchemiscale_like.models.protocoldag import ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnit

MODULE = "tests.compute.helper_protocols"


class NeverInTimeError(RuntimeError):
    """The unit was never asked to stop within its bound (the test would otherwise hang)."""


class OutlastSettings(ProtocolSettings):
    """Chunks of ``seconds``; the first attempt runs until stopped (at most ``max_chunks``),
    a resumed one finishes after ``chunks_after_resume`` more."""

    seconds: float = Field(default=0.05, gt=0)
    max_chunks: int = Field(default=2400, ge=1)
    chunks_after_resume: int = Field(default=3, ge=1)


class OutlastUnit(ProtocolUnit):
    """Outlasts any walltime on its first attempt: it finishes only once it was resumed.

    It checkpoints after every chunk and stops when asked, so whatever service runs it
    first must interrupt it; one that resumes it from the checkpoint finishes it.
    """

    def _execute(
        self, ctx: Context, *, seconds: float, max_chunks: int, chunks_after_resume: int
    ) -> dict[str, Any]:
        restored = ctx.restore_checkpoint()
        if restored is None:
            done, resumed_at = 0, None
        else:
            done = json.loads((restored / "state.json").read_text())["done"]
            resumed_at = done
        while resumed_at is None or done < resumed_at + chunks_after_resume:
            if done >= max_chunks:
                raise NeverInTimeError(f"not stopped within {max_chunks} chunks")
            time.sleep(seconds)
            done += 1
            with ctx.save_checkpoint() as folder:
                (folder / "state.json").write_text(json.dumps({"done": done}))
            if ctx.should_stop():
                raise UnitInterrupted(f"stopped after chunk {done} (checkpointed)")
        return {"chunks": done, "resumed_at": resumed_at}


class OutlastProtocol(Protocol):
    """One :class:`OutlastUnit`."""

    settings: OutlastSettings

    @classmethod
    def default_settings(cls) -> OutlastSettings:
        """Chunks of 0.05 s, three after the resume."""
        return OutlastSettings()

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        return [OutlastUnit(name="outlast", inputs=self.settings.model_dump())]

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        return {"estimate": 0.0, "uncertainty": 0.0}
