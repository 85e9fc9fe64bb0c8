"""``--demo-kill``: SIGKILL one compute service mid-DAG, then show what the other reused.

The services log one JSON object per line. The victim's log says which Task it
claimed and which units it uploaded; as soon as it has uploaded
:attr:`KillDemo.kill_after` units of a Task that is not finished, its process
group is SIGKILLed. Once the demo is complete, the Task's final DAG result
(from the user API) lists every unit, and the survivor's log says which of them
it ran (``event=unit_start``) and which it continued from a checkpoint
(``event=checkpoint_restored``): every other unit of the result was reused,
not run again. Each reused unit is checked against the victim's uploads.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alchemiscale_like.cli.quickstart.errors import QuickstartError

if TYPE_CHECKING:
    from alchemiscale_like.cli.quickstart.processes import ManagedProcess, Supervisor
    from alchemiscale_like.client import UserClient
    from alchemiscale_like.models.scope import ScopedKey


#: Service events after which a Task is no longer being run by that service.
_TASK_OVER = frozenset({"task_finished", "task_done", "claim_lost", "task_abandoned", "release"})


class EventLog:
    """Reads a service's JSON-lines log as it grows (lines that are not JSON are skipped)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def new_events(self) -> list[dict[str, Any]]:
        """The events written since the last call."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for its end
        return [event for line in lines if (event := _parse(line)) is not None]

    def all_events(self) -> list[dict[str, Any]]:
        """Every event in the file."""
        return EventLog(self.path).new_events()


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


@dataclass(frozen=True)
class Kill:
    """The SIGKILL the demo dealt: to whom, when, and what it had uploaded of its Task."""

    service: str
    task: str
    at: dt.datetime
    uploaded: tuple[str, ...]
    in_flight: tuple[str, ...]
    """Units it had started and not uploaded."""


@dataclass
class KillDemo:
    """Watches the victim's log and SIGKILLs it mid-DAG (call :meth:`step` in the loop).

    The kill comes once the victim has uploaded ``kill_after`` units of a Task and a
    checkpoint of the unit in flight, or ``kill_after + 1`` units without one.
    """

    victim: ManagedProcess
    kill_after: int = 2
    """Uploaded units of a Task before the kill; one more if no checkpoint of the unit in
    flight was uploaded by then (the kill is more telling once there is one)."""
    kill: Kill | None = None
    _log: EventLog | None = None
    _current: str | None = None
    _uploaded: dict[str, list[str]] = field(default_factory=dict)
    _started: dict[str, list[str]] = field(default_factory=dict)
    _checkpointed: dict[str, set[str]] = field(default_factory=dict)

    def step(self, supervisor: Supervisor) -> Kill | None:
        """Kill the victim once it has uploaded ``kill_after`` units of an unfinished Task."""
        if self.kill is not None:
            return None
        self._read()
        task = self._current
        if task is None or not self._due(task):
            return None
        supervisor.kill(self.victim)
        at = dt.datetime.now(dt.UTC)
        self._read()  # anything logged between the last read and the kill
        if self._current != task:
            raise QuickstartError(f"{self.victim.name} finished task {task} as it was killed")
        uploaded = tuple(self._uploaded[task])
        in_flight = tuple(u for u in self._started[task] if u not in uploaded)
        self.kill = Kill(self.victim.name, task, at, uploaded, in_flight)
        return self.kill

    def _due(self, task: str) -> bool:
        uploaded = self._uploaded[task]
        in_flight_checkpoint = any(u not in uploaded for u in self._checkpointed[task])
        return len(uploaded) > self.kill_after or (
            len(uploaded) == self.kill_after and in_flight_checkpoint
        )

    def _read(self) -> None:
        if self._log is None:
            self._log = EventLog(self.victim.log)
        for event in self._log.new_events():
            name, task = event.get("event"), event.get("task")
            if name == "claim" and isinstance(task, str):
                self._current = task
                self._uploaded[task] = []
                self._started[task] = []
                self._checkpointed[task] = set()
            elif name == "unit_start" and self._current is not None:
                self._started[self._current].append(str(event["unit"]))
            elif name == "unit_uploaded" and self._current is not None and task == self._current:
                if event.get("ok") is True:
                    self._uploaded[self._current].append(str(event["unit"]))
            elif name == "checkpoint_uploaded" and self._current is not None:
                if task == self._current:
                    self._checkpointed[self._current].add(str(event["unit"]))
            elif name in _TASK_OVER and task == self._current:
                self._current = None


@dataclass(frozen=True)
class UnitInfo:
    """A unit of the resumed Task's DAG."""

    key: str
    name: str


@dataclass(frozen=True)
class ResumeReport:
    """Which units of the killed service's Task the survivor reused, continued and ran."""

    kill: Kill
    survivor: str
    transformation: str
    reused: tuple[UnitInfo, ...]
    ran: tuple[UnitInfo, ...]
    continued: tuple[UnitInfo, ...]
    taken_over_after: float | None
    """Seconds from the kill to the survivor's claim of the Task."""

    def as_json(self) -> dict[str, Any]:
        """The report as plain JSON (``summary.json``)."""

        def units(found: tuple[UnitInfo, ...]) -> list[dict[str, str]]:
            return [{"key": u.key, "name": u.name} for u in found]

        return {
            "killed": self.kill.service,
            "survivor": self.survivor,
            "task": self.kill.task,
            "transformation": self.transformation,
            "uploaded_before_kill": list(self.kill.uploaded),
            "in_flight_at_kill": list(self.kill.in_flight),
            "reused": units(self.reused),
            "ran": units(self.ran),
            "continued_from_checkpoint": units(self.continued),
            "taken_over_after_seconds": self.taken_over_after,
        }


def resume_report(
    client: UserClient, kill: Kill, survivor: ManagedProcess, transformation: str
) -> ResumeReport:
    """What the survivor did with the killed service's Task (see the module docstring).

    Raises:
        QuickstartError: the survivor never ran the Task, or it reports reusing a unit
            the killed service had not uploaded.
    """
    from alchemiscale_like.models.scope import ScopedKey

    task = ScopedKey.from_str(kill.task)
    started, restored, first_claim = _survivor_work(EventLog(survivor.log).all_events(), kill.task)
    if first_claim is None:
        raise QuickstartError(f"{survivor.name} never claimed task {kill.task}")
    units = _final_units(client, task)
    reused = tuple(u for u in units if u.key not in started)
    # A unit in flight at the kill may have been recorded by the server before the
    # victim could log its upload (the SIGKILL fell in between): reusing it is right,
    # since a successful result lists only units the server recorded.
    not_uploaded = [
        u.name for u in reused if u.key not in kill.uploaded and u.key not in kill.in_flight
    ]
    if not_uploaded:
        raise QuickstartError(
            f"{survivor.name} did not run {', '.join(not_uploaded)} of task {kill.task}, "
            f"which {kill.service} had not uploaded"
        )
    ran = tuple(u for u in units if u.key in started)
    return ResumeReport(
        kill=kill,
        survivor=survivor.name,
        transformation=transformation,
        reused=reused,
        ran=ran,
        continued=tuple(u for u in ran if u.key in restored),
        taken_over_after=_seconds_after(first_claim, kill.at),
    )


def _survivor_work(
    events: list[dict[str, Any]], task: str
) -> tuple[dict[str, str], set[str], dict[str, Any] | None]:
    """Units the survivor started for ``task``, those it restored, and its first claim of it.

    A service runs one task at a time, so a unit started between a claim of ``task``
    and the next claim (or the task's end) belongs to ``task``. Every claim counts:
    a claim lost and made again (a lease that lapsed under load) is still its work.
    """
    started: dict[str, str] = {}
    restored: set[str] = set()
    first_claim = None
    working = False
    for event in events:
        name, of_task = event["event"], event.get("task")
        if name == "claim":
            working = of_task == task
            if working and first_claim is None:
                first_claim = event
        elif name in _TASK_OVER and of_task == task:
            working = False
        elif name == "unit_start" and working:
            started[str(event["unit"])] = str(event.get("name", ""))
        elif name == "checkpoint_restored" and of_task == task:
            restored.add(str(event["unit"]))
    return started, restored, first_claim


def _final_units(client: UserClient, task: ScopedKey) -> list[UnitInfo]:
    """The units of the Task's successful DAG result, in the order they completed."""
    refs = [ref for ref in client.get_task_results(task) if ref.ok]
    if not refs:
        raise QuickstartError(f"task {task} has no successful result")
    result = client.get_task_result(task, refs[-1].key)
    done = sorted((r for r in result.protocol_unit_results if r.ok()), key=lambda r: r.end_time)
    return [UnitInfo(r.source_key, r.name) for r in done]


def _seconds_after(event: dict[str, Any], moment: dt.datetime) -> float | None:
    try:
        when = dt.datetime.fromisoformat(str(event["ts"]))
    except (KeyError, ValueError):
        return None
    return (when - moment).total_seconds()
