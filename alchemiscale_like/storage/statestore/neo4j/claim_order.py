"""The claim order kept on ACTIONS relationships, so a claim reads an index window.

Each ACTIONS edge of a *waiting* task carries ``network``, ``priority`` and
``order = -ln(U) / weight`` (U uniform): sorting by ``(priority, order)``
is a weighted random order among equal priorities (the exponential-clock form
of weighted sampling). The range index on those three properties lets a claim
read the first few entries instead of sorting every task of the hub. Edges of
tasks that are not waiting carry no ``order`` and so are not in the index.
"""

from __future__ import annotations

#: Name of the relationship index that claims seek on.
CLAIM_ORDER_INDEX_NAME = "actions_claim_order"
#: Its definition.
CLAIM_ORDER_INDEX = (
    f"CREATE INDEX {CLAIM_ORDER_INDEX_NAME} IF NOT EXISTS "
    "FOR ()-[a:ACTIONS]-() ON (a.network, a.priority, a.order)"
)

#: Cypher tail: after changing the status of task ``t``, bring its ACTIONS edges'
#: claim order in line (kept while waiting, drawn when it becomes waiting, else removed).
SYNC_CLAIM_ORDER = """
WITH DISTINCT t
CALL (t) {
  MATCH (t)<-[a:ACTIONS]-()
  SET a.order = CASE WHEN t.status = 'waiting'
                     THEN coalesce(a.order, -log(1.0 - rand()) / a.weight) END
}
"""
