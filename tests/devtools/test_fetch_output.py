"""Fetching server jars writes nothing to stdout (benchmarks print their JSON there)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devtools.servers.common import REPO_ROOT


def test_a_fresh_fetch_keeps_stdout_clean(tmp_path: Path) -> None:
    # An empty cache forces Maven to run; it writes ANSI escapes to stdout even with -q -B.
    env = {**os.environ, "ALCHEMISCALE_LIKE_DEVTOOLS_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-c", "from devtools.servers import s3proxy; s3proxy.fetch()"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        timeout=600,
        check=True,
    )
    assert result.stdout == b""
    assert any((tmp_path / "cache" / "jars" / "s3proxy").glob("s3proxy-*.jar"))
    assert (tmp_path / "cache" / "jars" / "s3proxy-fetch.log").exists()
