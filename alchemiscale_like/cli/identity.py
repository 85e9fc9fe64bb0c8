"""``identity add|list|remove|add-scope|remove-scope|disable|enable``: manage credentials.

Keys are never printed or logged, with one exception: a key that ``identity add``
generates is printed once, as the line ``key: <key>``, because nobody else will ever
know it (only its argon2id hash is stored).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from alchemiscale_like.cli import cli
from alchemiscale_like.errors import AlchemiscaleLikeError
from alchemiscale_like.security.identity import IdentityKind

if TYPE_CHECKING:
    from alchemiscale_like.storage.statestore import StateStore
    from alchemiscale_like.storage.statestore.records import IdentityRecord

T = TypeVar("T")

KIND_OPTION = click.option(
    "--type",
    "kind",
    type=click.Choice([kind.value for kind in IdentityKind]),
    default=IdentityKind.USER.value,
    show_default=True,
    help="A user identity (user API) or a compute identity (compute API).",
)


def _with_statestore(action: Callable[[StateStore], T]) -> T:
    """Run ``action`` on the configured state store, errors as one line for humans."""
    from alchemiscale_like.storage.statestore import build_statestore

    store = build_statestore()
    try:
        return action(store)
    except AlchemiscaleLikeError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


def _parse_expires(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is not an ISO-8601 date or datetime", param_hint="--expires"
        ) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _read_key_file(path: Path) -> str:
    from alchemiscale_like.services.identities import MAX_KEY_LENGTH

    try:
        with path.open(encoding="utf-8") as handle:
            # Bounded: a huge file without newlines must not be read whole.
            first = handle.readline(MAX_KEY_LENGTH + 2)
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read a key from {path}: {exc}") from exc
    key = first.strip()
    if not key:
        raise click.ClickException(f"{path} has no key on its first line")
    return key


def _describe(record: IdentityRecord) -> str:
    scopes = ", ".join(record.scopes) or "no scopes"
    return f"{record.kind} identity {record.identifier!r} ({scopes})"


@cli.group()
def identity() -> None:
    """Manage user and compute identities (in the configured state store)."""


@identity.command("add")
@click.argument("identifier")
@KIND_OPTION
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="ORG-CAMPAIGN-PROJECT",
    help="A scope the identity may access, '*' trailing wildcards allowed (repeatable).",
)
@click.option(
    "--expires",
    metavar="ISO-DATETIME",
    help="When the identity stops working, e.g. 2027-01-31T12:00:00+00:00 (no zone: UTC).",
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the key from the first line of this file.",
)
@click.option("--prompt-key", is_flag=True, help="Type the key (hidden, asked twice).")
def identity_add(
    identifier: str,
    kind: str,
    scopes: tuple[str, ...],
    expires: str | None,
    key_file: Path | None,
    prompt_key: bool,
) -> None:
    """Add an identity. Without --key-file or --prompt-key a key is generated and printed once."""
    from alchemiscale_like.security.keys import generate_key
    from alchemiscale_like.services import identities

    if key_file is not None and prompt_key:
        raise click.UsageError("give either --key-file or --prompt-key, not both")
    expires_at = _parse_expires(expires)
    generated = key_file is None and not prompt_key
    if key_file is not None:
        key = _read_key_file(key_file)
    elif prompt_key:
        key = click.prompt("Key", hide_input=True, confirmation_prompt=True, err=True)
    else:
        key = generate_key()
    record = _with_statestore(
        lambda store: identities.add_identity(store, kind, identifier, key, scopes, expires_at)
    )
    click.echo(f"added {_describe(record)}")
    if generated:
        click.echo(f"key: {key}")
        click.echo("Store this key now: only its hash is kept, it cannot be shown again.", err=True)


@identity.command("list")
@KIND_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def identity_list(kind: str, as_json: bool) -> None:
    """List identities of one kind (never their keys or hashes)."""
    from alchemiscale_like.services import identities

    records = _with_statestore(lambda store: identities.list_identities(store, kind))
    if as_json:
        rows = [
            {
                "identifier": r.identifier,
                "kind": str(r.kind),
                "scopes": list(r.scopes),
                "disabled": r.disabled,
                "expires": r.expires.isoformat() if r.expires is not None else None,
            }
            for r in records
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    table = [("IDENTIFIER", "SCOPES", "DISABLED", "EXPIRES")] + [
        (
            r.identifier,
            ",".join(r.scopes) or "-",
            "yes" if r.disabled else "no",
            r.expires.isoformat() if r.expires is not None else "-",
        )
        for r in records
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


@identity.command("remove")
@click.argument("identifier")
@KIND_OPTION
def identity_remove(identifier: str, kind: str) -> None:
    """Delete an identity: it can no longer log in."""
    from alchemiscale_like.services import identities

    _with_statestore(lambda store: identities.remove_identity(store, kind, identifier))
    click.echo(f"removed {kind} identity {identifier!r}")


@identity.command("add-scope")
@click.argument("identifier")
@click.argument("scopes", nargs=-1, required=True, metavar="SCOPE...")
@KIND_OPTION
def identity_add_scope(identifier: str, scopes: tuple[str, ...], kind: str) -> None:
    """Grant scopes to an identity."""
    from alchemiscale_like.services import identities

    record = _with_statestore(lambda store: identities.add_scopes(store, kind, identifier, scopes))
    click.echo(f"updated {_describe(record)}")


@identity.command("remove-scope")
@click.argument("identifier")
@click.argument("scopes", nargs=-1, required=True, metavar="SCOPE...")
@KIND_OPTION
def identity_remove_scope(identifier: str, scopes: tuple[str, ...], kind: str) -> None:
    """Withdraw scopes from an identity."""
    from alchemiscale_like.services import identities

    record = _with_statestore(
        lambda store: identities.remove_scopes(store, kind, identifier, scopes)
    )
    click.echo(f"updated {_describe(record)}")


@identity.command("disable")
@click.argument("identifier")
@KIND_OPTION
def identity_disable(identifier: str, kind: str) -> None:
    """Refuse every login of an identity until it is enabled again."""
    from alchemiscale_like.services import identities

    _with_statestore(lambda store: identities.set_disabled(store, kind, identifier, True))
    click.echo(f"disabled {kind} identity {identifier!r}")


@identity.command("enable")
@click.argument("identifier")
@KIND_OPTION
def identity_enable(identifier: str, kind: str) -> None:
    """Let a disabled identity log in again."""
    from alchemiscale_like.services import identities

    _with_statestore(lambda store: identities.set_disabled(store, kind, identifier, False))
    click.echo(f"enabled {kind} identity {identifier!r}")
