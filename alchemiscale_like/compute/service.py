"""`SynchronousComputeService`: claim Tasks, run them unit by unit, upload as they complete.

One service holds one registration. It heartbeats in a background thread,
claims tasks, runs each with :func:`~alchemiscale_like.execution.recorder.run_recorded`
(the path ``alchemiscale-like run`` uses) through an :class:`~.recorder.APIRecorder`,
and on every way out (signal, ``max_time``, ``max_tasks``, ``once``, an error)
releases what it still holds and deregisters.
"""

from __future__ import annotations

import logging
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from alchemiscale_like.compute.api import ComputeAPI
from alchemiscale_like.compute.recorder import APIRecorder
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.errors import (
    ClaimLost,
    NotFound,
    StoreUnavailable,
    ValidationError,
    log_token,
)
from alchemiscale_like.execution.recorder import ExecutionOptions, run_recorded
from alchemiscale_like.models.protocol import registered_protocol_names
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.transformation import Transformation

log = logging.getLogger(__name__)

#: A second signal within this many seconds of the first is the same stop request.
_REPEAT_WINDOW = 5.0
#: Transformations kept in memory (content-addressed, so never stale).
_TRANSFORMATIONS_KEPT = 16


class SynchronousComputeService:
    """A compute service that runs one claimed Task at a time (see the module docstring).

    Args:
        settings: the service's settings.
        api: the compute API (a ``ComputeClient`` in production).
        clock: monotonic seconds (tests may pass their own).

    Raises:
        ValidationError: ``settings.protocols`` names a protocol not registered here.
    """

    def __init__(
        self,
        settings: ComputeServiceSettings,
        api: ComputeAPI,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.api = api
        self._clock = clock
        self._started = clock()
        self._stop = threading.Event()
        self._held: set[ScopedKey] = set()
        self._held_lock = threading.Lock()
        self.tasks_done = 0
        self._protocols = settings.protocols or registered_protocol_names()
        unknown = sorted(set(self._protocols) - set(registered_protocol_names()))
        if unknown:
            # Registered with them, it would claim their tasks and fail to decode each.
            raise ValidationError(
                f"protocols {unknown} are not registered here: import their module "
                "first (the 'modules' setting)"
            )
        self._file_cache = settings.file_cache()
        self._transformations: dict[ScopedKey, Transformation] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the service to stop: no new claims, no new units; it then cleans up."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once a stop was asked for (signal, walltime, ``stop()``)."""
        return self._stop.is_set() or self._walltime_near()

    def _seconds_until_stop(self) -> float:
        """Seconds until the walltime stop point (infinity without ``max_time``)."""
        if self.settings.max_time is None:
            return float("inf")
        remaining = self.settings.max_time - (self._clock() - self._started)
        return max(0.0, remaining - (self.settings.stop_margin or 0.0))

    def _walltime_near(self) -> bool:
        return self._seconds_until_stop() <= 0.0

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: stop cleanly; a second signal (after a few seconds) exits at once."""

        first: list[float] = []

        def handle(signum: int, frame: FrameType | None) -> None:
            now = time.monotonic()
            if first and now - first[0] > _REPEAT_WINDOW:
                log.warning("event=second_signal signal=%d exiting=now", signum)
                raise SystemExit(128 + signum)
            if first:
                # Schedulers signal every process of a job and job scripts forward the
                # same signal: a repeat this soon is the same request, not "hurry up".
                log.info("event=repeated_signal signal=%d", signum)
                return
            first.append(now)
            log.warning("event=signal signal=%d stopping=true", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self) -> int:
        """Register, work until told to stop (or out of work with ``once``); 0 on a clean exit."""
        self.api.register(self._protocols)
        log.info(
            "event=service_start service=%s protocols=%s",
            self.api.service_id,
            ",".join(self._protocols),  # one token: a list's repr has spaces
        )
        beat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        beat.start()
        try:
            self._loop()
        finally:
            self._stop.set()
            beat.join(timeout=5)
            self._release_held()
            self._deregister()
        log.info("event=service_stop service=%s tasks=%d", self.api.service_id, self.tasks_done)
        return 0

    # -- the claim loop --------------------------------------------------------------------

    def _loop(self) -> None:
        idle = self.settings.idle_sleep
        while not self.stopping and not self._enough_tasks():
            # Between tasks nothing is held but what an outage kept us from giving back.
            self._release_held()
            claimed = self._claim()
            if not claimed:
                # Only an empty answer means no task is left: a failed claim (None) is
                # retried after the pause, like an idle round, even with ``once``.
                if claimed is not None and self.settings.once:
                    log.info("event=no_work once=true")
                    return
                pause = min(
                    random.uniform(idle / 2, idle),  # noqa: S311 (jitter, not crypto)
                    self._seconds_until_stop(),
                )
                log.debug("event=idle seconds=%.2f", pause)
                self._stop.wait(pause)
                idle = min(idle * 2, self.settings.idle_sleep_max)
                continue
            idle = self.settings.idle_sleep
            for task in claimed:
                if self.stopping:
                    break
                self._process(task)

    def _enough_tasks(self) -> bool:
        return self.settings.max_tasks is not None and self.tasks_done >= self.settings.max_tasks

    def _claim(self) -> list[ScopedKey] | None:
        """The tasks claimed (maybe none), or None if the API could not be reached."""
        count = self.settings.tasks_per_claim
        if self.settings.max_tasks is not None:
            count = min(count, self.settings.max_tasks - self.tasks_done)
        try:
            claimed = self.api.claim_tasks(count, self._protocols, self.settings.scopes)
        except StoreUnavailable as exc:
            log.warning("event=claim_failed error=%s", log_token(exc))
            return None
        except NotFound as exc:
            # Silent past the lease (a stalled node, a long pause): the server deregistered
            # us and gave our tasks back. We hold nothing now; register afresh and go on.
            log.warning(
                "event=registration_lost service=%s error=%s", self.api.service_id, log_token(exc)
            )
            with self._held_lock:
                self._held.clear()
            self.api.register(self._protocols)
            log.info("event=reregistered service=%s", self.api.service_id)
            return None
        with self._held_lock:
            self._held.update(claimed)
        for task in claimed:
            log.info("event=claim task=%s", task)
        return claimed

    def _process(self, task: ScopedKey) -> None:
        started = self._clock()
        workdir = self.settings.scratch_dir / "tasks" / task.gufe_key
        recorder = APIRecorder(self.api, task)
        finished = threading.Event()
        watcher = threading.Thread(
            target=self._watch,
            args=(recorder, workdir / "work" / "STOP", finished),
            name="checkpoints",
            daemon=True,
        )
        watcher.start()
        try:
            record = self.api.get_task(task)
            recorder.task_record = record
            transformation = self._transformation(task, record.transformation)
            run_recorded(
                transformation,
                recorder,
                workdir,
                options=ExecutionOptions(
                    model=self.settings.execution,
                    max_workers=self.settings.max_workers,
                    max_retries=self.settings.unit_retries,
                    modules=tuple(self.settings.modules),
                    scheduler=self.settings.scheduler,
                ),
                claim=record.attempts,
                should_stop=lambda: self.stopping,
                file_cache=self._file_cache,
            )
        except ClaimLost as exc:
            log.warning("event=claim_lost task=%s detail=%r", task, str(exc))
            self._forget(task)
            return
        except StoreUnavailable as exc:
            # An outage that outlasted the client's retries: what was recorded stays
            # recorded, so give the task back (another service, or this one after the
            # pause, resumes it) and keep the daemon alive.
            log.warning("event=task_abandoned task=%s error=%s", task, log_token(exc))
            self._release(task)
            self._stop.wait(min(self.settings.idle_sleep, self._seconds_until_stop()))
            return
        finally:
            finished.set()
            watcher.join()
        if recorder.final_status is None:
            # Stopped with work left: what the units saved goes up before the release.
            self._upload_checkpoints(recorder)
            log.info("event=task_interrupted task=%s", task)
            return  # still held: released on the way out
        self._forget(task)
        self.tasks_done += 1
        shutil.rmtree(workdir, ignore_errors=True)
        log.info(
            "event=task_done task=%s status=%s seconds=%.2f",
            task,
            recorder.final_status,
            self._clock() - started,
        )

    def _transformation(self, task: ScopedKey, sk: ScopedKey) -> Transformation:
        """The Task's Transformation ``sk``: fetched once, then reused for its other Tasks."""
        found = self._transformations.get(sk)
        if found is None:
            found = self.api.get_task_transformation(task)
            if len(self._transformations) >= _TRANSFORMATIONS_KEPT:
                del self._transformations[next(iter(self._transformations))]
            self._transformations[sk] = found
        return found

    def _forget(self, task: ScopedKey) -> None:
        with self._held_lock:
            self._held.discard(task)

    def _watch(self, recorder: APIRecorder, stop_file: Path, finished: threading.Event) -> None:
        """While a task runs: upload checkpoints every interval; on a stop, after the
        grace period, ask the unit in flight to checkpoint and stop (the stop file)."""
        last_upload = self._clock()
        stop_seen: float | None = None
        while not finished.wait(0.2):
            now = self._clock()
            if self.stopping and not stop_file.exists():
                stop_seen = now if stop_seen is None else stop_seen
                if now - stop_seen >= self.settings.stop_grace:
                    stop_file.parent.mkdir(parents=True, exist_ok=True)
                    stop_file.touch()
                    log.info("event=unit_stop_requested file=%s", stop_file)
            if now - last_upload >= self.settings.checkpoint_interval:
                self._upload_checkpoints(recorder)
                last_upload = now

    @staticmethod
    def _upload_checkpoints(recorder: APIRecorder) -> None:
        if recorder.checkpoints is None:
            return
        try:
            recorder.checkpoints.upload_changed()
        except Exception as exc:  # a missed upload is retried at the next interval
            log.warning(
                "event=checkpoint_upload_failed task=%s error=%s", recorder.task, log_token(exc)
            )

    # -- background and exit ---------------------------------------------------------------

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval):
            try:
                self.api.heartbeat()
            except Exception as exc:  # a failed beat must not kill the thread; the next retries
                log.warning("event=heartbeat_failed error=%s", log_token(exc))

    def _release_held(self) -> None:
        with self._held_lock:
            held = sorted(self._held)
        for task in held:
            self._release(task)

    def _release(self, task: ScopedKey) -> None:
        """Give ``task`` back to waiting; if that fails it stays held, to be released later.

        A live service keeps its lease alive, so no expiry would ever release a task it
        forgot: the claim loop tries again before its next claim, and ``run`` on the way
        out (after which deregistering, or the lease expiry, releases it).
        """
        try:
            self.api.release_task(task)
            log.info("event=release task=%s", task)
        except ClaimLost:
            log.info("event=release_skipped task=%s reason=claim_lost", task)
        except Exception as exc:  # kept: retried before the next claim
            log.warning("event=release_failed task=%s error=%s", task, log_token(exc))
            return
        self._forget(task)

    def _deregister(self) -> None:
        try:
            released = self.api.deregister()
        except Exception as exc:  # the lease expiry deregisters us if we cannot
            log.warning("event=deregister_failed error=%s", log_token(exc))
            return
        log.info("event=deregistered service=%s released=%d", self.api.service_id, len(released))
