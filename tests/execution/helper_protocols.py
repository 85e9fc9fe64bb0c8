"""Protocols for the worker tests, in a module of their own (not ``__main__``).

Nothing in the package imports this module: a worker has these classes only if
the executor's module list made it import them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from pydantic import Field

from alchemiscale_like.errors import StoreUnavailable
from alchemiscale_like.models.components import ChemicalSystem
from alchemiscale_like.models.context import Context
from alchemiscale_like.models.protocol import Protocol, ProtocolSettings
from alchemiscale_like.models.protocoldag import ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnit, ProtocolUnitResult

#: Held by a thread of the test process during a run. A forked worker inherits it
#: held; a worker that imported this module afresh sees it free.
HELD = threading.Lock()

#: A module only named in ``modules=[...]``: its presence in a worker proves the list got there.
MARKER_MODULE = "tests.execution.helper_marker"


class ProbeSettings(ProtocolSettings):
    """``n_units`` independent units that report on the process they ran in."""

    n_units: int = Field(default=2, ge=1, le=100)


class ProbeUnit(ProtocolUnit):
    """Reports its process, whether :data:`HELD` is free there and the marker module."""

    def _execute(self, ctx: Context, *, index: int) -> dict[str, Any]:
        free = HELD.acquire(blocking=False)
        if free:
            HELD.release()
        return {
            "index": index,
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "lock_free": free,
            "marker_imported": MARKER_MODULE in sys.modules,
        }


class ProbeProtocol(Protocol):
    """Independent :class:`ProbeUnit` s."""

    settings: ProbeSettings

    @classmethod
    def default_settings(cls) -> ProbeSettings:
        """Two units."""
        return ProbeSettings()

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        return [
            ProbeUnit(name=f"probe {i}", inputs={"index": i}) for i in range(self.settings.n_units)
        ]

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        return {"estimate": 0.0, "uncertainty": 0.0}


class StoreOutageSettings(ProtocolSettings):
    """A root and ``n_siblings`` dependants; sibling 0 meets a store outage."""

    n_siblings: int = Field(default=3, ge=2, le=20)


class OutageSiblingUnit(ProtocolUnit):
    """Sibling 0 raises StoreUnavailable; sibling 1 finishes only after that happened."""

    def _execute(self, ctx: Context, *, index: int, root: ProtocolUnitResult) -> dict[str, Any]:
        raised = ctx.shared / "outage-raised"
        if index == 0:
            raised.touch()
            raise StoreUnavailable("deliberate outage")
        if index == 1:
            # Bounded: a run that never starts sibling 0 fails the test, it does not hang.
            deadline = time.monotonic() + 120
            while not raised.exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("sibling 0 never ran")
                time.sleep(0.05)
        (ctx.shared / f"finished-{index}").touch()
        return {"index": index}


class StoreOutageRootUnit(ProtocolUnit):
    """The root: does nothing."""

    def _execute(self, ctx: Context) -> dict[str, Any]:
        return {"root": True}


class StoreOutageProtocol(Protocol):
    """One sibling raises a node error while another is still running."""

    settings: StoreOutageSettings

    @classmethod
    def default_settings(cls) -> StoreOutageSettings:
        """Three siblings."""
        return StoreOutageSettings()

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        root = StoreOutageRootUnit(name="root", inputs={})
        siblings = [
            OutageSiblingUnit(name=f"sibling {i}", inputs={"index": i, "root": root})
            for i in range(self.settings.n_siblings)
        ]
        return [root, *siblings]

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        return {"estimate": 0.0, "uncertainty": 0.0}


class ScriptUnit(ProbeUnit):
    """A unit that pretends to be defined in a script run as ``python script.py``."""

    __module__ = "__main__"


class ScriptProtocol(Protocol):
    """Pretends to be defined in a script run as ``python script.py``."""

    __module__ = "__main__"
    settings: ProbeSettings

    @classmethod
    def default_settings(cls) -> ProbeSettings:
        """One unit."""
        return ProbeSettings(n_units=1)

    def _create(
        self,
        stateA: ChemicalSystem,
        stateB: ChemicalSystem,
        mapping: dict[str, Any] | None,
        extends: ProtocolDAGResult | None,
        seed: int,
    ) -> list[ProtocolUnit]:
        return [ScriptUnit(name="probe", inputs={"index": 0})]

    def _gather(self, dag_results: list[ProtocolDAGResult]) -> dict[str, Any]:
        return {"estimate": 0.0, "uncertainty": 0.0}


# Annotations resolve in the class's module, which ``__main__`` is not.
ScriptProtocol.model_rebuild(_types_namespace={"ProbeSettings": ProbeSettings})
