"""``api`` and ``compute api``: serve the user API and the compute API under uvicorn."""

from __future__ import annotations

from collections.abc import Callable

import click

from alchemiscale_like.cli import cli


def _serve_options(default_port: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        command = click.option(
            "--workers", type=click.IntRange(min=1), default=1, show_default=True
        )(command)
        command = click.option("--port", type=int, default=default_port, show_default=True)(command)
        command = click.option(
            "--host",
            default="127.0.0.1",
            show_default=True,
            help="Interface to listen on (use 0.0.0.0 behind a proxy on a trusted network).",
        )(command)
        return command

    return decorate


def _serve(factory: str, host: str, port: int, workers: int) -> None:
    import uvicorn

    from alchemiscale_like.errors import AlchemiscaleLikeError
    from alchemiscale_like.security.tokens import load_token_settings

    try:
        load_token_settings()  # fail with one clear line before uvicorn starts
    except AlchemiscaleLikeError as exc:
        raise click.ClickException(str(exc)) from exc
    uvicorn.run(factory, factory=True, host=host, port=port, workers=workers, access_log=False)


@cli.command("api")
@_serve_options(8000)
def user_api(host: str, port: int, workers: int) -> None:
    """Serve the user API (stores and JWT secret from the environment)."""
    _serve("alchemiscale_like.server.user_api:create_user_app", host, port, workers)


@cli.group()
def compute() -> None:
    """Compute side: the compute API server and compute services."""


@compute.command("api")
@_serve_options(8001)
def compute_api(host: str, port: int, workers: int) -> None:
    """Serve the compute API (stores and JWT secret from the environment)."""
    _serve("alchemiscale_like.server.compute_api:create_compute_app", host, port, workers)
