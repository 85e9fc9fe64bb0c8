"""API benchmark (issue 8): the user and compute APIs under real uvicorn; prints JSON.

    python -m devtools.bench.api [--quick] [--transformations N] [--tasks N] [--file-mib N]

Starts its own Neo4j 5.26 and S3Proxy (``devtools.servers``) and both APIs as separate
``python -m alchemiscale_like api`` / ``compute api`` processes, all on 127.0.0.1 on
free ports, logging to files in a temporary folder. Each measurement is taken through
the clients over loopback HTTP and compared with a baseline measured in the same run:
the same service or store call made in-process, without HTTP. Targets:

* ``submit_network``: ``UserClient.create_network`` of 2,000 transformations <= 3 s
  (baseline ``services.networks.submit_network``);
* ``claims``: 8 concurrent ``ComputeClient``s claiming one task per call from one
  TaskHub of 20,000 tasks >= 150 claims/s, no double claim, no lost task (baseline:
  8 threads calling ``statestore.claim_tasks``; ``services.claims.claim`` in details);
* ``unit_result_upload_p50`` / ``_p99``: ``ComputeClient.upload_unit_result`` of a
  HarmonicTI-like ProtocolUnitResult with ~4 KB of outputs, p50 <= 20 ms (baseline
  ``services.results.record_unit_result``);
* ``file_upload`` / ``file_download``: 256 MiB through ``ComputeClient.upload_result_file``
  and ``UserClient.download_result_file`` >= 60 % of ``objectstore.put_file`` /
  ``download_file`` throughput, with peak RSS growth of the client (this process) and
  of the serving API process <= 64 MiB each.

Exit status: 0 if every target is met, 1 if one is missed. ``--quick`` runs tiny
sizes (for the test suite: the figures then mean nothing).

Modules: ``__main__`` (options, order, exit status); ``deployment`` (the servers and
API processes, in-process stores, identities); ``measurement`` (timing, percentiles,
RSS sampling, ``Measurement``); one module per measured concern: ``networks``,
``claims``, ``results``, ``files``; ``report`` (the JSON on stdout, progress on stderr).
"""
