"""`ResultFile`: a reference to a file a unit produced (never the bytes themselves)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alchemiscale_like.errors import UnsafeFileName
from alchemiscale_like.models.codecs import register_codec
from alchemiscale_like.models.patterns import SHA256_FIELD_PATTERN


class ResultFile(BaseModel):
    """A file output of a ProtocolUnit.

    ``location`` is relative to the Task's root (``units/{unit_key}/{attempt}/files/{name}``):
    the same in a local run folder and in the object store, so references stay valid
    wherever the Task's results live.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_FIELD_PATTERN)
    location: str = Field(min_length=1)

    @staticmethod
    def location_for(unit_key: str, attempt: int, name: str) -> str:
        """The task-relative location of file ``name`` of a unit attempt."""
        return f"units/{unit_key}/{attempt}/files/{name}"


def _encode(ref: ResultFile) -> dict[str, Any]:
    return ref.model_dump()


def _decode(obj: dict[str, Any]) -> ResultFile:
    return ResultFile.model_validate({k: v for k, v in obj.items() if k != ":codec:"})


register_codec("resultfile", ResultFile, _encode, _decode)

_SEGMENT_RE = re.compile(r"[A-Za-z0-9._+=@,-]+")
MAX_NAME_LENGTH = 255


def validate_file_name(name: str) -> str:
    """Return ``name`` if it is a safe relative file name, else raise :class:`UnsafeFileName`.

    Allowed: ``/``-separated segments of letters, digits and ``._+=@,-``; no empty,
    ``.`` or ``..`` segment, no absolute path, backslash or NUL, at most 255 characters.
    """
    if not isinstance(name, str) or not name:
        raise UnsafeFileName("file name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise UnsafeFileName(f"file name longer than {MAX_NAME_LENGTH} characters")
    if "\x00" in name or "\\" in name:
        raise UnsafeFileName(f"file name {name!r} contains NUL or a backslash")
    if name.startswith("/"):
        raise UnsafeFileName(f"file name {name!r} is absolute")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise UnsafeFileName(f"file name {name!r} has an empty, '.' or '..' segment")
        if _SEGMENT_RE.fullmatch(segment) is None:
            raise UnsafeFileName(
                f"file name {name!r} contains characters outside [A-Za-z0-9._+=@,-]"
            )
    return name
