"""Local commands: ``run`` (a network on this machine) and ``example``."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from alchemiscale_like.cli import cli
from alchemiscale_like.errors import AlchemiscaleLikeError


def _load_transformations(path: Path, wanted: tuple[str, ...]) -> list[Any]:
    from alchemiscale_like.models import AlchemicalNetwork, Tokenizable, Transformation

    obj = Tokenizable.from_json(path.read_bytes())
    if isinstance(obj, AlchemicalNetwork):
        transformations = list(obj.edges)
    elif isinstance(obj, Transformation):
        transformations = [obj]
    else:
        raise click.UsageError(
            f"{path} holds a {type(obj).__name__}, not a network or transformation"
        )
    if wanted:
        by_key = {t.key: t for t in transformations}
        missing = [k for k in wanted if k not in by_key]
        if missing:
            raise click.UsageError(f"not in {path}: {', '.join(missing)}")
        transformations = [by_key[k] for k in wanted]
    return transformations


def _print_estimates(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        click.echo(json.dumps(row, sort_keys=True))


@cli.command()
@click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Checkpoint folder; rerun with the same folder to resume.",
)
@click.option("--transformation", "wanted", multiple=True, help="Run only this key (repeatable).")
@click.option(
    "--execution",
    type=click.Choice(["inprocess", "processes", "dask"]),
    default="inprocess",
    show_default=True,
    help="Run units one by one, independent units in a process pool, or on a Dask cluster.",
)
@click.option(
    "--workers", type=int, default=None, help="Process pool size for --execution processes."
)
@click.option(
    "--scheduler",
    default=None,
    help="Dask scheduler address for --execution dask (default: a local cluster); the "
    "cluster's workers must share the --out folder's filesystem.",
)
@click.option(
    "--retries", type=int, default=0, show_default=True, help="Extra attempts per failed unit."
)
@click.option(
    "--seed", type=int, default=None, help="DAG seed (used when the DAG is first created)."
)
@click.option(
    "-m",
    "--module",
    "modules",
    multiple=True,
    help="Import this Python module first (your own protocols).",
)
def run(
    input_path: Path,
    out_dir: Path,
    wanted: tuple[str, ...],
    execution: str,
    workers: int | None,
    scheduler: str | None,
    retries: int,
    seed: int | None,
    modules: tuple[str, ...],
) -> None:
    """Run the DAGs of a network (or one transformation) in INPUT on this machine.

    INPUT is keyed-chain JSON of an AlchemicalNetwork or a Transformation. Each
    unit result is saved in --out as soon as it completes; running the same
    command again after a crash resumes from there.
    """
    import alchemiscale_like.protocols  # noqa: F401 -- registers the shipped protocols
    from alchemiscale_like.execution.local_run import run_transformation

    for module in modules:
        importlib.import_module(module)
    try:
        transformations = _load_transformations(input_path, wanted)
        rows = []
        failed = False
        for transformation in transformations:
            dag_result = run_transformation(
                transformation,
                out_dir,
                model=execution,  # type: ignore[arg-type]
                max_workers=workers,
                max_retries=retries,
                seed=seed,
                modules=modules,
                scheduler=scheduler,
            )
            row: dict[str, Any] = {
                "transformation": transformation.key,
                "name": transformation.name,
                "ok": dag_result.ok(),
            }
            if dag_result.ok():
                gathered = transformation.gather([dag_result])
                row.update(estimate=gathered.get_estimate(), uncertainty=gathered.get_uncertainty())
            else:
                failed = True
                row["failures"] = [list(f.exception) for f in dag_result.protocol_unit_failures]
            rows.append(row)
        _print_estimates(rows)
    except AlchemiscaleLikeError as exc:
        raise click.ClickException(str(exc)) from exc
    if failed:
        sys.exit(1)


@cli.command()
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--n-steps", type=int, default=2000, show_default=True, help="MC steps per window.")
@click.option("--n-repeats", type=int, default=2, show_default=True)
def example(output: Path, n_steps: int, n_repeats: int) -> None:
    """Write an example HarmonicTI network (keyed-chain JSON) to OUTPUT."""
    from alchemiscale_like.protocols import HarmonicTISettings
    from alchemiscale_like.protocols.examples import harmonic_network

    network = harmonic_network(settings=HarmonicTISettings(n_steps=n_steps, n_repeats=n_repeats))
    output.write_text(network.to_json())
    click.echo(f"wrote {network.key} ({len(network.edges)} transformations) to {output}")
