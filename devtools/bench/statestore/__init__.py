"""State store benchmark, Neo4j and SQLite side by side, against its targets; prints JSON.

    python -m devtools.bench.statestore [--backends neo4j,sqlite] [--profile]
                                        [--url bolt://127.0.0.1:7687 [--wipe]]
                                        [--reset-tasks 100000] [--sqlite-dir DIR] [--quick]

Every measurement runs against each backend of ``--backends`` (default both, Neo4j
first) with the same sizes and targets. Neo4j: without ``--url`` a Neo4j 5.26 is
started (``devtools.servers.neo4j``) on a free port in a temporary folder and stopped
at the end; with ``--url`` that server's database must be empty unless ``--wipe`` is
given: the run writes ~130k nodes and resets the database at the end. SQLite:
``SQLiteStateStore`` on a file in a temporary folder (under ``--sqlite-dir``, default
the system's), removed at the end.

Each measurement reports its value, the target, whether it is met,
alchemiscale's published figure, and a baseline measured in the same run on the same
database: the equivalent minimal work done bare, so that a miss can be told from a
slow or busy machine. For Neo4j a bare Cypher statement through the same driver; for
SQLite bare SQL through stdlib ``sqlite3`` with the store's connection settings (WAL,
``synchronous=NORMAL``, writes in ``BEGIN IMMEDIATE``): executemany INSERTs into
scratch tables for the submission and the task writes, one ``SELECT`` of the store's
``network_members`` for the read-back, ``SELECT status, count(*) ... GROUP BY`` over the
store's tables for the status, and per claim one ``BEGIN IMMEDIATE`` with a
``SELECT ... LIMIT`` and an ``UPDATE`` of scratch tasks. Store and baseline repetitions
are interleaved and medians reported; the first (cold) call of each query is timed
separately and kept out of the median. ``--profile`` adds query-plan summaries of the
store's queries (Neo4j: PROFILE db hits per operator; SQLite: EXPLAIN QUERY PLAN).
Targets (alchemiscale in brackets):

* ``assemble_network`` of 2,000 transformations over 1,000 chemical systems
  <= 3 s [103 s] (client-side ``network_record_from_chain`` reported apart);
  reading it back (``get_network_transformations`` +
  ``get_network_chemicalsystems``) <= 3 s [71 min];
* ``create_tasks`` of 1,000 tasks <= 0.3 s [4 s]; ``action_tasks`` of 1,000 <= 0.2 s [1.6 s];
* 8 concurrent claimers (threads, one registered service each) on one TaskHub of
  20,000 waiting tasks: >= 300 claims/s with ``count=1``, zero double claims
  (``count=10`` reported as tasks/s); each with one shared store and one store per
  thread (on SQLite every thread has its own connection either way);
* ``get_network_status`` of a network with 100,000 tasks <= 100 ms;
* cold claims: the same 8 claimers (``count=1``), shared store and store per thread,
  in the first 10 s after a 20,000-task hub is filled, on a fresh database and after
  ``reset`` of one holding 100,000 tasks: slowest call <= 5 s (a stall).

The report has each backend's figures under ``backends`` (``database``,
``measurements``, ``targets_missed``), a ``side_by_side`` table (measurement -> unit,
target, each backend's value, ``baseline`` and ``met`` per backend) and
``targets_missed`` as ``backend/measurement``. ``--quick`` (and one option per size,
e.g. ``--hub-tasks``) shrinks the sizes; the measurement names stay, ``sizes`` says
what ran. Exit status: 0 if every target is met, 1 if one is missed, 2 on refusal
(a non-empty ``--url`` database without ``--wipe``, or bad options).

Modules: ``__main__`` (command line, order of the measurements, exit status);
``backends`` (``base.Backend``: what a measurement needs from a backend, with the store,
the bare baselines, setup and cleanup; ``neo4j`` with its Cypher in ``neo4j_cypher``,
and ``sqlite``); ``bench`` (``Sizes``, and ``Bench``: one backend's run and the state
its measurements share); ``measurement`` (timing helpers and ``Measurement``); one
module per measured concern, each backend-agnostic: ``networks``, ``tasks``,
``claims``, ``network_status``, ``cold_claims``; ``report`` (the JSON on stdout).
"""
