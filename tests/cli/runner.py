"""Run ``alchemiscale-like`` commands in this process (click's runner) for the CLI tests."""

from __future__ import annotations

from dataclasses import dataclass

from click.testing import CliRunner

from alchemiscale_like.cli import cli


@dataclass(frozen=True)
class Done:
    """What a command run left: exit status and its two output streams."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> Done:
    """``alchemiscale-like ARGS`` with ``env`` added to the environment.

    The same command objects and parsing as the installed script, without a Python
    start-up per call. A crash (anything but a clean exit or a refusal) is re-raised
    so its traceback shows.
    """
    result = CliRunner().invoke(cli, args, input=stdin, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Done(result.exit_code, result.stdout, result.stderr)
