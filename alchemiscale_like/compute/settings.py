"""Settings of a compute service: a YAML file, overridden by ``ALCHEMISCALE_LIKE_COMPUTE_*``.

Example ``service.yaml``::

    api_url: https://compute.example.org
    identifier: hpc-cluster-1
    key_file: ~/.alchemiscale-like/key
    scopes: [org-campaign-*]
    tasks_per_claim: 1
    max_time: 11h30m
    scratch_dir: /scratch/$USER/alchemiscale-like
    cache_dir: /scratch/$USER/alchemiscale-like-cache   # shared by the node's services
    cache_max_bytes: 20GiB
    execution: processes
    max_workers: 4
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.execution.cache import NodeFileCache
from alchemiscale_like.execution.dag_executor import validate_scheduler_address
from alchemiscale_like.models.scope import Scope

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?")


def parse_duration(value: object) -> float | None:
    """Seconds in ``value``: a number, or text like ``11h30m``, ``90m``, ``1d2h``, ``45s``."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return None if value is None else float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a duration must be a number of seconds or like '11h30m', not {value!r}")
    match = _DURATION.fullmatch(value.strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"a duration must look like '11h30m', '90m' or '45s', not {value!r}")
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


Duration = Annotated[float | None, pydantic.BeforeValidator(parse_duration)]

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1} | {
    f"{prefix}{infix}b": base**power
    for power, prefix in enumerate("kmgt", start=1)
    for infix, base in (("", 1000), ("i", 1024))
}


def parse_size(value: object) -> object:
    """Bytes in ``value``: a whole number, or text like ``50GiB``, ``500MB``, ``1.5TiB``.

    ``KB``/``MB``/``GB``/``TB`` are powers of 1000, ``KiB``/``MiB``/``GiB``/``TiB`` of
    1024. Anything else is left for the field's own check.
    """
    if not isinstance(value, str):
        return value
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"a size must be a number of bytes or like '50GiB', not {value!r}")
    number, unit = match.groups()
    scale = _SIZE_UNITS[(unit or "").lower()]
    return int(number) * scale if number.isdigit() else int(float(number) * scale)


Size = Annotated[int, Field(ge=0), pydantic.BeforeValidator(parse_size)]


class ComputeServiceSettings(BaseSettings):
    """Everything a compute service is configured with (see the module docstring)."""

    model_config = SettingsConfigDict(
        env_prefix="ALCHEMISCALE_LIKE_COMPUTE_",
        extra="forbid",
        use_attribute_docstrings=True,
        hide_input_in_errors=True,
    )

    api_url: str
    """URL of the compute API."""
    identifier: str
    """The compute identity."""
    key: SecretStr | None = None
    """Its key (prefer ``key_file``)."""
    key_file: Path | None = None
    """A file whose first line is the key."""
    service_suffix: str | None = None
    """Suffix of this service's identifier (default: host, pid and a random part)."""
    scopes: list[str] | None = None
    """Scopes to claim from (default: all of the identity's)."""
    protocols: list[str] | None = None
    """Protocol class names this service runs (default: every registered protocol)."""
    tasks_per_claim: Annotated[int, Field(ge=1, le=1000)] = 1
    """Tasks claimed per request."""
    heartbeat_interval: Annotated[float, Field(gt=0)] = 30.0
    """Seconds between heartbeats (keep well below the API's lease)."""
    idle_sleep: Annotated[float, Field(gt=0)] = 2.0
    """First pause when there is nothing to claim; doubles up to ``idle_sleep_max``."""
    idle_sleep_max: Annotated[float, Field(gt=0)] = 60.0
    """Longest pause between empty claims (jittered)."""
    max_tasks: Annotated[int | None, Field(ge=1)] = None
    """Stop after this many tasks."""
    max_time: Duration = None
    """Walltime: stop claiming and leave before it, e.g. ``11h30m``."""
    stop_margin: Duration = 300.0
    """Leave this long before ``max_time`` (upload and release need it)."""
    stop_grace: Annotated[float, Field(ge=0)] = 30.0
    """On a stop, the unit in flight gets this long to finish before it is asked to
    checkpoint and stop."""
    checkpoint_interval: Annotated[float, Field(gt=0)] = 120.0
    """Seconds between uploads of the checkpoints of running units."""
    scratch_dir: Path = Path("alchemiscale-like-scratch")
    """This service's task folders and checkpoints (and the file cache, by default)."""
    cache_dir: Path | None = None
    """The node's file cache (default: ``scratch_dir/cache``). Services that name the
    same folder share it: a file one of them produced or downloaded is not downloaded
    again by the others. Best on the node's local disk, on the filesystem of
    ``scratch_dir`` (files are then hard-linked into task folders, not copied)."""
    cache_max_bytes: Size = 50 * 1024**3
    """Size cap of the node's file cache, in bytes or like ``50GiB``. Above it the least
    recently used files are evicted, down to 90% of the cap. ``0`` turns the node cache
    off: each task downloads what it needs (once) into its own folder, and nothing is
    kept for later tasks."""
    execution: Literal["inprocess", "processes", "dask"] = "inprocess"
    """Where units run: in this process, independent units in a local process pool, or on a
    Dask cluster (``pip install 'alchemiscale-like[dask]'``)."""
    max_workers: Annotated[int | None, Field(ge=1)] = None
    """Process pool size for ``processes`` (default: CPU count); for ``dask``, the most units
    in flight (default: no limit)."""
    scheduler: str | None = None
    """Dask scheduler address (``tcp://host:8786``) for ``dask``; none: a local cluster per
    task. Its workers must see ``scratch_dir`` at the same path (a shared filesystem)."""
    unit_retries: Annotated[int, Field(ge=0)] = 0
    """Extra attempts of a failed unit within one claim."""
    once: bool = False
    """Run until no task is left, then exit (for batch jobs)."""
    modules: list[str] = Field(default_factory=list)
    """Python modules to import first (your protocols register themselves)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level."""
    log_format: Literal["text", "json"] = "text"
    """``text`` (key=value) or ``json`` (one object per line)."""
    log_file: Path | None = None
    """Log to this file instead of stderr."""

    @field_validator("key_file", "scratch_dir", "cache_dir", "log_file", mode="before")
    @classmethod
    def _expand(cls, value: object) -> object:
        # '~' and $VARIABLES, as a job script would expand them: '/scratch/$USER/...'.
        if isinstance(value, (str, Path)):
            return Path(os.path.expandvars(os.path.expanduser(str(value))))
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [str(Scope.from_str(s)) for s in value]

    @model_validator(mode="after")
    def _has_key(self) -> ComputeServiceSettings:
        if (self.key is None) == (self.key_file is None):
            raise ValueError("give exactly one of 'key' and 'key_file'")
        return self

    @model_validator(mode="after")
    def _scheduler(self) -> ComputeServiceSettings:
        if self.scheduler is not None:
            if self.execution != "dask":
                raise ValueError("'scheduler' is only used with 'execution: dask'")
            validate_scheduler_address(self.scheduler)
        return self

    @property
    def file_cache_dir(self) -> Path:
        """The node's file cache folder: ``cache_dir``, else ``scratch_dir/cache``."""
        return self.cache_dir if self.cache_dir is not None else self.scratch_dir / "cache"

    def file_cache(self) -> NodeFileCache | None:
        """The node's file cache these settings describe (None with ``cache_max_bytes: 0``)."""
        if self.cache_max_bytes == 0:
            return None
        return NodeFileCache(self.file_cache_dir, self.cache_max_bytes)

    def read_key(self) -> str:
        """The identity's key (from ``key`` or the first line of ``key_file``)."""
        if self.key is not None:
            return self.key.get_secret_value()
        assert self.key_file is not None
        try:
            return self.key_file.expanduser().read_text().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise ValidationError(f"cannot read a key from {self.key_file}: {exc}") from exc

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the YAML file (passed as init values).
        return env_settings, init_settings

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> ComputeServiceSettings:
        """Settings from the YAML file ``path`` (if any), the environment, then ``overrides``.

        Raises:
            ValidationError: the file is unreadable or a field is invalid (the message
                names the field).
        """
        values: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as exc:
                raise ValidationError(f"cannot read {path}: {exc}") from exc
            if loaded is not None and not isinstance(loaded, dict):
                raise ValidationError(f"{path} must hold a mapping of settings")
            values.update(loaded or {})
        values.update(overrides)
        try:
            return cls(**values)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: "
                f"{str(e['msg']).removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ValidationError(f"invalid compute service settings: {problems}") from exc
