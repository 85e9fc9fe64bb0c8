"""Every query that keeps a stale plan (``fixed_plan``) has a plan no statistics can better.

Planned on an empty database, with the store's schema in place (the worst
statistics a first plan can be made with), each such query must start only
from unique-key lookups or from index seeks it pins with a hint, and expand
from there: then the plan Neo4j would make later, on a big database, is no better, and
skipping the re-plan (hundreds of milliseconds for the claim) loses nothing.
"""

from __future__ import annotations

from typing import Any

import neo4j
import pytest

from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from alchemiscale_like.storage.statestore.neo4j.plans import FIXED_PLANS

#: Where a fixed plan may start: seeks on a unique key, the rows of an UNWIND, and
#: the argument rows of a subquery...
ALLOWED_LEAVES = frozenset(
    {"NodeUniqueIndexSeek", "NodeUniqueIndexSeek(Locking)", "Argument", "Unwind"}
)
#: ...and seeks of other indexes, if the query pins them with a USING INDEX hint.
PINNED_LEAVES = frozenset({"NodeIndexSeek", "DirectedRelationshipIndexSeek"})


def _leaves(plan: dict[str, Any]) -> list[str]:
    children = plan.get("children") or []
    if not children:
        return [plan["operatorType"].split("@", 1)[0]]
    return [leaf for child in children for leaf in _leaves(child)]


def test_the_hot_path_queries_are_registered() -> None:
    # Claims, claim checks, unit results and finishing: what a compute service calls.
    assert len(FIXED_PLANS) >= 20, len(FIXED_PLANS)
    assert any("USING INDEX SEEK a:ACTIONS" in q for q in FIXED_PLANS)


@pytest.mark.parametrize("query", FIXED_PLANS, ids=[" ".join(q.split())[:60] for q in FIXED_PLANS])
def test_a_fixed_plan_starts_from_key_lookups_only(
    query: str, neo4j_statestore: Neo4jStateStore, neo4j_clean_driver: neo4j.Driver
) -> None:
    with neo4j_clean_driver.session(notifications_min_severity="OFF") as session:
        summary = session.run("EXPLAIN " + query).consume()
    assert summary.plan is not None
    leaves = _leaves(summary.plan)
    assert leaves
    allowed = ALLOWED_LEAVES | (PINNED_LEAVES if "USING INDEX" in query else frozenset())
    assert set(leaves) <= allowed, (leaves, query)
