"""Settings of the API servers (environment variables ``ALCHEMISCALE_LIKE_API_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_MIB = 1024 * 1024


class APISettings(BaseSettings):
    """Limits and behaviour shared by the user API and the compute API."""

    model_config = SettingsConfigDict(
        env_prefix="ALCHEMISCALE_LIKE_API_", extra="ignore", use_attribute_docstrings=True
    )

    max_body_size: Annotated[int, Field(gt=0)] = 64 * _MIB
    """Largest JSON request body accepted, in bytes as sent (compressed or not)."""
    max_decompressed_size: Annotated[int, Field(gt=0)] = 256 * _MIB
    """Largest JSON request body after zstd decompression, in bytes."""
    max_file_size: Annotated[int, Field(gt=0)] = 1 << 40
    """Largest result or checkpoint file accepted, in bytes."""
    spool_dir: Path | None = None
    """Where uploaded files are kept on disk while they stream on to the store (default: the
    temp dir); each upload uses its size there until it is stored."""
    body_idle_timeout: Annotated[float, Field(gt=0)] = 60.0
    """Longest wait for the next part of a request body; a body that stops arriving (a
    slow-loris client) is answered 408 and dropped, so it holds no worker or spool."""
    lease_seconds: Annotated[float, Field(gt=0)] = 300.0
    """A compute service silent for longer than this loses its claims."""
    presigned_expiry: Annotated[int, Field(gt=0)] = 3600
    """Lifetime of presigned download URLs handed out with ``?redirect=true``, in seconds."""
    identity_cache_seconds: Annotated[float, Field(ge=0)] = 2.0
    """How long a check that a token's identity is still enabled is reused."""
