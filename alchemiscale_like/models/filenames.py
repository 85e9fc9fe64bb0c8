"""The one rule for file names and paths: result and checkpoint files, store locations.

A path is ``/``-separated *segments*. Every segment is ASCII letters, digits and
``._+=@,-``, at most :data:`MAX_SEGMENT_LENGTH` characters, and neither empty,
``.`` nor ``..``; so no absolute path, no traversal, no backslash, no drive
letter, no control or non-ASCII character. File names may be
:data:`MAX_NAME_LENGTH` characters in all; longer paths built from them (object
store locations) pass their own total limit to :func:`validate_path`.
"""

from __future__ import annotations

import re

from alchemiscale_like.errors import UnsafeFileName

_SEGMENT_RE = re.compile(r"[A-Za-z0-9._+=@,-]+")
#: Longest accepted file name, all ``/``-separated segments together.
MAX_NAME_LENGTH = 255
#: Longest accepted segment. Filesystems cap names at 255 bytes and filesystem-backed
#: stores add temporary suffixes to them (S3Proxy appends 37 characters): keep a margin.
MAX_SEGMENT_LENGTH = 200


def validate_path(path: object, *, max_length: int, what: str = "path") -> str:
    """Return ``path`` if it is a safe relative path, else raise :class:`UnsafeFileName`.

    Args:
        path: the candidate.
        max_length: the longest accepted path, all segments and separators together
            (the characters are ASCII, so this is also its length in UTF-8 bytes).
        what: what ``path`` is, for the error message ("file name", "object location").
    """
    if not isinstance(path, str) or not path:
        raise UnsafeFileName(f"{what} must be a non-empty string")
    if len(path) > max_length:
        raise UnsafeFileName(f"{what} longer than {max_length} characters")
    if path.startswith("/"):
        raise UnsafeFileName(f"{what} {path!r} is absolute; give a relative one")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise UnsafeFileName(
                f"{what} {path!r} has an empty, '.' or '..' segment (path traversal)"
            )
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise UnsafeFileName(
                f"a segment of {what} {path[:40]!r}... is over {MAX_SEGMENT_LENGTH} characters"
            )
        if _SEGMENT_RE.fullmatch(segment) is None:
            raise UnsafeFileName(f"{what} {path!r} contains characters outside [A-Za-z0-9._+=@,-]")
    return path


def validate_file_name(name: object) -> str:
    """Return ``name`` if it is a safe relative file name, else raise :class:`UnsafeFileName`.

    Allowed: ``/``-separated segments of ASCII letters, digits and ``._+=@,-``, each
    at most 200 characters, 255 in all; no empty, ``.`` or ``..`` segment, so no
    absolute path and no traversal. Nested names such as ``traj/frame_1.dcd`` are fine.
    """
    return validate_path(name, max_length=MAX_NAME_LENGTH, what="file name")
