"""Queries that keep their cached plan when Neo4j finds it stale (``CYPHER replan=skip``).

Neo4j re-plans a cached query when the statistics it was planned with have
drifted far enough, checked at most every ``dbms.cypher.min_replan_interval``
(10 s by default). On a database that grows while compute services work (each
unit result adds nodes) that happens again and again, and planning the claim
query costs a few hundred milliseconds: a compute service saw its ``finish``,
its next claim and its deregistration stall by 60-380 ms each after ten
seconds of unit uploads, which was a fifth of what a service adds to a DAG's
wall time.

For the queries marked here the fresh plan is the stale one: every one of them
starts from unique-key lookups, or from an index seek the query pins with a
``USING INDEX`` hint (the claim window, the active networks), and only expands
from there, so no statistics can make another plan better.
``tests/storage/statestore/test_query_plans.py`` checks exactly that for each
registered query, on an empty database (the statistics a first plan may be
made with). A query that scans or aggregates by label must not be marked: its
best plan does depend on the counts.
"""

from __future__ import annotations

#: The queries :func:`fixed_plan` marked, as written (without the prefix).
FIXED_PLANS: list[str] = []

_PREFIX = "CYPHER replan=skip "


def fixed_plan(cypher: str) -> str:
    """``cypher`` run with its cached plan even when stale (see the module docstring)."""
    FIXED_PLANS.append(cypher)
    return _PREFIX + cypher
