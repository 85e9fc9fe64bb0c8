"""Developer command for the real servers: ``python -m devtools.services``.

    python -m devtools.services fetch              # fetch every server's jars (CI does this)
    python -m devtools.services neo4j up|down|status
    python -m devtools.services s3 up|down|status

``up`` starts the server in the background on 127.0.0.1 (port from ``--port`` or
a default), stores its data under ``.cache/run/<server>/`` and prints the
environment variables that point the project at it. ``down`` stops it.
Every server module in :mod:`devtools.servers` exposes ``fetch()``,
``start(data_dir, port) -> JavaServer`` and ``env(server) -> dict``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from types import ModuleType

from devtools.servers.common import CACHE_DIR, wait_for_port

SERVERS = {"neo4j": "devtools.servers.neo4j", "s3": "devtools.servers.s3proxy"}
DEFAULT_PORTS = {"neo4j": 7687, "s3": 9090}


def _module(name: str) -> ModuleType:
    return importlib.import_module(SERVERS[name])


def _state_file(name: str) -> Path:
    return CACHE_DIR / "run" / f"{name}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up(name: str, port: int, fresh: bool) -> None:
    """Start server ``name`` in the background and record its pid."""
    state = _state_file(name)
    if state.exists() and _alive(json.loads(state.read_text())["pid"]):
        print(f"{name} already running: {state.read_text()}")
        return
    data_dir = CACHE_DIR / "run" / name
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
    mod = _module(name)
    mod.fetch()
    server = mod.start(data_dir, port)
    info = {"pid": server.proc.pid, "port": server.port, "env": mod.env(server)}
    state.write_text(json.dumps(info))
    print(f"{name} listening on 127.0.0.1:{server.port} (pid {server.proc.pid})")
    for key, value in info["env"].items():
        print(f"export {key}={value}")


def down(name: str) -> None:
    """Stop server ``name`` if ``up`` started it."""
    state = _state_file(name)
    if not state.exists():
        print(f"{name} not running")
        return
    pid = json.loads(state.read_text())["pid"]
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    state.unlink()
    print(f"{name} stopped")


def status(name: str) -> int:
    """Print whether server ``name`` runs; exit status 0 if it does."""
    state = _state_file(name)
    if not state.exists():
        print(f"{name}: down")
        return 1
    info = json.loads(state.read_text())
    if not _alive(info["pid"]):
        print(f"{name}: down (stale pid {info['pid']})")
        return 1
    wait_for_port(info["port"], 5)
    print(f"{name}: up on 127.0.0.1:{info['port']} (pid {info['pid']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.services",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("server", choices=["fetch", *SERVERS])
    parser.add_argument("action", nargs="?", choices=["up", "down", "status"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--fresh", action="store_true", help="wipe the data folder first")
    args = parser.parse_args(argv)
    if args.server == "fetch":
        for name in SERVERS:
            _module(name).fetch()
            print(f"{name}: jars ready")
        return 0
    if args.action is None:
        parser.error("give an action: up, down or status")
    if args.action == "up":
        up(args.server, args.port or DEFAULT_PORTS[args.server], args.fresh)
        return 0
    if args.action == "down":
        down(args.server)
        return 0
    return status(args.server)


if __name__ == "__main__":
    sys.exit(main())
