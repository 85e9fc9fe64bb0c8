"""The ``alchemiscale-like`` command line: the root group, its commands in submodules.

Heavy imports happen inside commands so ``--help`` stays fast and a compute
node without server dependencies can use the commands it needs.
"""

from __future__ import annotations

import logging
import sys

import click


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )


@click.group()
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    envvar="ALCHEMISCALE_LIKE_LOG_LEVEL",
)
def cli(log_level: str) -> None:
    """alchemiscale-like: a checkpointing protocol-DAG compute service."""
    _setup_logging(log_level)


def main() -> None:
    """Entry point for ``python -m alchemiscale_like``."""
    cli()


# Registered last: each module adds its commands to ``cli``.
from alchemiscale_like.cli import (  # noqa: E402
    compute,
    database,
    identity,
    local,
    quickstart,
    servers,
    user_networks,
    user_results,
    user_tasks,
)

__all__ = [
    "cli",
    "compute",
    "database",
    "identity",
    "local",
    "main",
    "quickstart",
    "servers",
    "user_networks",
    "user_results",
    "user_tasks",
]
