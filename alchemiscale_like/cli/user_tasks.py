"""``tasks create|list|action|cancel|priority``: Tasks on transformations and TaskHubs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from alchemiscale_like.cli import cli
from alchemiscale_like.cli.user_common import (
    JSON_OPTION,
    NETWORK,
    NETWORK_CLASSES,
    NETWORK_OR_TRANSFORMATION,
    TASK,
    UserGroup,
    print_json,
    print_table,
    with_user_client,
)
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.task import TaskStatus

if TYPE_CHECKING:
    from alchemiscale_like.client.user import UserClient

#: Most tasks one ``tasks create`` makes per transformation (the API has its own bound too).
MAX_COUNT = 1000

TASKS_ARGUMENT = click.argument("tasks", metavar="TASK...", nargs=-1, required=True, type=TASK)


@cli.group(cls=UserGroup)
def tasks() -> None:
    """Create Tasks and put them on (or take them off) a network's TaskHub."""


@tasks.command("create")
@click.argument("target", metavar="TRANSFORMATION|NETWORK", type=NETWORK_OR_TRANSFORMATION)
@click.option(
    "--count",
    type=click.IntRange(1, MAX_COUNT),
    default=1,
    show_default=True,
    help="Tasks per transformation.",
)
@click.option("--extends", type=TASK, default=None, help="Continue from this complete Task.")
@click.option(
    "--action-on",
    "action_on",
    type=NETWORK,
    default=None,
    help="Action the new tasks on this network (default: the NETWORK given, if one is).",
)
@click.option(
    "--no-action", is_flag=True, help="Only create the tasks; leave them off every TaskHub."
)
@JSON_OPTION
@with_user_client
def tasks_create(
    client: UserClient,
    target: ScopedKey,
    count: int,
    extends: ScopedKey | None,
    action_on: ScopedKey | None,
    no_action: bool,
    as_json: bool,
) -> None:
    """Create --count Tasks on a transformation, or on every transformation of a network.

    Tasks created on a NETWORK are actioned on it (compute services can claim them);
    tasks created on a TRANSFORMATION only with --action-on NETWORK.
    """
    is_network = target.qualname in NETWORK_CLASSES
    if is_network and extends is not None:
        raise click.UsageError("--extends needs a TRANSFORMATION (the one the task extends)")
    if no_action and action_on is not None:
        raise click.UsageError("give --action-on or --no-action, not both")
    hub = None if no_action else (action_on or (target if is_network else None))
    transformations = sorted(client.get_network_transformations(target)) if is_network else [target]
    created = [
        (task, tf)
        for tf in transformations
        for task in client.create_tasks(tf, count=count, extends=extends)
    ]
    actioned = set(client.action_tasks([t for t, _ in created], hub)) if hub and created else set()
    rows = [
        {
            "task": str(task),
            "transformation": str(tf),
            "actioned_on": str(hub) if task in actioned else None,
        }
        for task, tf in created
    ]
    if as_json:
        print_json(rows)
        return
    where = f", actioned on {hub}" if hub else ", not actioned"
    click.echo(f"created {len(rows)} tasks{where}")
    print_table(("task", "transformation"), [(r["task"], r["transformation"]) for r in rows])


@tasks.command("list")
@click.argument("target", metavar="NETWORK|TRANSFORMATION", type=NETWORK_OR_TRANSFORMATION)
@click.option(
    "--status",
    "status",
    type=click.Choice([s.value for s in TaskStatus]),
    default=None,
    help="Only tasks in this status.",
)
@JSON_OPTION
@with_user_client
def tasks_list(client: UserClient, target: ScopedKey, status: str | None, as_json: bool) -> None:
    """List the tasks of a network or a transformation with their status and priority."""
    if target.qualname in NETWORK_CLASSES:
        found = sorted(client.get_network_tasks(target, status=status))
    else:
        found = sorted(client.get_transformation_tasks(target, status=status))
    statuses = client.get_tasks_status(found) if found else []
    priorities = client.get_tasks_priority(found) if found else []
    rows = [
        {"task": str(task), "status": str(state), "priority": priority}
        for task, state, priority in zip(found, statuses, priorities, strict=True)
    ]
    if as_json:
        print_json(rows)
        return
    print_table(("task", "status", "priority"), [tuple(r.values()) for r in rows])


@tasks.command("action")
@click.argument("network_sk", metavar="NETWORK", type=NETWORK)
@TASKS_ARGUMENT
@click.option(
    "--weight",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Weight among the hub's tasks of equal priority, in (0, 1].",
)
@JSON_OPTION
@with_user_client
def tasks_action(
    client: UserClient,
    network_sk: ScopedKey,
    tasks: tuple[ScopedKey, ...],
    weight: float | None,
    as_json: bool,
) -> None:
    """Put TASKs on the NETWORK's TaskHub: compute services may claim them."""
    done = client.action_tasks(list(tasks), network_sk, weight=weight)
    _report("actioned", network_sk, tasks, done, as_json)


@tasks.command("cancel")
@click.argument("network_sk", metavar="NETWORK", type=NETWORK)
@TASKS_ARGUMENT
@JSON_OPTION
@with_user_client
def tasks_cancel(
    client: UserClient, network_sk: ScopedKey, tasks: tuple[ScopedKey, ...], as_json: bool
) -> None:
    """Take TASKs off the NETWORK's TaskHub (a running task finishes its current attempt)."""
    done = client.cancel_tasks(list(tasks), network_sk)
    _report("cancelled", network_sk, tasks, done, as_json)


def _report(
    verb: str,
    network_sk: ScopedKey,
    asked: tuple[ScopedKey, ...],
    done: list[ScopedKey],
    as_json: bool,
) -> None:
    if as_json:
        print_json({"network": str(network_sk), verb: [str(t) for t in done]})
        return
    click.echo(f"{verb} {len(done)} of {len(asked)} tasks on {network_sk}")
    changed = set(done)
    print_table(("task", verb), [(str(t), "yes" if t in changed else "no") for t in asked])


@tasks.command("priority")
@TASKS_ARGUMENT
@click.option(
    "--set",
    "new_priority",
    type=click.IntRange(min=1),
    default=None,
    help="Set this priority (1 is the highest); without it, show the priorities.",
)
@JSON_OPTION
@with_user_client
def tasks_priority(
    client: UserClient, tasks: tuple[ScopedKey, ...], new_priority: int | None, as_json: bool
) -> None:
    """Show the priority of TASKs, or set it with --set N."""
    if new_priority is not None:
        client.set_tasks_priority(list(tasks), new_priority)
    rows = [
        {"task": str(task), "priority": priority}
        for task, priority in zip(tasks, client.get_tasks_priority(list(tasks)), strict=True)
    ]
    if as_json:
        print_json(rows)
        return
    print_table(("task", "priority"), [(r["task"], r["priority"]) for r in rows])
