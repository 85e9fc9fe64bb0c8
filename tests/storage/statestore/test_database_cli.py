"""``alchemiscale-like database init|check|reset`` against the worker's real Neo4j.

The commands run in this process through click's runner (tests/cli/runner.py); the
installed script itself is run as a subprocess in tests/cli/test_identity_cli.py.
"""

from devtools.servers.common import free_port
from tests.cli.runner import Done, run_cli
from tests.storage.statestore.conftest import World


def database(server_url: str, *args: str, stdin: str | None = None) -> Done:
    return run_cli(["database", *args], {"NEO4J_URL": server_url}, stdin)


def test_init_check_reset(neo4j_server, neo4j_statestore, neo4j_clean_driver):
    World(neo4j_statestore, n_tasks=1)
    url = neo4j_server.url
    try:
        assert database(url, "check").returncode == 0
        refused = database(url, "reset", stdin="n\n")
        assert refused.returncode != 0
        assert neo4j_statestore.query_networks(state=None) != [], "declined reset changed nothing"
        done = database(url, "reset", "--yes")
        assert done.returncode == 0, done.stderr
        assert neo4j_statestore.query_networks(state=None) == []
        failed = database(url, "check")
        assert failed.returncode == 1
        assert "not initialized" in failed.stderr
        assert database(url, "init").returncode == 0
        assert database(url, "check").returncode == 0
    finally:
        neo4j_statestore.initialize()


def test_check_unreachable_server_fails_clearly():
    done = database(f"bolt://127.0.0.1:{free_port()}", "check")
    assert done.returncode == 1
    assert "unavailable" in done.stderr
