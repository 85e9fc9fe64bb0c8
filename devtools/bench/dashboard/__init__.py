"""Dashboard benchmark: the ``/ui`` pages of the user API on a large network; prints JSON.

    python -m devtools.bench.dashboard [--quick] [--transformations N] [--tasks N] [--repeats N]

Deploys like the API benchmark (``devtools.bench.api.deployment``: Neo4j, S3Proxy and
both APIs as ``python -m alchemiscale_like ...`` processes on 127.0.0.1), fills one
network of 2,000 transformations and 100,000 Tasks through the in-process stores
(3,000 actioned, 2,000 claimed by two services, each claimed Task with a DAG reference
and two unit results, 1,000 of them finished with an estimate, and one Task with a
real ProtocolDAG and real unit results in the object store), logs in through the
login form and times each page with ``requests``.

Each page's value is the median of its ``Server-Timing: app;dur=<ms>`` header (time
inside the dashboard app: session check, service calls, rendering) over ``--repeats``
runs after 3 warm-up calls; the target is <= 300 ms. Its baseline is the bare state-
and object-store calls the page needs, made in-process in the same run, interleaved
with the pages; the client's wall time, the service-layer call in-process
(``services.overview``) and ``GET /ping`` (the HTTP floor) are in ``details``.

Exit status: 0 if every page meets its target, 1 if one misses it. ``--quick`` runs
tiny sizes (for the test suite: the figures then mean nothing).

Modules: ``__main__`` (options, order, exit status); ``fill`` (the network, Tasks,
claims and results); ``pages`` (login, the pages with their baselines, the timed
rounds); ``report`` (the JSON on stdout).
"""
