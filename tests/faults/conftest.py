"""Fault-injection tests: store servers and processes that fail while the system works.

The store-server outages (``test_statestore_outage.py``, ``test_objectstore_outage.py``)
run on Neo4j / S3Proxy servers of their own (:mod:`tests.faults.helpers_servers`), never
on the worker's shared ones. The API deployment of ``tests/server`` is available here
as for ``tests/compute``.
"""

from __future__ import annotations

from tests.server.conftest import deployment, objectstore_s3

__all__ = ["deployment", "objectstore_s3"]
