"""Credentialed identities in SQLite (hashed keys only; hashing lives in ``security/``)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from alchemiscale_like.errors import AlreadyExists, NotFound, ValidationError
from alchemiscale_like.storage.statestore.base import IdentityStore
from alchemiscale_like.storage.statestore.records import IdentityRecord
from alchemiscale_like.storage.statestore.rules import (
    canonical_scopes,
    check_identifier,
    parse_identity_kind,
)
from alchemiscale_like.storage.statestore.sqlite.connection import (
    SQLiteConnection,
    from_text,
    single,
    to_text,
)

IDENTITY_ROW = "SELECT * FROM identities WHERE kind = ? AND identifier = ?"


def _record(row: sqlite3.Row) -> IdentityRecord:
    return IdentityRecord(
        kind=parse_identity_kind(row["kind"]),
        identifier=row["identifier"],
        hashed_key=row["hashed_key"],
        scopes=tuple(json.loads(row["scopes"])),
        disabled=bool(row["disabled"]),
        expires=from_text(row["expires"]),
    )


class SQLiteIdentities(IdentityStore):
    """IdentityStore on SQLite."""

    _db: SQLiteConnection

    def add_identity(self, identity: IdentityRecord) -> None:
        kind = parse_identity_kind(identity.kind)
        check_identifier(identity.identifier)
        if not identity.hashed_key:
            raise ValidationError("an identity needs a hashed key")
        row = (
            kind.value,
            identity.identifier,
            identity.hashed_key,
            json.dumps(canonical_scopes(identity.scopes)),
            identity.disabled,
            to_text(identity.expires),
        )
        try:
            self._db.write(
                lambda conn: conn.execute("INSERT INTO identities VALUES (?, ?, ?, ?, ?, ?)", row)
            )
        except AlreadyExists as exc:
            raise AlreadyExists(f"{kind} identity {identity.identifier!r} exists") from exc

    def get_identity(self, kind: str, identifier: str) -> IdentityRecord:
        checked = parse_identity_kind(kind)
        row = self._db.query_one(IDENTITY_ROW, (checked.value, identifier))
        return _record(single(row, f"{checked} identity {identifier!r}"))

    def list_identities(self, kind: str) -> list[IdentityRecord]:
        checked = parse_identity_kind(kind)
        rows = self._db.query(
            "SELECT * FROM identities WHERE kind = ? ORDER BY identifier", (checked.value,)
        )
        return [_record(r) for r in rows]

    def remove_identity(self, kind: str, identifier: str) -> None:
        checked = parse_identity_kind(kind)

        def work(conn: sqlite3.Connection) -> None:
            gone = conn.execute(
                "DELETE FROM identities WHERE kind = ? AND identifier = ?",
                (checked.value, identifier),
            )
            if not gone.rowcount:
                raise NotFound(f"{checked} identity {identifier!r} not found")

        self._db.write(work)

    def update_identity(
        self,
        kind: str,
        identifier: str,
        *,
        hashed_key: str | None = None,
        scopes: Sequence[str] | None = None,
        disabled: bool | None = None,
        expires: dt.datetime | None = None,
    ) -> IdentityRecord:
        checked = parse_identity_kind(kind)
        changes: dict[str, Any] = {}
        if hashed_key is not None:
            changes["hashed_key"] = hashed_key
        if scopes is not None:
            changes["scopes"] = json.dumps(canonical_scopes(scopes))
        if disabled is not None:
            changes["disabled"] = disabled
        if expires is not None:
            changes["expires"] = to_text(expires)

        def work(conn: sqlite3.Connection) -> IdentityRecord:
            row = single(
                conn.execute(IDENTITY_ROW, (checked.value, identifier)).fetchone(),
                f"{checked} identity {identifier!r}",
            )
            values = dict(row) | changes
            conn.execute(
                "UPDATE identities SET hashed_key = ?, scopes = ?, disabled = ?, expires = ? "
                "WHERE kind = ? AND identifier = ?",
                (
                    values["hashed_key"],
                    values["scopes"],
                    values["disabled"],
                    values["expires"],
                    checked.value,
                    identifier,
                ),
            )
            return _record(conn.execute(IDENTITY_ROW, (checked.value, identifier)).fetchone())

        return self._db.write(work)
