"""``compute synchronous`` with a config naming code it cannot have: a clear error, at once.

The API URL is a closed port: the command must refuse the config before it tries to
reach the API (the client would retry for many seconds and log every attempt).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.compute.service_processes import SERVICE_COMMAND, service_env


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"modules": ["tests.compute.no_such_module"]}, "tests.compute.no_such_module"),
        ({"protocols": ["HarmonicTIProtocol", "NoSuchProtocol"]}, "NoSuchProtocol"),
    ],
    ids=["unknown-module", "unregistered-protocol"],
)
def test_a_config_naming_missing_code_is_refused_before_the_service_starts(
    tmp_path: Path, setting: dict[str, object], named: str
) -> None:
    config = tmp_path / "service.yaml"
    values = {
        "api_url": f"http://127.0.0.1:{closed_port()}",
        "identifier": "worker",
        "key": "worker-key-0123456789abcdef",
        "scratch_dir": str(tmp_path / "scratch"),
        "once": True,
    }
    config.write_text(yaml.safe_dump(values | setting))
    done = subprocess.run(
        [*SERVICE_COMMAND, "-c", str(config)],
        cwd=tmp_path,
        env=service_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert named in error
    assert "api_retry" not in done.stderr  # refused before any request
