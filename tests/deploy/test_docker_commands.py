"""The deployment's commands are real CLI commands: each parses, answers ``--help`` and
knows every option compose.yaml, the Dockerfiles and docker/README.md give it.

Part of the checks of the Docker deployment; see ``tests/deploy/docker_files.py``.
"""

from __future__ import annotations

import re
import tomllib

import click
import pytest

from tests.cli.runner import run_cli
from tests.deploy.docker_files import (
    DOCKERFILES,
    INVOCATIONS,
    Invocation,
    _in_container,
    command_path,
    exec_form,
    final_stage,
    last,
    option_value,
    ours,
    readme_commands,
    services,
)
from tests.deploy.kit import ROOT


def test_every_deployment_command_is_found() -> None:
    # The checks below are worth something only if the extraction finds what is there.
    paths = {tuple(command_path(i.argv)[0]) for i in INVOCATIONS}
    for expected in [
        ("api",),
        ("compute", "api"),
        ("database", "init"),
        ("compute", "synchronous"),
        ("identity", "add"),
        ("identity", "list"),
    ]:
        assert expected in paths, f"no `alchemiscale-like {' '.join(expected)}` found"
    wheres = {i.where for i in INVOCATIONS}
    for service in ("init", "user-api", "compute-api", "admin", "compute"):
        assert f"compose.yaml {service}" in wheres
    assert {"Dockerfile.server CMD", "Dockerfile.compute CMD"} <= wheres


@pytest.mark.parametrize("invocation", INVOCATIONS, ids=str)
def test_command_exists_and_knows_its_options(invocation: Invocation) -> None:
    names, _ = command_path(invocation.argv)
    done = run_cli([*invocation.argv, "--help"], env={})
    assert done.returncode == 0, f"{invocation}\n{done.stdout}{done.stderr}"
    # --help reached the command itself, not a group above it.
    usage = "".join(" " + re.escape(name) for name in names)
    assert re.search(rf"^Usage: \S+{usage} \[OPTIONS\]", done.stdout, re.M), done.stdout
    for token in invocation.argv:
        if token.startswith("-") and token != "--":
            option = token.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", done.stdout), (
                f"{invocation}: {option} is not an option of this command\n{done.stdout}"
            )


@pytest.mark.parametrize("invocation", [i for i in INVOCATIONS if "--help" not in i.argv], ids=str)
def test_command_line_parses_with_its_values(invocation: Invocation) -> None:
    """Values too: choices, integers, and files (the mounted ones, as the container sees them)."""
    names, command = command_path(invocation.argv)
    assert not isinstance(command, click.Group), f"{invocation}: names a group, not a command"
    argv = [_in_container(token, invocation.mounts) for token in invocation.argv[len(names) :]]
    with command.make_context(" ".join(names), argv) as ctx:
        assert ctx.command is command


def test_parse_check_rejects_a_bad_value() -> None:
    _, command = command_path(("compute", "api"))
    with pytest.raises(click.BadParameter):
        command.make_context("compute api", ["--port", "eighty"])
    _, command = command_path(("compute", "synchronous"))
    with pytest.raises(click.BadParameter, match="does not exist"):
        command.make_context("compute synchronous", ["-c", "/nonexistent/service.yaml"])


def test_help_check_rejects_a_renamed_command_and_option() -> None:
    assert run_cli(["compute", "serve", "--help"], env={}).returncode != 0
    done = run_cli(["api", "--help"], env={})
    assert re.search(r"(?<![\w-])--host(?![\w-])", done.stdout)
    assert not re.search(r"(?<![\w-])--hostname(?![\w-])", done.stdout)


def test_entrypoint_is_the_installed_cli() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["alchemiscale-like"] == "alchemiscale_like.cli:cli"
    for kind in DOCKERFILES:
        assert exec_form(last(final_stage(kind), "ENTRYPOINT")) == ["alchemiscale-like"]
    for name in ours():
        # No service replaces the entrypoint: its command is an alchemiscale-like command.
        assert "entrypoint" not in services()[name], name


def test_readme_shows_how_to_create_both_kinds_of_identity() -> None:
    adds = [i.argv for i in INVOCATIONS if command_path(i.argv)[0] == ["identity", "add"]]
    kinds = {option_value(list(argv), "--type") for argv in adds}
    assert kinds == {"user", "compute"}
    profiles = {p for s in services().values() for p in s.get("profiles", [])}
    for tokens in readme_commands():
        if "--profile" in tokens:
            assert option_value(tokens, "--profile") in profiles
