"""``results`` (gathered estimates) and ``files list|download`` (a Task's result files)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from alchemiscale_like.cli import cli
from alchemiscale_like.cli.plot import check_plot_path, write_estimate_chart
from alchemiscale_like.cli.user_common import (
    JSON_OPTION,
    MODULE_OPTION,
    NETWORK_CLASSES,
    NETWORK_OR_TRANSFORMATION,
    TASK,
    UserCommand,
    UserGroup,
    console,
    human_size,
    import_modules,
    names_in_chain,
    print_json,
    print_table,
    short_key,
    with_user_client,
)
from alchemiscale_like.errors import NotFound, UnsafeFileName, ValidationError
from alchemiscale_like.models.filenames import validate_file_name
from alchemiscale_like.models.scope import ScopedKey

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from alchemiscale_like.client.user import ResultFileInfo, UserClient


# -- results --------------------------------------------------------------------------------


def _number(value: Any) -> Any:
    """A JSON-friendly estimate: finite floats and ints as they are, anything else as text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else str(value)
    try:
        as_float = float(value)  # numpy scalars
    except (TypeError, ValueError):
        return str(value)
    return as_float if math.isfinite(as_float) else str(as_float)


def _shown(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


@cli.command("results", cls=UserCommand)
@click.argument("target", metavar="TRANSFORMATION|NETWORK", type=NETWORK_OR_TRANSFORMATION)
@MODULE_OPTION
@JSON_OPTION
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the network's estimate chart to this .png, .svg or .pdf (the "
    "dashboard's chart; needs the 'plot' extra: matplotlib).",
)
@with_user_client
def results(
    client: UserClient,
    target: ScopedKey,
    modules: tuple[str, ...],
    as_json: bool,
    plot_path: Path | None,
) -> None:
    """Estimates of a transformation, or of every transformation of a network.

    The successful DAG results are gathered here with the protocol's own code: its
    module must be importable (the shipped protocols are; -m for your own). The
    --plot chart is drawn from the estimates the compute services stored with each
    result (the same numbers the dashboard shows), so it needs no protocol code.
    """
    if plot_path is not None:
        if target.qualname not in NETWORK_CLASSES:
            raise click.BadParameter("--plot charts a NETWORK", param_hint="--plot")
        check_plot_path(plot_path)
    import_modules(modules)
    if target.qualname in NETWORK_CLASSES:
        names = names_in_chain(client.get_network_json(target))
        transformations = sorted(client.get_network_transformations(target))
    else:
        names = names_in_chain(client.get_transformation_json(target))
        transformations = [target]
    rows = []
    for tf in transformations:
        gathered = client.get_transformation_results(tf)
        data = gathered.data if gathered is not None else {}
        rows.append(
            {
                "transformation": str(tf),
                "name": names.get(tf.gufe_key),
                "complete": int(client.get_transformation_status(tf).get("complete", 0)),
                "results": gathered.n_protocol_dag_results if gathered is not None else 0,
                "estimate": _number(data.get("estimate")),
                "uncertainty": _number(data.get("uncertainty")),
                "exact": _number(data.get("analytic")),
            }
        )
    if plot_path is not None:
        estimates = client.get_network_estimates(target)
        write_estimate_chart(estimates, plot_path)
        click.echo(f"wrote the chart of {len(estimates)} transformations to {plot_path}", err=True)
    if as_json:
        print_json(rows)
        return
    table = []
    for row in rows:
        estimate = None
        if row["estimate"] is not None:
            estimate = _shown(row["estimate"])
            if row["uncertainty"] is not None:
                estimate += f" ± {_shown(row['uncertainty'])}"
        exact = _shown(row["exact"]) if row["exact"] is not None else None
        key = short_key(row["transformation"])
        table.append((row["name"], key, row["complete"], estimate, exact))
    print_table(("name", "transformation", "complete", "estimate", "exact"), table)


# -- files ----------------------------------------------------------------------------------


@cli.group(cls=UserGroup)
def files() -> None:
    """List and download a Task's result files."""


@files.command("list")
@click.argument("task", type=TASK)
@JSON_OPTION
@with_user_client
def files_list(client: UserClient, task: ScopedKey, as_json: bool) -> None:
    """List TASK's result files: name, size, sha256 and the unit attempt that made it."""
    found = sorted(client.list_result_files(task), key=lambda f: (f.name, f.unit_key, f.attempt))
    if as_json:
        print_json([f.model_dump(mode="json") for f in found])
        return
    print_table(
        ("name", "size", "sha256", "unit", "attempt", "ok"),
        [
            (
                f.name,
                human_size(f.size),
                f.sha256[:16],
                short_key(f.unit_key),
                f.attempt,
                _yes(f.unit_ok),
            )
            for f in found
        ],
    )


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def select_files(
    found: list[ResultFileInfo], name: str | None, unit: str | None
) -> list[ResultFileInfo]:
    """The files to download: NAME's (or all), one per name, from successful attempts first.

    A unit's latest attempt wins over its earlier ones; files of failed attempts are
    taken only when NAME is given and no successful attempt has it.

    Raises:
        NotFound: no file matches.
        ValidationError: one name belongs to several units (choose one with ``--unit``).
    """
    matching = [
        f
        for f in found
        if (name is None or f.name == name) and (unit is None or f.unit_key == unit)
    ]
    successful = [f for f in matching if f.unit_ok]
    chosen = successful if successful or name is None else matching
    latest: dict[tuple[str, str], ResultFileInfo] = {}
    for f in sorted(chosen, key=lambda f: f.attempt):
        latest[(f.name, f.unit_key)] = f
    by_name: dict[str, list[ResultFileInfo]] = {}
    for f in latest.values():
        by_name.setdefault(f.name, []).append(f)
    shared = sorted(n for n, fs in by_name.items() if len(fs) > 1)
    if shared:
        raise ValidationError(
            f"{', '.join(shared)}: made by several units; choose one with --unit UNIT_KEY"
        )
    if name is not None and not by_name:
        raise NotFound(f"the task has no result file {name!r}")
    return sorted((fs[0] for fs in by_name.values()), key=lambda f: f.name)


def target_path(dest: Path, name: str) -> Path:
    """Where file ``name`` goes inside ``dest``.

    Raises:
        UnsafeFileName: ``name`` is unsafe, or the path would leave ``dest`` (a symlink).
    """
    validate_file_name(name)
    root = dest.resolve()
    target = (root / name).resolve()
    if not target.is_relative_to(root) or target == root:
        raise UnsafeFileName(f"{name!r} would be written outside {dest}")
    return target


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _advance(bar: Progress, bar_task: TaskID) -> Callable[[int, int | None], None]:
    """A download progress callback moving ``bar_task`` of ``bar``."""

    def advance(done: int, total: int | None) -> None:
        bar.update(bar_task, completed=done)

    return advance


def _parse_targets(args: tuple[str, ...]) -> tuple[str | None, Path]:
    if len(args) not in (1, 2):
        raise click.UsageError("give TASK [NAME] DEST")
    if len(args) == 1:
        return None, Path(args[0])
    try:
        return validate_file_name(args[0]), Path(args[1])
    except UnsafeFileName as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from exc


@files.command("download")
@click.argument("task", type=TASK)
@click.argument("targets", metavar="[NAME] DEST", nargs=-1, required=True)
@click.option("--unit", default=None, metavar="UNIT_KEY", help="Only files of this unit.")
@click.option(
    "--redirect", is_flag=True, help="Fetch the bytes from the object store (presigned URL)."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar on stderr [default: when stderr is a terminal].",
)
@JSON_OPTION
@with_user_client
def files_download(
    client: UserClient,
    task: ScopedKey,
    targets: tuple[str, ...],
    unit: str | None,
    redirect: bool,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Download TASK's file NAME (or all its files) into the folder DEST.

    Files keep their names (nested names make subfolders) and are written only
    inside DEST; each is verified against its sha256 and appears only once
    complete. A file already in DEST with the right sha256 is not fetched again.
    """
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    name, dest = _parse_targets(targets)
    chosen = select_files(client.list_result_files(task), name, unit)
    if dest.exists() and not dest.is_dir():
        raise ValidationError(f"DEST {dest} is not a folder")
    planned = [(f, target_path(dest, f.name)) for f in chosen]
    folders = [str(path) for _, path in planned if path.is_dir()]
    if folders:
        raise ValidationError(f"a folder stands where a file goes: {', '.join(folders)}")
    show = console(stderr=True).is_terminal if progress is None else progress
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
        disable=not show,
    )
    rows: list[dict[str, Any]] = []
    with bar:
        for ref, path in planned:
            bar_task = bar.add_task(ref.name, total=ref.size)
            if path.is_file() and _sha256_of(path) == ref.sha256:
                outcome = "present"
                bar.update(bar_task, completed=ref.size)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                target_path(dest, ref.name)  # again: a folder made above must not be a link
                client.download_result_file(
                    ref,
                    path,
                    redirect=redirect,
                    progress=_advance(bar, bar_task),
                )
                outcome = "downloaded"
            rows.append(
                {
                    "name": ref.name,
                    "path": str(path),
                    "size": ref.size,
                    "sha256": ref.sha256,
                    "unit_key": ref.unit_key,
                    "attempt": ref.attempt,
                    "outcome": outcome,
                }
            )
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"{task} has no result files of successful units", err=True)
        return
    print_table(
        ("name", "size", "sha256", "path", "outcome"),
        [
            (r["name"], human_size(r["size"]), r["sha256"][:16], r["path"], r["outcome"])
            for r in rows
        ],
    )
