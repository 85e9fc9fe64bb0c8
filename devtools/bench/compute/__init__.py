"""Compute-service benchmark (issue 9): checkpointing overhead and throughput; prints JSON.

    python -m devtools.bench.compute [--quick] [--units N] [--unit-seconds S] [--tasks N]

Deploys like the API benchmark (``devtools.bench.api.deployment``: Neo4j 5.26,
S3Proxy and both APIs as their own uvicorn processes on 127.0.0.1) and runs Tasks of
a bench-only protocol (:mod:`.protocol`, a linear chain of units that only sleep)
through real compute services. Each figure has a baseline measured in the same run:

* ``checkpoint_overhead``: one DAG of 50 units x 0.2 s through one
  ``SynchronousComputeService`` (in this process, over HTTP to the compute API),
  divided by the same DAG run by the local ``DAGExecutor``; target <= 1.15;
* ``throughput``: 1,000 Tasks of one 10 ms unit each processed by 4 service
  subprocesses (``compute synchronous --once``), tasks/s from the first claim to the
  last task done; aim >= 50 tasks/s. Baseline: the API floor (4 threads making only
  the calls a Task needs: claim, set DAG, upload unit result, finish). Every Task
  must end complete, claimed, run and finished exactly once.

Exit status: 0 if every target is met, 1 if one is missed. ``--quick`` runs tiny
sizes (for the test suite: the figures then mean nothing).

Modules: ``__main__`` (options, order, exit status); ``protocol`` (the bench
protocol); ``tasks`` (network and Task setup); ``fleet`` (service subprocesses and
their logs); ``timed_api`` (counting every API call of a service); ``local`` (the
local-executor baseline); ``checkpointing`` and ``throughput`` (the measurements).
"""
