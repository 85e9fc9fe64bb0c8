"""The benchmark's protocol: a chain of units that only sleep, for timing the machinery.

Bench-only: it is not shipped with the package, so a compute service runs it only
when told to import this module (``modules: [devtools.bench.compute.protocol]``,
see ``ComputeServiceSettings.modules``) and the repository root is on its path.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from alchemiscale_like.models.components import ChemicalSystem
from alchemiscale_like.models.context import Context
from alchemiscale_like.models.protocol import Protocol, ProtocolSettings
from alchemiscale_like.models.protocoldag import ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnit

MODULE = __name__


class BenchSleepSettings(ProtocolSettings):
    """``n_units`` units in a linear chain, each sleeping ``seconds``."""

    n_units: int = Field(default=1, ge=1, le=10_000)
    seconds: float = Field(default=0.0, ge=0, le=60)


class BenchSleepUnit(ProtocolUnit):
    """Sleeps ``seconds``; its outputs are a few numbers (no files)."""

    def _execute(
        self, ctx: Context, *, index: int, seconds: float, seed: int, previous: list[Any]
    ) -> dict[str, Any]:
        time.sleep(seconds)
        return {"index": index, "seed": seed}


class BenchSleepProtocol(Protocol):
    """A linear chain: unit ``i`` takes unit ``i - 1`` as input, so no two ever run at once."""

    settings: BenchSleepSettings

    @classmethod
    def default_settings(cls) -> BenchSleepSettings:
        """One unit that does not sleep."""
        return BenchSleepSettings()

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        units: list[ProtocolUnit] = []
        for index in range(self.settings.n_units):
            # The seed is an input, so every Task's units have keys of their own.
            inputs = {
                "index": index,
                "seconds": self.settings.seconds,
                "seed": seed,
                "previous": units[-1:],
            }
            units.append(BenchSleepUnit(name=f"bench sleep {index}", inputs=inputs))
        return units

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        return {"estimate": float(len(dag_results)), "uncertainty": 0.0}
