"""Neo4j state store benchmark against its targets; prints JSON.

    python -m devtools.bench.statestore [--url bolt://127.0.0.1:7687] [--profile]
                                        [--reset-tasks 100000]

Without ``--url`` a Neo4j 5.26 is started (``devtools.servers.neo4j``) on a free
port in a temporary folder and stopped at the end. With ``--url`` that server's
database must be empty unless ``--wipe`` is given: the run writes ~130k nodes
and resets the database at the end.

Each measurement reports its value, the target, whether it is met,
alchemiscale's published figure, and a baseline measured in the same run: a
bare Cypher statement doing the equivalent minimal work through the same driver,
so that a miss can be told from a slow or busy machine. Store and baseline
repetitions are interleaved and medians reported; the first (cold) call of each
query is timed separately and kept out of the median. ``--profile`` adds PROFILE
summaries (db hits per operator) of the store's queries. Targets (alchemiscale
in brackets):

* ``assemble_network`` of 2,000 transformations over 1,000 chemical systems
  <= 3 s [103 s] (client-side ``network_record_from_chain`` reported apart);
  reading it back (``get_network_transformations`` +
  ``get_network_chemicalsystems``) <= 3 s [71 min];
* ``create_tasks`` of 1,000 tasks <= 0.3 s [4 s]; ``action_tasks`` of 1,000 <= 0.2 s [1.6 s];
* 8 concurrent claimers (threads, one registered service each) on one TaskHub of
  20,000 waiting tasks: >= 300 claims/s with ``count=1``, zero double claims
  (``count=10`` reported as tasks/s);
* ``get_network_status`` of a network with 100,000 tasks <= 100 ms;
* cold claims: the same 8 claimers (``count=1``), shared store and store per thread,
  in the first 10 s after a 20,000-task hub is filled, on a fresh database and after
  ``database reset`` of one holding 100,000 tasks: slowest call <= 5 s (a stall).

Exit status: 0 if every target is met, 1 if one is missed, 2 on refusal.

Modules: ``__main__`` (command line, order of the measurements, exit status);
``server`` (the Neo4j used, and ``Bench``: connections, bare Cypher, setup, cleanup and
the state the measurements share); ``measurement`` (timing helpers and ``Measurement``);
one module per measured concern: ``networks``, ``tasks``, ``claims``, ``network_status``,
``cold_claims``;
``report`` (the JSON report on stdout, progress on stderr).
"""
