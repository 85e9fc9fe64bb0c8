"""``alchemiscale-like identity ...`` against the worker's real Neo4j.

The commands run in this process through click's runner (the same command objects and
parsing as the installed script, without a Python start-up per call); one test runs
the real ``python -m alchemiscale_like`` subprocess end to end.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from alchemiscale_like.errors import AuthenticationFailed
from alchemiscale_like.services import identities
from tests.cli.runner import Done, run_cli

KEY = "bob-key-0123456789abcdefgh"


@pytest.fixture
def run(neo4j_server, neo4j_clean_driver):
    """Run ``identity ARGS`` with the state store pointed at this worker's Neo4j."""

    def run_identity(*args: str, stdin: str | None = None) -> Done:
        return run_cli(["identity", *args], {"NEO4J_URL": neo4j_server.url}, stdin)

    return run_identity


def test_the_installed_command_adds_and_lists_in_a_subprocess(neo4j_server, neo4j_clean_driver):
    env = {**os.environ, "NEO4J_URL": neo4j_server.url}
    command = [sys.executable, "-m", "alchemiscale_like", "identity"]
    added = subprocess.run(
        [*command, "add", "alice", "--scope", "o-c-p"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.count("key: ") == 1
    listed = subprocess.run(
        [*command, "list", "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert [i["identifier"] for i in json.loads(listed.stdout)] == ["alice"]
    refused = subprocess.run(
        [*command, "add", "bad identifier!"], capture_output=True, text=True, env=env, timeout=120
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: ")
    assert "identifier" in refused.stderr


def failed(done: Done, code: int, text: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert text in done.stderr
    if code == 1:
        assert done.stderr.startswith("Error: ")
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_add_generates_a_key_and_prints_it_once(run, neo4j_statestore):
    done = run(
        "add", "alice", "--scope", "o-c-p", "--scope", "x", "--expires", "2099-01-31T12:00:00Z"
    )
    assert done.returncode == 0, done.stderr
    key_lines = [line for line in done.stdout.splitlines() if line.startswith("key: ")]
    assert len(key_lines) == 1
    key = key_lines[0].removeprefix("key: ")
    assert len(key) >= 32
    assert done.stdout.count(key) == 1
    assert key not in done.stderr
    assert "Store this key now" in done.stderr
    got = identities.authenticate(neo4j_statestore, "user", "alice", key)
    assert got.scopes == ("o-c-p", "x-*-*")
    assert got.expires == dt.datetime(2099, 1, 31, 12, tzinfo=dt.UTC)


def test_add_with_a_key_file_or_a_prompt_never_prints_the_key(run, neo4j_statestore, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(f"  {KEY}  \nsecond line is ignored\n", encoding="utf-8")
    done = run("add", "bob", "--key-file", str(key_file), "--scope", "o-c-p")
    assert done.returncode == 0, done.stderr
    assert KEY not in done.stdout + done.stderr
    assert "key:" not in done.stdout
    assert identities.authenticate(neo4j_statestore, "user", "bob", KEY)

    typed = "typed-compute-key-0123456789"
    done = run("add", "node1", "--type", "compute", "--prompt-key", stdin=f"{typed}\n{typed}\n")
    assert done.returncode == 0, done.stderr
    assert typed not in done.stdout + done.stderr
    assert identities.authenticate(neo4j_statestore, "compute", "node1", typed)
    with pytest.raises(AuthenticationFailed):
        identities.authenticate(neo4j_statestore, "user", "node1", typed)


def test_add_refuses_bad_input_and_stores_nothing(run, neo4j_statestore, tmp_path):
    short = tmp_path / "short"
    short.write_text("short\n", encoding="utf-8")
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    failed(run("add", "carol", "--scope", "*-c-p"), 1, "wildcards may only trail")
    failed(run("add", "bad identifier!"), 1, "identifier")
    failed(run("add", "carol", "--key-file", str(short)), 1, "at least 16 characters")
    failed(run("add", "carol", "--key-file", str(empty)), 1, "no key on its first line")
    failed(run("add", "carol", "--expires", "tomorrow"), 2, "ISO-8601")
    failed(run("add", "carol", "--expires", "2001-01-01"), 1, "not in the future")
    failed(run("add", "carol", "--key-file", str(short), "--prompt-key"), 2, "not both")
    failed(run("add", "carol", "--type", "admin"), 2, "admin")
    assert identities.list_identities(neo4j_statestore, "user") == []

    identities.add_identity(neo4j_statestore, "user", "carol", KEY, ["o-c-p"])
    taken = run("add", "carol", "--scope", "*-*-*")
    failed(taken, 1, "exists")
    assert "key:" not in taken.stdout, "a key that was not stored is not shown"
    assert identities.authenticate(neo4j_statestore, "user", "carol", KEY).scopes == ("o-c-p",)


def test_list_prints_a_table_or_json_without_secrets(run, neo4j_statestore):
    expires = dt.datetime(2099, 5, 1, tzinfo=dt.UTC)
    identities.add_identity(neo4j_statestore, "user", "bob", KEY, ["o-c-p", "x"], expires)
    identities.add_identity(neo4j_statestore, "user", "alice", KEY, [])
    identities.set_disabled(neo4j_statestore, "user", "bob", True)
    hashed = neo4j_statestore.get_identity("user", "bob").hashed_key

    table = run("list")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows == [
        ["IDENTIFIER", "SCOPES", "DISABLED", "EXPIRES"],
        ["alice", "-", "no", "-"],
        ["bob", "o-c-p,x-*-*", "yes", expires.isoformat()],
    ]

    listed = run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [
        {"identifier": "alice", "kind": "user", "scopes": [], "disabled": False, "expires": None},
        {
            "identifier": "bob",
            "kind": "user",
            "scopes": ["o-c-p", "x-*-*"],
            "disabled": True,
            "expires": expires.isoformat(),
        },
    ]
    for output in (table, listed):
        assert hashed not in output.stdout
        assert "argon2" not in output.stdout

    compute = run("list", "--type", "compute", "--json")
    assert compute.returncode == 0, compute.stderr
    assert json.loads(compute.stdout) == []


def test_scope_disable_enable_and_remove(run, neo4j_statestore):
    identities.add_identity(neo4j_statestore, "user", "bob", KEY, ["o-c-p"])

    done = run("add-scope", "bob", "x", "o-d-*")
    assert done.returncode == 0, done.stderr
    assert neo4j_statestore.get_identity("user", "bob").scopes == ("o-c-p", "o-d-*", "x-*-*")
    done = run("remove-scope", "bob", "o-c-p", "x")
    assert done.returncode == 0, done.stderr
    assert neo4j_statestore.get_identity("user", "bob").scopes == ("o-d-*",)
    failed(run("remove-scope", "bob", "q-r-s"), 1, "does not hold q-r-s")
    failed(run("add-scope", "bob", "*-x"), 1, "wildcards may only trail")
    failed(run("add-scope", "bob"), 2, "SCOPE")
    assert neo4j_statestore.get_identity("user", "bob").scopes == ("o-d-*",)

    assert run("disable", "bob").returncode == 0
    with pytest.raises(AuthenticationFailed, match="disabled"):
        identities.authenticate(neo4j_statestore, "user", "bob", KEY)
    assert run("enable", "bob").returncode == 0
    assert identities.authenticate(neo4j_statestore, "user", "bob", KEY)

    failed(run("disable", "bob", "--type", "compute"), 1, "not found")
    failed(run("add-scope", "nobody", "x"), 1, "not found")
    done = run("remove", "bob")
    assert done.returncode == 0, done.stderr
    assert identities.list_identities(neo4j_statestore, "user") == []
    failed(run("remove", "bob"), 1, "not found")
