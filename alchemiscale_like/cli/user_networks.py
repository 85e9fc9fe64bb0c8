"""``network submit|list`` and ``status``: networks on the user API and their task counts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from alchemiscale_like.cli import cli
from alchemiscale_like.cli.user_common import (
    JSON_OPTION,
    MODULE_OPTION,
    NETWORK_CLASSES,
    NETWORK_OR_TRANSFORMATION,
    ScopeType,
    UserCommand,
    UserGroup,
    import_modules,
    names_in_chain,
    print_json,
    print_table,
    with_user_client,
)
from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.task import TaskStatus

if TYPE_CHECKING:
    from alchemiscale_like.client.user import UserClient

#: Every network state, in the order ``network list --state all`` shows them.
NETWORK_STATES = ("active", "inactive", "invalid", "deleted")


def status_counts(found: dict[str, int]) -> dict[str, int]:
    """Counts for every task status (zeros included, in lifecycle order) and their total."""
    counts = {status.value: int(found.get(status.value, 0)) for status in TaskStatus}
    counts["total"] = sum(counts.values())
    return counts


@cli.group(cls=UserGroup)
def network() -> None:
    """Submit and list networks on the user API."""


@network.command("submit")
@click.argument("path", metavar="FILE.json", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--scope",
    required=True,
    type=ScopeType(specific=True),
    help="The specific scope ORG-CAMPAIGN-PROJECT to submit into.",
)
@click.option(
    "--state",
    type=click.Choice(NETWORK_STATES[:2]),
    default="active",
    show_default=True,
    help="Active networks are offered to compute services.",
)
@MODULE_OPTION
@JSON_OPTION
@with_user_client
def network_submit(
    client: UserClient,
    path: str,
    scope: Scope,
    state: str,
    modules: tuple[str, ...],
    as_json: bool,
) -> None:
    """Submit the AlchemicalNetwork in FILE.json (keyed-chain JSON, e.g. from `example`).

    Submitting the same network again changes nothing and prints the same key.
    """
    from alchemiscale_like.models import AlchemicalNetwork, Tokenizable

    import_modules(modules)
    loaded = Tokenizable.from_json(Path(path).read_bytes())
    if not isinstance(loaded, AlchemicalNetwork):
        raise ValidationError(f"{path} holds a {type(loaded).__name__}, not an AlchemicalNetwork")
    network_sk = client.create_network(loaded, scope, state=state)
    edges = [
        {"transformation": str(ScopedKey.from_key(edge.key, scope)), "name": edge.name}
        for edge in loaded.edges
    ]
    if as_json:
        print_json({"network": str(network_sk), "name": loaded.name, "transformations": edges})
        return
    click.echo(f"submitted {network_sk} ({loaded.name or 'unnamed'}, {len(edges)} transformations)")
    print_table(("transformation", "name"), [(e["transformation"], e["name"]) for e in edges])


@network.command("list")
@click.option("--name", default=None, help="Only networks whose name contains this.")
@click.option(
    "--scope",
    type=ScopeType(specific=False),
    default=None,
    help="Only networks in this scope (trailing '*' wildcards allowed).",
)
@click.option(
    "--state",
    type=click.Choice([*NETWORK_STATES, "all"]),
    default="active",
    show_default=True,
)
@JSON_OPTION
@with_user_client
def network_list(
    client: UserClient, name: str | None, scope: Scope | None, state: str, as_json: bool
) -> None:
    """List the networks visible to you."""
    states = NETWORK_STATES if state == "all" else (state,)
    rows = [
        {"network": str(sk), "state": one}
        for one in states
        for sk in sorted(client.query_networks(name=name, scope=scope, state=one))
    ]
    if as_json:
        print_json(rows)
        return
    print_table(("network", "state"), [(r["network"], r["state"]) for r in rows])


@cli.command("status", cls=UserCommand)
@click.argument("target", metavar="NETWORK|TRANSFORMATION", type=NETWORK_OR_TRANSFORMATION)
@click.option(
    "--transformations",
    "per_transformation",
    is_flag=True,
    help="Counts per transformation of the network as well.",
)
@JSON_OPTION
@with_user_client
def status(client: UserClient, target: ScopedKey, per_transformation: bool, as_json: bool) -> None:
    """Task counts per status of a network (or of one transformation)."""
    is_network = target.qualname in NETWORK_CLASSES
    if per_transformation and not is_network:
        raise click.UsageError("--transformations needs a NETWORK, not a transformation key")
    if is_network:
        counts = status_counts(client.get_network_status(target))
    else:
        counts = status_counts(client.get_transformation_status(target))
    answer: dict[str, Any] = {
        "network" if is_network else "transformation": str(target),
        "status": counts,
    }
    if per_transformation:
        names = names_in_chain(client.get_network_json(target))
        answer["transformations"] = [
            {
                "transformation": str(tf),
                "name": names.get(tf.gufe_key),
                "status": status_counts(client.get_transformation_status(tf)),
            }
            for tf in sorted(client.get_network_transformations(target))
        ]
    if as_json:
        print_json(answer)
        return
    print_table(("status", "tasks"), list(counts.items()))
    if per_transformation:
        click.echo()
        print_table(
            ("transformation", "name", *counts),
            [
                (row["transformation"], row["name"], *row["status"].values())
                for row in answer["transformations"]
            ],
        )
