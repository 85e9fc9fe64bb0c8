"""The bare Cypher of the Neo4j baselines, and their scratch schema (all dropped at the end).

Scratch nodes carry ``Bench*`` labels, so the store's queries never see them.
"""

from __future__ import annotations

BASELINE_SCHEMA = [
    "CREATE INDEX bench_system_sk IF NOT EXISTS FOR (n:BenchSystem) ON (n.scoped_key)",
    "CREATE INDEX bench_task_sk IF NOT EXISTS FOR (n:BenchTask) ON (n.scoped_key)",
    "CREATE INDEX bench_service_id IF NOT EXISTS FOR (n:BenchService) ON (n.identifier)",
]
DROP_BASELINE_NODES = (
    "MATCH (n) WHERE n:BenchNetwork OR n:BenchSystem OR n:BenchTransformation "
    "OR n:BenchTask OR n:BenchService CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
)
DROP_BASELINE_SCHEMA = [
    "DROP INDEX bench_system_sk IF EXISTS",
    "DROP INDEX bench_task_sk IF EXISTS",
    "DROP INDEX bench_service_id IF EXISTS",
]

BARE_CREATE_NETWORK = """
CREATE (n:BenchNetwork {scoped_key: $network})
WITH n
UNWIND $systems AS s
CREATE (n)-[:CONTAINS]->(:BenchSystem {scoped_key: s.scoped_key, name: s.name})
WITH DISTINCT n
UNWIND $transformations AS t
MATCH (a:BenchSystem {scoped_key: t.state_a}), (b:BenchSystem {scoped_key: t.state_b})
CREATE (n)-[:CONTAINS]->(tf:BenchTransformation {scoped_key: t.scoped_key, name: t.name})
CREATE (tf)-[:STATE_A]->(a), (tf)-[:STATE_B]->(b)
"""

BARE_MEMBERS = """
MATCH (:AlchemicalNetwork {scoped_key: $sk})-[:CONTAINS]->(m)
RETURN m.scoped_key AS sk
"""

BARE_CREATE_TASKS = """
UNWIND $rows AS row
MATCH (tf:Transformation {scoped_key: row.transformation})
CREATE (t:BenchTask {scoped_key: row.scoped_key, status: 'waiting', priority: 10, attempts: 0})
CREATE (t)-[:PERFORMS]->(tf)
"""

BARE_ACTION_TASKS = """
MATCH (th:TaskHub {network: $network})
UNWIND $rows AS sk
MATCH (t:BenchTask {scoped_key: sk})
CREATE (th)-[:BENCH_ACTIONS {weight: 0.5}]->(t)
"""

BARE_CLAIM_SETUP = """
UNWIND range(1, $n) AS i
CREATE (:BenchTask {scoped_key: 'bench-claim-' + toString(i), status: 'waiting'})
"""

BARE_CLAIM = """
MATCH (c:BenchService {identifier: $identifier})
UNWIND $sks AS sk
MATCH (t:BenchTask {scoped_key: sk})
CREATE (c)-[:BENCH_CLAIMS]->(t)
SET t.status = 'running'
"""

BARE_COUNT = """
MATCH (:AlchemicalNetwork {scoped_key: $sk})-[:CONTAINS]->(:Transformation)<-[:PERFORMS]-(t:Task)
RETURN count(*) AS n
"""

DOUBLE_CLAIMS = """
MATCH (t:Task)<-[c:CLAIMS]-()
WITH t, count(c) AS holders WHERE holders > 1
RETURN count(t) AS n
"""

#: What each baseline does, for the report (``claims`` takes ``count``).
BASELINE_QUERIES = {
    "submit_network": "one transaction: CREATE the network, UNWIND CREATE 1,000 systems "
    "and 2,000 transformations with CONTAINS, STATE_A, STATE_B (indexed lookups)",
    "read_network": "MATCH (n {scoped_key})-[:CONTAINS]->(m) RETURN m.scoped_key "
    "(all 3,000 members in one query)",
    "create_tasks": "UNWIND $rows MATCH (tf:Transformation {scoped_key}) "
    "CREATE (:BenchTask {...})-[:PERFORMS]->(tf)",
    "action_tasks": "MATCH (th:TaskHub {network}) UNWIND $rows "
    "MATCH (t:BenchTask {scoped_key}) CREATE (th)-[:BENCH_ACTIONS {weight}]->(t)",
    "claims": "8 threads, each a write transaction per {count} task(s): "
    "MATCH service and task(s) by index, CREATE claim edge, SET status",
    "cold_claims": "8 threads, each a write transaction per task: MATCH service and task by "
    "index, CREATE claim edge, SET status (the slowest call)",
    "network_status": "MATCH (n {scoped_key})-[:CONTAINS]->(:Transformation)"
    "<-[:PERFORMS]-(t:Task) RETURN count(*)",
}
