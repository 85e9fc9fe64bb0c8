"""Credentialed identities in Neo4j (hashed keys only; hashing lives in ``security/``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from alchemiscale_like.errors import AlreadyExists, ValidationError
from alchemiscale_like.storage.statestore.base import IdentityStore
from alchemiscale_like.storage.statestore.neo4j.connection import (
    Neo4jConnection,
    single,
    to_native,
)
from alchemiscale_like.storage.statestore.records import IdentityRecord
from alchemiscale_like.storage.statestore.rules import (
    canonical_scopes,
    check_identifier,
    parse_identity_kind,
)

# Labels cannot be query parameters, so each kind has its own statements.
LABELS = {"user": "CredentialedUserIdentity", "compute": "CredentialedComputeIdentity"}

CREATE = "CREATE (i:{label} $props)"
GET = "MATCH (i:{label} {{identifier: $identifier}}) RETURN i {{.*}} AS identity"
LIST = "MATCH (i:{label}) RETURN i {{.*}} AS identity ORDER BY i.identifier"
REMOVE = "MATCH (i:{label} {{identifier: $identifier}}) DETACH DELETE i RETURN 1 AS done"
UPDATE = (
    "MATCH (i:{label} {{identifier: $identifier}}) SET i += $changes RETURN i {{.*}} AS identity"
)

QUERIES = {
    kind: {
        name: template.format(label=label)
        for name, template in {
            "create": CREATE,
            "get": GET,
            "list": LIST,
            "remove": REMOVE,
            "update": UPDATE,
        }.items()
    }
    for kind, label in LABELS.items()
}


def _queries(kind: str) -> dict[str, str]:
    return QUERIES[parse_identity_kind(kind)]


def _record(kind: str, props: dict[str, Any]) -> IdentityRecord:
    return IdentityRecord(
        kind=parse_identity_kind(kind),
        identifier=props["identifier"],
        hashed_key=props["hashed_key"],
        scopes=tuple(props.get("scopes") or ()),
        disabled=bool(props.get("disabled", False)),
        expires=to_native(props.get("expires")),
    )


class Neo4jIdentities(IdentityStore):
    """IdentityStore on Neo4j."""

    _db: Neo4jConnection

    def add_identity(self, identity: IdentityRecord) -> None:
        queries = _queries(identity.kind)
        check_identifier(identity.identifier)
        if not identity.hashed_key:
            raise ValidationError("an identity needs a hashed key")
        props = {
            "identifier": identity.identifier,
            "hashed_key": identity.hashed_key,
            "scopes": canonical_scopes(identity.scopes),
            "disabled": identity.disabled,
            "expires": identity.expires,
        }
        try:
            self._db.execute(queries["create"], props=props)
        except AlreadyExists as exc:
            raise AlreadyExists(f"{identity.kind} identity {identity.identifier!r} exists") from exc

    def get_identity(self, kind: str, identifier: str) -> IdentityRecord:
        record = single(
            self._db.query(_queries(kind)["get"], identifier=identifier),
            f"{kind} identity {identifier!r}",
        )
        return _record(kind, record["identity"])

    def list_identities(self, kind: str) -> list[IdentityRecord]:
        return [_record(kind, r["identity"]) for r in self._db.query(_queries(kind)["list"])]

    def remove_identity(self, kind: str, identifier: str) -> None:
        single(
            self._db.execute(_queries(kind)["remove"], identifier=identifier),
            f"{kind} identity {identifier!r}",
        )

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
        changes: dict[str, Any] = {}
        if hashed_key is not None:
            changes["hashed_key"] = hashed_key
        if scopes is not None:
            changes["scopes"] = canonical_scopes(scopes)
        if disabled is not None:
            changes["disabled"] = disabled
        if expires is not None:
            changes["expires"] = expires
        record = single(
            self._db.execute(_queries(kind)["update"], identifier=identifier, changes=changes),
            f"{kind} identity {identifier!r}",
        )
        return _record(kind, record["identity"])
