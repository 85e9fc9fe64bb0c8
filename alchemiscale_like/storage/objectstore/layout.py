"""Where objects live in the store (design.md, "Object store") and which names are safe.

Every *location* is a ``/``-separated path relative to the store root (the
bucket prefix on S3, the root folder locally)::

    objects/{key}.json.zst                                        content-addressed
    {org}/{campaign}/{project}/tasks/{task}/dag.json.zst
    .../tasks/{task}/units/{unit_key}/{attempt}/result.json.zst
    .../tasks/{task}/units/{unit_key}/{attempt}/files/{name}
    .../tasks/{task}/units/{unit_key}/checkpoint/{name}
    .../tasks/{task}/results/{pdr_key}.json.zst

Names that come from users (result and checkpoint file names) go through
:func:`sanitize_name`, which refuses anything that could escape its folder.
"""

from __future__ import annotations

import re

from alchemiscale_like.errors import UnsafeFileName, ValidationError
from alchemiscale_like.models.patterns import check_key
from alchemiscale_like.models.scope import ScopedKey

#: Longest accepted path component, in UTF-8 bytes. Filesystems cap names at 255
#: bytes, and filesystem-backed stores add temporary suffixes to them (S3Proxy
#: appends 37 characters), so we keep a margin.
MAX_COMPONENT_BYTES = 200
#: Longest accepted file name (all components), in UTF-8 bytes. S3 keys may not
#: exceed 1024 bytes and the task prefix takes some of that.
MAX_NAME_BYTES = 768

JSON_SUFFIX = ".json.zst"
OBJECTS_DIR = "objects"

# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DRIVE_RE = re.compile(r"[A-Za-z]:")


def sanitize_name(name: str) -> str:
    """Return ``name`` if it is a safe relative file name, else raise :class:`UnsafeFileName`.

    A safe name is non-empty, relative, ``/``-separated, and each component is
    neither empty, ``.`` nor ``..``. NUL and other control characters,
    backslashes, drive letters and over-long names are refused. Nested names
    such as ``traj/frame_1.dcd`` are allowed.
    """
    if not isinstance(name, str):
        raise UnsafeFileName(f"file name must be a string, not {type(name).__name__}")
    if name == "":
        raise UnsafeFileName("file name is empty")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnsafeFileName(f"file name {name!r} is not valid Unicode text") from exc
    if _CONTROL_RE.search(name):
        raise UnsafeFileName(f"file name {name!r} contains NUL or control characters")
    if "\\" in name:
        raise UnsafeFileName(f"file name {name!r} contains a backslash")
    if name.startswith("/") or _DRIVE_RE.match(name):
        raise UnsafeFileName(f"file name {name!r} is absolute; give a relative name")
    if len(encoded) > MAX_NAME_BYTES:
        raise UnsafeFileName(f"file name is longer than {MAX_NAME_BYTES} bytes")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise UnsafeFileName(
                f"file name {name!r} has an empty, '.' or '..' component (path traversal)"
            )
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise UnsafeFileName(
                f"a component of file name {name[:40]!r}... is over {MAX_COMPONENT_BYTES} bytes"
            )
    return name


def check_location(location: str) -> str:
    """Return ``location`` if it is a safe store location (same rules as file names)."""
    try:
        return sanitize_name(location)
    except UnsafeFileName as exc:
        raise UnsafeFileName(f"unsafe object location: {exc}") from exc


def object_location(key: str) -> str:
    """Location of the content-addressed object ``key`` (a network, a transformation...)."""
    return f"{OBJECTS_DIR}/{check_key(key)}{JSON_SUFFIX}"


def task_prefix(task_sk: ScopedKey) -> str:
    """Folder of everything stored for the Task ``task_sk`` (ends with ``/``)."""
    return f"{task_sk.org}/{task_sk.campaign}/{task_sk.project}/tasks/{task_sk.gufe_key}/"


def task_location(task_sk: ScopedKey, relpath: str) -> str:
    """Location of ``relpath`` (sanitized) inside the Task's folder."""
    return task_prefix(task_sk) + sanitize_name(relpath)


def dag_location(task_sk: ScopedKey) -> str:
    """Location of the Task's ProtocolDAG."""
    return task_location(task_sk, "dag" + JSON_SUFFIX)


def _unit_prefix(task_sk: ScopedKey, unit_key: str) -> str:
    return f"{task_prefix(task_sk)}units/{check_key(unit_key, 'unit key')}/"


def _attempt(attempt: int) -> str:
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
        raise ValidationError(f"attempt must be a non-negative integer, not {attempt!r}")
    return str(attempt)


def unit_result_location(task_sk: ScopedKey, unit_key: str, attempt: int) -> str:
    """Location of one attempt's ProtocolUnitResult (or failure) of ``unit_key``."""
    return f"{_unit_prefix(task_sk, unit_key)}{_attempt(attempt)}/result{JSON_SUFFIX}"


def unit_file_location(task_sk: ScopedKey, unit_key: str, attempt: int, name: str) -> str:
    """Location of the result file ``name`` (sanitized) of one attempt of ``unit_key``."""
    return f"{_unit_prefix(task_sk, unit_key)}{_attempt(attempt)}/files/{sanitize_name(name)}"


def checkpoint_prefix(task_sk: ScopedKey, unit_key: str) -> str:
    """Folder of ``unit_key``'s checkpoint files (ends with ``/``)."""
    return f"{_unit_prefix(task_sk, unit_key)}checkpoint/"


def checkpoint_location(task_sk: ScopedKey, unit_key: str, name: str) -> str:
    """Location of the checkpoint file ``name`` (sanitized) of ``unit_key``."""
    return checkpoint_prefix(task_sk, unit_key) + sanitize_name(name)


def dag_result_location(task_sk: ScopedKey, pdr_key: str) -> str:
    """Location of the ProtocolDAGResult ``pdr_key`` of the Task."""
    key = check_key(pdr_key, "ProtocolDAGResult key")
    return f"{task_prefix(task_sk)}results/{key}{JSON_SUFFIX}"
