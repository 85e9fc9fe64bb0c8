"""``alchemiscale-like quickstart``: the whole service on this machine, no servers to install.

It creates a data folder (SQLite state store, local object store), an admin user
and a compute identity, starts the user API, the compute API and two compute
services as subprocesses, submits the HarmonicTI example network, shows live
progress, prints each estimate beside its exact value, and stops everything
(unless ``--keep-running``). See :mod:`.run` for the order of things.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click

from alchemiscale_like.cli import cli

#: What the servers need beyond the core install (``pip install 'alchemiscale-like[server]'``).
_SERVER_MODULES = ("fastapi", "uvicorn", "argon2", "jwt", "multipart")


@cli.command("quickstart")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("alchemiscale-like-quickstart"),
    show_default=True,
    help="The data folder: state store, object store, configs, keys, logs, summary "
    "(an earlier quickstart's folder is replaced).",
)
@click.option(
    "--keep-running",
    is_flag=True,
    help="Leave the APIs and compute services running at the end (stop them with --stop).",
)
@click.option(
    "--stop",
    "stop",
    is_flag=True,
    help="Stop what a --keep-running quickstart left running in --data-dir, and exit.",
)
@click.option(
    "--demo-kill",
    is_flag=True,
    help="SIGKILL one compute service mid-DAG and show which units the other one reused.",
)
@click.option(
    "--repeats",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Tasks per transformation (their results are gathered into one estimate).",
)
@click.option(
    "--n-steps",
    type=click.IntRange(100, 10_000_000),
    default=30_000,
    show_default=True,
    help="Monte Carlo steps per lambda window (smaller: faster, noisier).",
)
@click.option(
    "--lease-seconds",
    type=click.FloatRange(2, 600),
    default=8.0,
    show_default=True,
    help="How long a silent compute service keeps its tasks (a killed one's are resumed after).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(10, 86_400),
    default=600.0,
    show_default=True,
    help="Give up (and stop everything) if the demo is not complete after this many seconds.",
)
def quickstart_command(
    data_dir: Path,
    keep_running: bool,
    stop: bool,
    demo_kill: bool,
    repeats: int,
    n_steps: int,
    lease_seconds: float,
    timeout: float,
) -> None:
    """Run the full service on this machine with the HarmonicTI example network.

    No servers, no Java: the state store is SQLite and the object store a folder,
    both in --data-dir. Keys are stored there with user-only permissions and never
    printed. Ctrl-C stops every process quickstart started.
    """
    from rich.console import Console

    from alchemiscale_like.cli.quickstart.deployment import DataDir
    from alchemiscale_like.cli.quickstart.errors import QuickstartError
    from alchemiscale_like.cli.quickstart.processes import stop_recorded

    root = data_dir.expanduser().absolute()
    if stop:
        try:
            stopped = stop_recorded(DataDir(root).processes)
        except QuickstartError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
        return
    missing = [m for m in _SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(
            f"quickstart runs the servers, which need {', '.join(missing)}: "
            "pip install 'alchemiscale-like[server]'"
        )
    from alchemiscale_like.cli.quickstart.demo import DemoSize
    from alchemiscale_like.cli.quickstart.run import QuickstartOptions, run_quickstart

    options = QuickstartOptions(
        data_dir=root,
        keep_running=keep_running,
        demo_kill=demo_kill,
        size=DemoSize(repeats=repeats, n_steps=n_steps),
        lease_seconds=lease_seconds,
        timeout=timeout,
    )
    sys.exit(run_quickstart(options, Console(soft_wrap=True)))
