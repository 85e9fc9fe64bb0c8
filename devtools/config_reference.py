"""The README's configuration reference, generated from the settings classes.

    python -m devtools.config_reference --write README.md   # refresh the block
    python -m devtools.config_reference --check README.md   # exit 1 if it is stale

Each settings class documents its fields (attribute docstrings); this renders
them as one table per component between the README's ``config-reference``
markers, so the reference cannot drift from the code (a test runs ``--check``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel
from pydantic_core import PydanticUndefined

from alchemiscale_like.client.config import CONFIG_ENV, FIELD_ENV, ClientConfig
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.security.tokens import TokenSettings
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.storage.objectstore.settings import ObjectStoreSettings
from alchemiscale_like.storage.statestore.settings import StateStoreSettings

START = "<!-- config-reference:start (generated: python -m devtools.config_reference) -->"
END = "<!-- config-reference:end -->"


@dataclass(frozen=True)
class Component:
    """One settings class and how the README introduces it."""

    title: str
    model: type[BaseModel]
    intro: str
    yaml: bool = False


COMPONENTS = (
    Component(
        "State store",
        StateStoreSettings,
        "Read by both APIs and the `database` and `identity` commands.",
    ),
    Component(
        "Object store",
        ObjectStoreSettings,
        "Read by both APIs.",
    ),
    Component(
        "API servers",
        APISettings,
        "Read by `alchemiscale-like api` and `alchemiscale-like compute api`.",
    ),
    Component(
        "Access tokens",
        TokenSettings,
        "Every process of both APIs must share the secret.",
    ),
    Component(
        "Compute services",
        ComputeServiceSettings,
        "Keys of the service's YAML file (`compute synchronous -c FILE`); each "
        "environment variable overrides its key.",
        yaml=True,
    ),
)


def _env_names(model: type[BaseModel], name: str) -> list[str]:
    alias = model.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    prefix = str(model.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper()]


def _default(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "none"
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    if isinstance(text, list | tuple) and not text:
        return "none"
    if text == "":
        return "empty"
    return f"`{text}`"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _rows(component: Component) -> Iterator[str]:
    model = component.model
    for name, field in model.model_fields.items():
        env = ", ".join(f"`{n}`" for n in _env_names(model, name))
        default = field.default
        if field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
        description = _cell(field.description or "")
        if component.yaml:
            yield f"| `{name}` | {env} | {_default(default)} | {description} |"
        else:
            yield f"| {env} | {_default(default)} | {description} |"


def render() -> str:
    """The whole generated block, markers included."""
    lines = [START, ""]
    for component in COMPONENTS:
        lines += [f"**{component.title}.** {component.intro}", ""]
        if component.yaml:
            lines += ["| key | environment | default | meaning |", "|---|---|---|---|"]
        else:
            lines += ["| environment | default | meaning |", "|---|---|---|"]
        lines += [*_rows(component), ""]
    lines += [
        "**User clients and the user CLI.** Each value: a command-line option, else the "
        f"environment, else the YAML file named by `{CONFIG_ENV}` (default "
        "`$XDG_CONFIG_HOME/alchemiscale-like/client.yaml`), which `quickstart` writes.",
        "",
        "| key | environment |",
        "|---|---|",
        *(f"| `{name}` | `{FIELD_ENV[name]}` |" for name in ClientConfig.model_fields),
        "",
        END,
    ]
    return "\n".join(lines)


def _replace(text: str, block: str) -> str:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"the README has no {START!r} ... {END!r} block")
    return text[:start] + block + text[end + len(END) :]


def main(argv: Sequence[str] | None = None) -> int:
    """Write or check the generated block of a README."""
    parser = argparse.ArgumentParser(prog="python -m devtools.config_reference")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, metavar="README")
    mode.add_argument("--check", type=Path, metavar="README")
    args = parser.parse_args(argv)
    path: Path = args.write or args.check
    text = path.read_text()
    updated = _replace(text, render())
    if args.write:
        path.write_text(updated)
        return 0
    if updated != text:
        print(
            f"{path}: the configuration reference is stale; run "
            f"python -m devtools.config_reference --write {path}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
