"""What every user verb shares: client options, errors as one line, tables and JSON.

Each user verb is a :class:`UserCommand`: an error the project raises on purpose
(:class:`~alchemiscale_like.errors.AlchemiscaleLikeError`, which includes every
error the API answers with and an unreachable API) or an ``OSError`` becomes one
line, ``Error: <Class>: <message>``, on stderr and exit status 1; with
``--log-level debug`` the traceback is printed above it. Usage errors are click's
own (exit status 2).

Human output is a table (rich; plain text of a fixed width when stdout is not a
terminal, so it is stable in logs and tests); ``--json`` prints JSON instead, and
nothing else goes to stdout. Keys are never printed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from alchemiscale_like.errors import AlchemiscaleLikeError
from alchemiscale_like.models.scope import Scope, ScopedKey

if TYPE_CHECKING:
    from rich.console import Console

    from alchemiscale_like.client.user import UserClient

#: Width of tables when stdout is not a terminal: wide enough for full scoped keys.
PLAIN_WIDTH = 200
#: The CLI gives up on an unreachable API sooner than a long-running client would.
CLI_MAX_RETRIES = 3
CLI_MAX_RETRY_TIME = 30.0

NETWORK_CLASSES = ("AlchemicalNetwork",)
TRANSFORMATION_CLASSES = ("Transformation", "NonTransformation")
TASK_CLASSES = ("Task",)

if TYPE_CHECKING:
    _ScopedKeyParam = click.ParamType[ScopedKey]
    _ScopeParam = click.ParamType[Scope]
else:  # click before 8.2 has no generic ParamType
    _ScopedKeyParam = _ScopeParam = click.ParamType

_MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


# -- errors ---------------------------------------------------------------------------------


def describe_error(exc: BaseException) -> str:
    """``exc`` as one line: ``<Class>: <message>`` (the class is the domain error's name)."""
    message = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {message}"


def _debugging(ctx: click.Context) -> bool:
    level = ctx.find_root().params.get("log_level")
    return isinstance(level, str) and level.upper() == "DEBUG"


class UserCommand(click.Command):
    """A user verb: domain and OS errors become one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn the errors it raises on purpose into a clean exit."""
        with _quiet_client_retries(ctx):
            try:
                return super().invoke(ctx)
            except (AlchemiscaleLikeError, OSError) as exc:
                if _debugging(ctx):
                    click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)
                raise click.ClickException(describe_error(exc)) from exc


@contextlib.contextmanager
def _quiet_client_retries(ctx: click.Context) -> Iterator[None]:
    """Without an explicit ``--log-level``, the client's retry warnings stay off stderr.

    A command that fails still says why in its one error line; one that succeeds
    after a retry needs no warning. ``--log-level warning`` (or lower) shows them.
    """
    root = ctx.find_root()
    if root.get_parameter_source("log_level") is not click.core.ParameterSource.DEFAULT:
        yield
        return
    client_logger = logging.getLogger("alchemiscale_like.client")
    before = client_logger.level
    client_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        client_logger.setLevel(before)


class UserGroup(click.Group):
    """A group of user verbs (its commands are :class:`UserCommand`)."""

    command_class = UserCommand


# -- parameters -----------------------------------------------------------------------------


class ScopedKeyType(_ScopedKeyParam):
    """A scoped key of one of ``classes`` (by the key's class prefix)."""

    name = "scoped_key"

    def __init__(self, *classes: str) -> None:
        self.classes = classes

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> ScopedKey:
        """Parse ``value``; a malformed key or one of another class is a usage error."""
        if isinstance(value, ScopedKey):
            return value
        try:
            key = ScopedKey.from_str(value)
        except AlchemiscaleLikeError as exc:
            self.fail(str(exc), param, ctx)
        if self.classes and key.qualname not in self.classes:
            wanted = " or ".join(self.classes)
            self.fail(f"{value} is a {key.qualname} key, not a {wanted} key", param, ctx)
        return key


class ScopeType(_ScopeParam):
    """A scope ``org-campaign-project``; ``specific`` refuses wildcards."""

    name = "scope"

    def __init__(self, specific: bool) -> None:
        self.specific = specific

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Scope:
        """Parse ``value``; a malformed scope is a usage error."""
        if isinstance(value, Scope):
            return value
        try:
            scope = Scope.from_str(value)
            if self.specific:
                scope.require_specific()
        except AlchemiscaleLikeError as exc:
            self.fail(str(exc), param, ctx)
        return scope


NETWORK = ScopedKeyType(*NETWORK_CLASSES)
TRANSFORMATION = ScopedKeyType(*TRANSFORMATION_CLASSES)
NETWORK_OR_TRANSFORMATION = ScopedKeyType(*NETWORK_CLASSES, *TRANSFORMATION_CLASSES)
TASK = ScopedKeyType(*TASK_CLASSES)

JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table."
)
MODULE_OPTION = click.option(
    "-m",
    "--module",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="Import this Python module first (your own protocols; repeatable).",
)


def import_modules(modules: Iterable[str]) -> None:
    """Register the shipped protocols, then import each of the user's ``modules``.

    Raises:
        click.BadParameter: a name that is not a dotted module name, or one that fails to import.
    """
    import alchemiscale_like.protocols  # noqa: F401 -- registers the shipped protocols

    for module in modules:
        if _MODULE_RE.fullmatch(module) is None:
            raise click.BadParameter(f"{module!r} is not a module name", param_hint="-m")
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise click.BadParameter(f"cannot import {module!r}: {exc}", param_hint="-m") from exc


# -- the client -----------------------------------------------------------------------------


def open_user_client(
    api_url: str | None, identifier: str | None, key: str | None, config: Path | None
) -> UserClient:
    """A :class:`UserClient` from the options, the environment, then the config file.

    Raises:
        ValidationError: a setting is found nowhere, or the config file is malformed.
    """
    from alchemiscale_like.client.config import load_client_config
    from alchemiscale_like.client.user import UserClient

    settings = load_client_config(api_url=api_url, identifier=identifier, key=key, path=config)
    return UserClient(
        settings.api_url,
        settings.identifier,
        settings.key.get_secret_value(),
        max_retries=CLI_MAX_RETRIES,
        max_retry_time=CLI_MAX_RETRY_TIME,
    )


def with_user_client(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--api-url``, ``--identifier``, ``--key``, ``--config``; pass ``client=`` instead.

    The client is built when the command runs (after its arguments are checked) and
    closed when it returns.
    """

    @functools.wraps(command)
    def run(
        *args: Any,
        api_url: str | None,
        identifier: str | None,
        key: str | None,
        config: Path | None,
        **kwargs: Any,
    ) -> Any:
        with open_user_client(api_url, identifier, key, config) as client:
            return command(*args, client=client, **kwargs)

    options = [
        click.option(
            "--api-url", metavar="URL", help="User API URL [env ALCHEMISCALE_LIKE_API_URL]."
        ),
        click.option(
            "--identifier",
            metavar="NAME",
            help="User identity [env ALCHEMISCALE_LIKE_IDENTIFIER].",
        ),
        click.option(
            "--key",
            metavar="KEY",
            help="User key [env ALCHEMISCALE_LIKE_KEY]; prefer the variable or the config "
            "file, a command line is visible to other users of the machine.",
        ),
        click.option(
            "--config",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Client config file [env ALCHEMISCALE_LIKE_CONFIG; default "
            "~/.config/alchemiscale-like/client.yaml].",
        ),
    ]
    decorated: Callable[..., Any] = run
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


# -- output ---------------------------------------------------------------------------------


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr): plain text of a fixed width when not a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    return Console(
        file=stream,
        width=None if tty else PLAIN_WIDTH,
        color_system="auto" if tty else None,
        markup=False,
        emoji=False,
        highlight=False,
    )


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a table to stdout: one header line, one line per row, no borders."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header.upper(), overflow="fold")
    for row in rows:
        table.add_row(*(Text("-" if cell is None else str(cell)) for cell in row))
    out = console()
    with out.capture() as captured:
        out.print(table)
    # Rich pads every cell to its column's width; trailing blanks only clutter logs.
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON to stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def human_size(size: int) -> str:
    """``size`` bytes for humans: ``10.4 kB``."""
    from rich.filesize import decimal

    return decimal(size)


def short_key(key: ScopedKey | str) -> str:
    """``Class-<first 8 hex>``: enough to recognise a key in a table."""
    text = key.gufe_key if isinstance(key, ScopedKey) else str(key)
    prefix, _, digest = text.partition("-")
    return f"{prefix}-{digest[:8]}" if digest else text


def names_in_chain(chain: Any) -> dict[str, str]:
    """``{gufe key: name}`` of the named objects of a keyed chain (read as plain JSON)."""
    names: dict[str, str] = {}
    if isinstance(chain, list):
        for entry in chain:
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict):
                name = entry[1].get("name")
                if isinstance(entry[0], str) and isinstance(name, str):
                    names[entry[0]] = name
    return names
