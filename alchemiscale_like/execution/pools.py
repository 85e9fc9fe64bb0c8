"""Where worker attempts run: a local process pool or a Dask cluster.

Each pool is a context manager yielding a :data:`Submit` function that sends
one call of :func:`~.worker.run_unit` (text and numbers only) and returns a
:class:`concurrent.futures.Future` of its JSON answer, so
:class:`~.dag_executor.DAGExecutor` drives both with one loop.

The process pool never forks this (possibly multi-threaded) process: its
workers are started by ``forkserver`` (``spawn`` where there is none) and
import the protocol modules in their initializer. A script that runs DAGs
with a pool must guard its top level with ``if __name__ == "__main__":``, as
for any spawned pool.

Dask: ``scheduler=None`` starts a :class:`distributed.LocalCluster` on
127.0.0.1 (2 worker processes, 1 thread each, no dashboard) for the run and
closes it afterwards; an address connects to an existing cluster. Result files
stay in the run's folders, so every Dask worker must see them at the same path:
a LocalCluster does; a real cluster needs a shared filesystem for the compute
service's scratch folder (checked on every call, see
:meth:`~.worker.WorkerSpec.check_shared`).
"""

from __future__ import annotations

import logging
import multiprocessing
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alchemiscale_like.errors import ExecutionError
from alchemiscale_like.execution.worker import SHIPPED_PROTOCOLS, init_pool_worker, run_unit

log = logging.getLogger(__name__)

#: ``submit(name, args)``: run ``run_unit(*args)`` in a worker; ``name`` labels the call.
Submit = Callable[[str, tuple[str | int, ...]], "Future[str]"]

#: The LocalCluster started when no scheduler address is given.
LOCAL_CLUSTER_WORKERS = 2


def start_method() -> str:
    """The process start method of the pool: ``forkserver``, else ``spawn``; never ``fork``."""
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


@contextmanager
def process_pool(spec_json: str, max_workers: int) -> Iterator[Submit]:
    """A local process pool of ``max_workers`` workers for one DAG run."""
    context = multiprocessing.get_context(start_method())
    if isinstance(context, multiprocessing.context.ForkServerContext):
        # The fork server imports the package once (it is single-threaded, so forking
        # it is safe) and every worker starts with it; user modules, which may start
        # threads on import, are left to each worker's initializer. This only takes
        # effect when this process starts its fork server.
        context.set_forkserver_preload([run_unit.__module__, SHIPPED_PROTOCOLS])
    pool = ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=context,
        initializer=init_pool_worker,
        initargs=(spec_json,),
    )

    def submit(name: str, args: tuple[str | int, ...]) -> Future[str]:
        return pool.submit(run_unit, *args)  # type: ignore[arg-type]

    try:
        yield submit
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@contextmanager
def shared_probe(workdir: Path) -> Iterator[str]:
    """A marker file in ``workdir`` for the run; workers that cannot see it refuse to run."""
    name = f".shared-probe-{uuid.uuid4().hex}"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / name).touch()
    try:
        yield name
    finally:
        (workdir / name).unlink(missing_ok=True)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ExecutionError(
            "the 'dask' execution model needs dask.distributed: "
            "pip install 'alchemiscale-like[dask]'"
        ) from exc
    return distributed


@contextmanager
def dask_pool(scheduler: str | None) -> Iterator[Submit]:
    """A Dask client on ``scheduler``, or on a LocalCluster of its own (see module docstring).

    Raises:
        ExecutionError: dask.distributed is not installed.
    """
    distributed = _distributed()
    cluster = None
    client = None
    try:
        if scheduler is None:
            cluster = distributed.LocalCluster(
                n_workers=LOCAL_CLUSTER_WORKERS,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # The scheduler serves HTTP (health, metrics) even without a dashboard,
                # by default on the fixed port 8787: a second cluster on the node (another
                # task, service or user) would collide with it.
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            )
            address = cluster.scheduler_address
        else:
            address = scheduler
        client = distributed.Client(address, set_as_default=False)
        log.info("event=dask_connected scheduler=%s local=%s", address, cluster is not None)
        executor = client.get_executor(pure=False)
        run_id = uuid.uuid4().hex[:12]

        def submit(name: str, args: tuple[str | int, ...]) -> Future[str]:
            # A unique key per run: a shared cluster may still hold an equal key of
            # an earlier run, whose answer it would hand back instead of running.
            future: Future[str] = executor.submit(run_unit, *args, key=f"{name}-{run_id}")
            return future

        try:
            yield submit
        except BaseException:
            executor.shutdown(wait=False)  # cancels what is still queued or running
            raise
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
