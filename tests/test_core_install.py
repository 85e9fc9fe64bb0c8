"""A compute node installs the core only: nothing it uses may need server dependencies."""

import subprocess
import sys

# Blocking a module in sys.modules makes any import of it fail, as if not installed.
PROGRAM = """
import sys
for name in ("neo4j", "fastapi", "uvicorn", "boto3", "botocore", "jwt", "argon2"):
    sys.modules[name] = None
import alchemiscale_like
import alchemiscale_like.cli
import alchemiscale_like.execution.local_run
import alchemiscale_like.protocols
import alchemiscale_like.protocols.testing
from alchemiscale_like.storage.objectstore import LocalObjectStore, build_objectstore
from alchemiscale_like.storage.statestore.records import network_record_from_chain
from alchemiscale_like.cli import cli
cli(["run", "--help"], standalone_mode=False)
print("core ok")
"""


def test_core_imports_without_server_dependencies():
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "core ok" in done.stdout
