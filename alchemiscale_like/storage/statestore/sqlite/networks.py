"""Networks, transformations and chemical systems in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from alchemiscale_like.errors import NotFound
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.storage.statestore.base import NetworkStore
from alchemiscale_like.storage.statestore.records import NetworkRecord, NetworkState
from alchemiscale_like.storage.statestore.rules import (
    DEFAULT_TASKHUB_WEIGHT,
    parse_network_state,
    taskhub_key,
)
from alchemiscale_like.storage.statestore.sqlite.connection import (
    SQLiteConnection,
    keys,
    scope_params,
    scoped_columns,
    single,
)

# Resubmitting changes nothing: existing rows are kept as they are (the state too).
INSERT_NETWORK = """
INSERT INTO networks (scoped_key, key, org, campaign, project, name, state)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
"""
INSERT_TASKHUB = """
INSERT INTO taskhubs (network, scoped_key, weight) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
"""
INSERT_SYSTEM = """
INSERT INTO chemical_systems (scoped_key, key, org, campaign, project, name)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
"""
INSERT_TRANSFORMATION = """
INSERT INTO transformations
    (scoped_key, key, org, campaign, project, name, protocol, qualname, state_a, state_b)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
"""
INSERT_MEMBER = """
INSERT INTO network_members (network, member, kind) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
"""

NETWORK_ROW = "SELECT state, name FROM networks WHERE scoped_key = ?"

QUERY_NETWORKS = """
SELECT scoped_key FROM networks
WHERE (?1 IS NULL OR org = ?1) AND (?2 IS NULL OR campaign = ?2) AND (?3 IS NULL OR project = ?3)
  AND (?4 IS NULL OR instr(name, ?4) > 0) AND (?5 IS NULL OR state = ?5)
ORDER BY scoped_key
"""

QUERY_TRANSFORMATIONS = """
SELECT scoped_key FROM transformations
WHERE (?1 IS NULL OR org = ?1) AND (?2 IS NULL OR campaign = ?2) AND (?3 IS NULL OR project = ?3)
  AND (?4 IS NULL OR instr(name, ?4) > 0)
ORDER BY scoped_key
"""

MEMBERS = "SELECT member FROM network_members WHERE network = ? AND kind = ?"

TRANSFORMATION_ROW = "SELECT protocol FROM transformations WHERE scoped_key = ?"
TRANSFORMATION_NETWORKS = "SELECT network FROM network_members WHERE member = ?"


class SQLiteNetworks(NetworkStore):
    """NetworkStore on SQLite."""

    _db: SQLiteConnection

    def assemble_network(
        self, network: NetworkRecord, scope: Scope, state: str = "active"
    ) -> ScopedKey:
        scope.require_specific()
        checked = parse_network_state(state)
        sk = ScopedKey.from_key(network.key, scope)
        systems = [
            (*scoped_columns(ScopedKey.from_key(s.key, scope)), s.name)
            for s in network.chemical_systems
        ]
        transformations = [
            (
                *scoped_columns(ScopedKey.from_key(t.key, scope)),
                t.name,
                t.protocol,
                t.qualname,
                str(ScopedKey.from_key(t.state_a, scope)),
                str(ScopedKey.from_key(t.state_b, scope)),
            )
            for t in network.transformations
        ]
        members = [(str(sk), row[0], "ChemicalSystem") for row in systems] + [
            (str(sk), row[0], "Transformation") for row in transformations
        ]

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(INSERT_NETWORK, (*scoped_columns(sk), network.name, checked.value))
            conn.execute(INSERT_TASKHUB, (str(sk), taskhub_key(sk), DEFAULT_TASKHUB_WEIGHT))
            conn.executemany(INSERT_SYSTEM, systems)
            conn.executemany(INSERT_TRANSFORMATION, transformations)
            conn.executemany(INSERT_MEMBER, members)

        self._db.write(work)
        return sk

    def set_network_state(self, networks: Sequence[ScopedKey], state: str) -> None:
        checked = parse_network_state(state)
        wanted = sorted({str(n) for n in networks})

        def work(conn: sqlite3.Connection) -> None:
            missing = [sk for sk in wanted if conn.execute(NETWORK_ROW, (sk,)).fetchone() is None]
            if missing:
                raise NotFound(f"unknown networks: {missing}")
            conn.executemany(
                "UPDATE networks SET state = ? WHERE scoped_key = ?",
                [(checked.value, sk) for sk in wanted],
            )

        self._db.write(work)

    def _network_row(self, network: ScopedKey) -> sqlite3.Row:
        return single(self._db.query_one(NETWORK_ROW, (str(network),)), f"network {network}")

    def get_network_state(self, network: ScopedKey) -> NetworkState:
        return NetworkState(self._network_row(network)["state"])

    def get_network_name(self, network: ScopedKey) -> str:
        return str(self._network_row(network)["name"])

    def query_networks(
        self, name: str | None = None, scope: Scope | None = None, state: str | None = "active"
    ) -> list[ScopedKey]:
        wanted = None if state is None else parse_network_state(state).value
        rows = self._db.query(QUERY_NETWORKS, (*scope_params(scope), name, wanted))
        return [ScopedKey.from_str(r["scoped_key"]) for r in rows]

    def query_transformations(
        self, name: str | None = None, scope: Scope | None = None
    ) -> list[ScopedKey]:
        rows = self._db.query(QUERY_TRANSFORMATIONS, (*scope_params(scope), name))
        return [ScopedKey.from_str(r["scoped_key"]) for r in rows]

    def _members(self, network: ScopedKey, kind: str) -> list[ScopedKey]:
        def work(conn: sqlite3.Connection) -> list[str]:
            single(conn.execute(NETWORK_ROW, (str(network),)).fetchone(), f"network {network}")
            return [r["member"] for r in conn.execute(MEMBERS, (str(network), kind))]

        return keys(self._db.read(work))

    def get_network_transformations(self, network: ScopedKey) -> list[ScopedKey]:
        return self._members(network, "Transformation")

    def get_network_chemicalsystems(self, network: ScopedKey) -> list[ScopedKey]:
        return self._members(network, "ChemicalSystem")

    def get_transformation_networks(self, transformation: ScopedKey) -> list[ScopedKey]:
        def work(conn: sqlite3.Connection) -> list[str]:
            single(
                conn.execute(TRANSFORMATION_ROW, (str(transformation),)).fetchone(),
                f"transformation {transformation}",
            )
            return [
                r["network"] for r in conn.execute(TRANSFORMATION_NETWORKS, (str(transformation),))
            ]

        return keys(self._db.read(work))

    def get_transformation_protocol(self, transformation: ScopedKey) -> str:
        row = single(
            self._db.query_one(TRANSFORMATION_ROW, (str(transformation),)),
            f"transformation {transformation}",
        )
        return str(row["protocol"])
