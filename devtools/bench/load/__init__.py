"""Load benchmark: many compute service processes against one API pair, thousands of short Tasks.

``python -m devtools.bench.load`` deploys Neo4j, S3Proxy and one user API + compute API
(uvicorn subprocesses, ``devtools.bench.api.deployment``), submits a network of a few
Transformations of the bench protocol (``devtools.bench.compute.protocol``), starts
``--services`` (16) ``compute synchronous`` subprocesses, waits until every one of them
has started, then actions ``--tasks`` (2,000) short Tasks at once and waits until all
are complete. Checks: every Task complete, none claimed twice, none lost (exactly one
DAG, every unit result and exactly one successful DAG result recorded); figures:
tasks/s and claim latency p50/p99 (from the services' own JSON logs), each beside a
baseline taken in the same run. Exit status: 0 if every check holds, 1 if one fails
or the run is aborted (``--time-limit``, a signal), 2 on bad options.
"""
