"""Where a user's client finds its API and credentials: environment, then a config file.

The config file is YAML with three keys::

    api_url: http://127.0.0.1:8000
    identifier: alice
    key: <the user key>

``alchemiscale-like quickstart`` writes one (user-only permissions) into its data
folder. Lookup order for each field: an explicit value (a CLI option), the
environment (``ALCHEMISCALE_LIKE_API_URL``, ``ALCHEMISCALE_LIKE_IDENTIFIER``,
``ALCHEMISCALE_LIKE_KEY``), then the file named by ``ALCHEMISCALE_LIKE_CONFIG``,
else ``$XDG_CONFIG_HOME/alchemiscale-like/client.yaml`` (``~/.config/...``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr

from alchemiscale_like.atomicfiles import write_atomic
from alchemiscale_like.errors import ValidationError

__all__ = [
    "CONFIG_ENV",
    "FIELD_ENV",
    "ClientConfig",
    "default_config_path",
    "load_client_config",
    "write_client_config",
]

#: Environment variable naming the config file.
CONFIG_ENV = "ALCHEMISCALE_LIKE_CONFIG"
#: Environment variable of each field.
FIELD_ENV = {
    "api_url": "ALCHEMISCALE_LIKE_API_URL",
    "identifier": "ALCHEMISCALE_LIKE_IDENTIFIER",
    "key": "ALCHEMISCALE_LIKE_KEY",
}


class ClientConfig(BaseModel):
    """The API a user client talks to and the identity it logs in as."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    api_url: str
    identifier: str
    key: SecretStr


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The config file used when ``ALCHEMISCALE_LIKE_CONFIG`` is not set."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "alchemiscale-like" / "client.yaml"


def _read_file(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read the client config {path}: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValidationError(f"the client config {path} must hold a mapping")
    unknown = sorted(set(map(str, loaded)) - set(FIELD_ENV))
    if unknown:
        raise ValidationError(f"unknown keys in the client config {path}: {', '.join(unknown)}")
    return {str(k): v for k, v in loaded.items()}


def load_client_config(
    *,
    api_url: str | None = None,
    identifier: str | None = None,
    key: str | None = None,
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Resolve each field from the arguments, the environment, then the config file.

    ``path`` (else ``$ALCHEMISCALE_LIKE_CONFIG``) must exist when given; the default
    file is read only if it exists.

    Raises:
        ValidationError: a field is found nowhere, or the file is unreadable or malformed.
    """
    environ = os.environ if environ is None else environ
    explicit = {"api_url": api_url, "identifier": identifier, "key": key}
    values = {name: value for name, value in explicit.items() if value is not None}
    for name, variable in FIELD_ENV.items():
        if name not in values and environ.get(variable):
            values[name] = environ[variable]
    missing = [name for name in FIELD_ENV if name not in values]
    source = path or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if missing and source is None and default_config_path(environ).is_file():
        source = default_config_path(environ)
    if missing and source is not None:
        from_file = _read_file(source.expanduser())
        values.update({name: from_file[name] for name in missing if name in from_file})
    missing = [name for name in FIELD_ENV if name not in values]
    if missing:
        hint = ", ".join(FIELD_ENV[name] for name in missing)
        where = f"the client config {source}" if source else "a client config file"
        raise ValidationError(f"no {', '.join(missing)}: set {hint} or give them in {where}")
    try:
        return ClientConfig.model_validate(values)
    except ValueError as exc:
        raise ValidationError(f"invalid client config: {exc}") from exc


def write_client_config(path: Path, config: ClientConfig) -> None:
    """Write ``config`` to ``path`` atomically, readable and writable by the owner only."""
    body = yaml.safe_dump(
        {
            "api_url": config.api_url,
            "identifier": config.identifier,
            "key": config.key.get_secret_value(),
        },
        sort_keys=False,
    )
    write_atomic(path, body.encode())  # mkstemp's file: mode 0600 from the start
    os.chmod(path, 0o600)
