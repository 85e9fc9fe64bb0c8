"""The backends the state store benchmark runs against, and how each one is opened.

``base`` is the interface the measurements use; ``neo4j`` (with its bare Cypher in
``neo4j_cypher``) and ``sqlite`` implement it.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.bench.statestore.backends.base import Backend

#: Every backend, in the order a run takes them.
BACKENDS = ("neo4j", "sqlite")


@contextmanager
def open_backend(name: str, args: argparse.Namespace) -> Iterator[Backend]:
    """Yield the backend ``name`` set up from the options; its server or temporary
    folder is gone on exit (the caller runs ``cleanup`` or ``close`` before)."""
    if name == "neo4j":
        from devtools.bench.statestore.backends.neo4j import Neo4jBackend, neo4j_server

        with neo4j_server(args.url, args.heap) as (url, how):
            yield Neo4jBackend(
                url, args.user, args.password, how=how, wipe=args.wipe, profile=args.profile
            )
    elif name == "sqlite":
        from devtools.bench.statestore.backends.sqlite import SQLiteBackend

        with tempfile.TemporaryDirectory(prefix="bench-statestore-", dir=args.sqlite_dir) as d:
            yield SQLiteBackend(Path(d) / "state.sqlite", profile=args.profile)
    else:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
