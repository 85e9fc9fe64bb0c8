"""Fixtures of the browser tests: headless Chromium, from :mod:`tests.ui.browser_fixtures`.

Imported rather than listed in ``pytest_plugins``: pytest honours that only in the
rootdir's ``conftest.py`` (``tests/conftest.py`` lists the server fixtures there).
"""

from tests.server.conftest import deployment, objectstore_s3
from tests.ui.browser_fixtures import (
    browser,
    browser_download_dir,
    browser_paths,
    browser_session,
)

# The deployment fixtures of tests/server too (Neo4j, S3Proxy, both APIs under uvicorn).
__all__ = [
    "browser",
    "browser_download_dir",
    "browser_paths",
    "browser_session",
    "deployment",
    "objectstore_s3",
]
