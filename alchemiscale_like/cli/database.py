"""``database init|check|reset``: manage the state store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from alchemiscale_like.cli import cli
from alchemiscale_like.errors import AlchemiscaleLikeError

if TYPE_CHECKING:
    from alchemiscale_like.storage.statestore import StateStore


@cli.group()
def database() -> None:
    """Manage the state store (Neo4j: NEO4J_URL, ...; or SQLite: see README, configuration)."""


def _on_statestore(action: Callable[[StateStore], None]) -> None:
    """Run ``action`` on the configured state store, errors for humans."""
    from alchemiscale_like.storage.statestore import build_statestore

    store = build_statestore()
    try:
        action(store)
    except AlchemiscaleLikeError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


@database.command("init")
def database_init() -> None:
    """Create constraints and indexes, or the SQLite tables (safe to run again)."""
    _on_statestore(lambda store: store.initialize())
    click.echo("state store initialized")


@database.command("check")
def database_check() -> None:
    """Exit 0 if the state store is reachable and initialized."""
    _on_statestore(lambda store: store.check())
    click.echo("state store ok")


@database.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def database_reset(yes: bool) -> None:
    """Delete EVERYTHING in the state store (data, constraints, indexes)."""
    if not yes:
        click.confirm(
            "This deletes every network, task and result reference. Continue?", abort=True
        )
    _on_statestore(lambda store: store.reset())
    click.echo("state store reset")
