"""The tables and indexes of the SQLite state store (design.md's graph, as relations).

Nodes become tables keyed by their scoped key or identifier, relationships
become columns (``tasks.transformation``, ``tasks.extends``) or link tables
(``network_members``, ``actions``, ``claims``). As in Neo4j, each ``actions`` row
of a *waiting* task carries its claim order (``priority``, ``order_key`` =
-ln(U)/weight), and the index on ``(network, priority, order_key)`` lets a claim
read a hub's first waiting tasks without sorting the hub.
"""

from __future__ import annotations

TABLES: dict[str, str] = {
    "networks": """
        CREATE TABLE IF NOT EXISTS networks (
            scoped_key TEXT PRIMARY KEY, key TEXT NOT NULL,
            org TEXT NOT NULL, campaign TEXT NOT NULL, project TEXT NOT NULL,
            name TEXT NOT NULL, state TEXT NOT NULL)""",
    "chemical_systems": """
        CREATE TABLE IF NOT EXISTS chemical_systems (
            scoped_key TEXT PRIMARY KEY, key TEXT NOT NULL,
            org TEXT NOT NULL, campaign TEXT NOT NULL, project TEXT NOT NULL,
            name TEXT NOT NULL)""",
    "transformations": """
        CREATE TABLE IF NOT EXISTS transformations (
            scoped_key TEXT PRIMARY KEY, key TEXT NOT NULL,
            org TEXT NOT NULL, campaign TEXT NOT NULL, project TEXT NOT NULL,
            name TEXT NOT NULL, protocol TEXT NOT NULL, qualname TEXT NOT NULL,
            state_a TEXT NOT NULL REFERENCES chemical_systems(scoped_key),
            state_b TEXT NOT NULL REFERENCES chemical_systems(scoped_key))""",
    "network_members": """
        CREATE TABLE IF NOT EXISTS network_members (
            network TEXT NOT NULL REFERENCES networks(scoped_key),
            member TEXT NOT NULL, kind TEXT NOT NULL,
            PRIMARY KEY (network, member)) WITHOUT ROWID""",
    "taskhubs": """
        CREATE TABLE IF NOT EXISTS taskhubs (
            network TEXT PRIMARY KEY REFERENCES networks(scoped_key),
            scoped_key TEXT NOT NULL UNIQUE, weight REAL NOT NULL)""",
    "tasks": """
        CREATE TABLE IF NOT EXISTS tasks (
            scoped_key TEXT PRIMARY KEY,
            org TEXT NOT NULL, campaign TEXT NOT NULL, project TEXT NOT NULL,
            transformation TEXT NOT NULL REFERENCES transformations(scoped_key),
            extends TEXT REFERENCES tasks(scoped_key),
            status TEXT NOT NULL, priority INTEGER NOT NULL, created TEXT NOT NULL,
            creator TEXT, attempts INTEGER NOT NULL)""",
    "actions": """
        CREATE TABLE IF NOT EXISTS actions (
            network TEXT NOT NULL REFERENCES taskhubs(network),
            task TEXT NOT NULL REFERENCES tasks(scoped_key),
            weight REAL NOT NULL, priority INTEGER NOT NULL, order_key REAL,
            PRIMARY KEY (network, task)) WITHOUT ROWID""",
    "compute_services": """
        CREATE TABLE IF NOT EXISTS compute_services (
            identifier TEXT PRIMARY KEY, registered TEXT NOT NULL, heartbeat TEXT NOT NULL,
            protocols TEXT, claims_total INTEGER NOT NULL DEFAULT 0,
            claims_minute INTEGER NOT NULL DEFAULT 0,
            claims_this_minute INTEGER NOT NULL DEFAULT 0,
            claims_last_minute INTEGER NOT NULL DEFAULT 0)""",
    "claims": """
        CREATE TABLE IF NOT EXISTS claims (
            task TEXT PRIMARY KEY REFERENCES tasks(scoped_key),
            identifier TEXT NOT NULL REFERENCES compute_services(identifier),
            since TEXT NOT NULL)""",
    "dags": """
        CREATE TABLE IF NOT EXISTS dags (
            task TEXT PRIMARY KEY REFERENCES tasks(scoped_key),
            key TEXT NOT NULL, relpath TEXT NOT NULL, n_units INTEGER NOT NULL)""",
    "unit_results": """
        CREATE TABLE IF NOT EXISTS unit_results (
            task TEXT NOT NULL REFERENCES dags(task), unit_key TEXT NOT NULL,
            attempt INTEGER NOT NULL, ok INTEGER NOT NULL, relpath TEXT NOT NULL,
            service TEXT, started TEXT, finished TEXT,
            PRIMARY KEY (task, unit_key, attempt)) WITHOUT ROWID""",
    "result_files": """
        CREATE TABLE IF NOT EXISTS result_files (
            task TEXT NOT NULL, unit_key TEXT NOT NULL, attempt INTEGER NOT NULL,
            name TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
            location TEXT NOT NULL,
            PRIMARY KEY (task, unit_key, attempt, name),
            FOREIGN KEY (task, unit_key, attempt)
                REFERENCES unit_results(task, unit_key, attempt)) WITHOUT ROWID""",
    "dag_results": """
        CREATE TABLE IF NOT EXISTS dag_results (
            task TEXT NOT NULL REFERENCES dags(task), key TEXT NOT NULL, ok INTEGER NOT NULL,
            relpath TEXT NOT NULL, created TEXT NOT NULL,
            estimate REAL, uncertainty REAL, units TEXT,
            PRIMARY KEY (task, key)) WITHOUT ROWID""",
    "restart_patterns": """
        CREATE TABLE IF NOT EXISTS restart_patterns (
            network TEXT NOT NULL REFERENCES taskhubs(network), pattern TEXT NOT NULL,
            max_retries INTEGER NOT NULL,
            PRIMARY KEY (network, pattern)) WITHOUT ROWID""",
    "restart_counts": """
        CREATE TABLE IF NOT EXISTS restart_counts (
            network TEXT NOT NULL, pattern TEXT NOT NULL,
            task TEXT NOT NULL REFERENCES tasks(scoped_key), used INTEGER NOT NULL,
            PRIMARY KEY (network, pattern, task),
            FOREIGN KEY (network, pattern) REFERENCES restart_patterns(network, pattern)
                ON DELETE CASCADE) WITHOUT ROWID""",
    "identities": """
        CREATE TABLE IF NOT EXISTS identities (
            kind TEXT NOT NULL, identifier TEXT NOT NULL, hashed_key TEXT NOT NULL,
            scopes TEXT NOT NULL, disabled INTEGER NOT NULL, expires TEXT,
            PRIMARY KEY (kind, identifier)) WITHOUT ROWID""",
}

INDEXES: dict[str, str] = {
    "networks_scope": "CREATE INDEX IF NOT EXISTS networks_scope "
    "ON networks(org, campaign, project)",
    "networks_state": "CREATE INDEX IF NOT EXISTS networks_state ON networks(state)",
    "transformations_scope": "CREATE INDEX IF NOT EXISTS transformations_scope "
    "ON transformations(org, campaign, project)",
    "network_members_member": "CREATE INDEX IF NOT EXISTS network_members_member "
    "ON network_members(member)",
    "tasks_transformation_status": "CREATE INDEX IF NOT EXISTS tasks_transformation_status "
    "ON tasks(transformation, status)",
    "tasks_extends": "CREATE INDEX IF NOT EXISTS tasks_extends ON tasks(extends)",
    "actions_claim_order": "CREATE INDEX IF NOT EXISTS actions_claim_order "
    "ON actions(network, priority, order_key) WHERE order_key IS NOT NULL",
    "actions_task": "CREATE INDEX IF NOT EXISTS actions_task ON actions(task)",
    "claims_identifier": "CREATE INDEX IF NOT EXISTS claims_identifier ON claims(identifier)",
    "compute_services_heartbeat": "CREATE INDEX IF NOT EXISTS compute_services_heartbeat "
    "ON compute_services(heartbeat)",
    "dag_results_ok": "CREATE INDEX IF NOT EXISTS dag_results_ok ON dag_results(task, ok)",
}

#: Columns added after a table's first release: ``initialize()`` adds each one missing
#: from an existing database, so ``database init`` upgrades it in place.
ADDED_COLUMNS: dict[str, dict[str, str]] = {
    "compute_services": {
        "claims_total": "INTEGER NOT NULL DEFAULT 0",
        "claims_minute": "INTEGER NOT NULL DEFAULT 0",
        "claims_this_minute": "INTEGER NOT NULL DEFAULT 0",
        "claims_last_minute": "INTEGER NOT NULL DEFAULT 0",
    },
    "unit_results": {"service": "TEXT", "started": "TEXT", "finished": "TEXT"},
    "dag_results": {"estimate": "REAL", "uncertainty": "REAL", "units": "TEXT"},
}

#: Every statement ``initialize()`` runs (each idempotent), tables first.
SCHEMA = list(TABLES.values()) + list(INDEXES.values())

#: Tables in an order that respects foreign keys when dropped one by one.
DROP_ORDER = list(reversed(TABLES))
