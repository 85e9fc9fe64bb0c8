"""HPC kit tests run real compute services against the API deployment of tests/server."""

from tests.server.conftest import deployment, objectstore_s3

__all__ = ["deployment", "objectstore_s3"]
