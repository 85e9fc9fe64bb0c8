"""The one rule for result and checkpoint file names (used by units, stores and the APIs)."""

from __future__ import annotations

import re

from alchemiscale_like.errors import UnsafeFileName

_SEGMENT_RE = re.compile(r"[A-Za-z0-9._+=@,-]+")
#: Longest accepted name, all ``/``-separated segments together.
MAX_NAME_LENGTH = 255
#: Longest accepted segment. Filesystems cap names at 255 bytes and filesystem-backed
#: stores add temporary suffixes to them (S3Proxy appends 37 characters): keep a margin.
MAX_SEGMENT_LENGTH = 200


def validate_file_name(name: object) -> str:
    """Return ``name`` if it is a safe relative file name, else raise :class:`UnsafeFileName`.

    Allowed: ``/``-separated segments of ASCII letters, digits and ``._+=@,-``, each
    at most 200 characters, 255 in all; no empty, ``.`` or ``..`` segment, so no
    absolute path and no traversal. Nested names such as ``traj/frame_1.dcd`` are fine.
    """
    if not isinstance(name, str) or not name:
        raise UnsafeFileName("file name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise UnsafeFileName(f"file name longer than {MAX_NAME_LENGTH} characters")
    if name.startswith("/"):
        raise UnsafeFileName(f"file name {name!r} is absolute; give a relative name")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise UnsafeFileName(
                f"file name {name!r} has an empty, '.' or '..' segment (path traversal)"
            )
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise UnsafeFileName(
                f"a segment of file name {name[:40]!r}... is over {MAX_SEGMENT_LENGTH} characters"
            )
        if _SEGMENT_RE.fullmatch(segment) is None:
            raise UnsafeFileName(
                f"file name {name!r} contains characters outside [A-Za-z0-9._+=@,-]"
            )
    return name
