"""Compute-service tests run against the API deployment of tests/server."""

from tests.server.conftest import deployment, objectstore_s3

__all__ = ["deployment", "objectstore_s3"]
