"""``compute synchronous``: run a compute service (``compute api`` lives in :mod:`.servers`)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from alchemiscale_like.cli.servers import compute
from alchemiscale_like.errors import AlchemiscaleLikeError, ValidationError


@compute.command("synchronous")
@click.option(
    "-c",
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="service.yaml (settings; ALCHEMISCALE_LIKE_COMPUTE_* variables override it).",
)
@click.option("--once", is_flag=True, help="Exit when no task is left (batch jobs).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None)
def synchronous(config: Path | None, once: bool, log_format: str | None) -> None:
    """Run a compute service: claim tasks, run them, upload each unit as it completes."""
    import alchemiscale_like.protocols  # noqa: F401 -- registers the shipped protocols
    from alchemiscale_like.client import ComputeClient
    from alchemiscale_like.compute.logs import configure_logging
    from alchemiscale_like.compute.service import SynchronousComputeService
    from alchemiscale_like.compute.settings import ComputeServiceSettings

    overrides: dict[str, object] = {}
    if once:
        overrides["once"] = True
    if log_format is not None:
        overrides["log_format"] = log_format
    try:
        settings = ComputeServiceSettings.load(config, **overrides)
        for module in settings.modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise ValidationError(f"cannot import {module!r} (in 'modules'): {exc}") from exc
        configure_logging(settings.log_level, settings.log_format, settings.log_file)
        suffix = settings.service_suffix
        client = ComputeClient(
            settings.api_url,
            settings.identifier,
            settings.read_key(),
            service_id=f"{settings.identifier}~{suffix}" if suffix else None,
        )
        service = SynchronousComputeService(settings, client)
        service.install_signal_handlers()
        with client:
            code = service.run()
    except AlchemiscaleLikeError as exc:
        raise click.ClickException(str(exc)) from exc
    sys.exit(code)
