"""`ResultFile`: a reference to a file a unit produced (never the bytes themselves)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alchemiscale_like.models.codecs import register_codec
from alchemiscale_like.models.filenames import validate_file_name
from alchemiscale_like.models.layout import STORE_LAYOUT
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
    def location_for(unit_key: str, attempt: int, name: str, claim: int | None = None) -> str:
        """The task-relative location of file ``name`` of a unit attempt (see ``TaskLayout``)."""
        return STORE_LAYOUT.unit_file(unit_key, attempt, name, claim)


def _encode(ref: ResultFile) -> dict[str, Any]:
    return ref.model_dump()


def _decode(obj: dict[str, Any]) -> ResultFile:
    return ResultFile.model_validate({k: v for k, v in obj.items() if k != ":codec:"})


register_codec("resultfile", ResultFile, _encode, _decode)

__all__ = ["ResultFile", "validate_file_name"]
