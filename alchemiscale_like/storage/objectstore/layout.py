"""Where objects live in the store (design.md, "Object store"): the store-relative part.

Every *location* is a ``/``-separated path relative to the store root (the
bucket prefix on S3, the root folder locally)::

    objects/{key}.json.zst                              content-addressed
    {org}/{campaign}/{project}/tasks/{task}/{relpath}   everything of one Task

``relpath`` is task-relative and comes from
:class:`~alchemiscale_like.models.layout.TaskLayout` (``STORE_LAYOUT``): the DAG,
unit attempts and their files, checkpoints, DAG results. This module only
joins it to the Task's prefix. Locations follow the one file-name rule of
:mod:`alchemiscale_like.models.filenames`, with a total length that keeps every
S3 key within 1024 bytes.
"""

from __future__ import annotations

from alchemiscale_like.models.filenames import validate_path
from alchemiscale_like.models.layout import STORE_JSON_SUFFIX
from alchemiscale_like.models.patterns import check_key
from alchemiscale_like.models.scope import ScopedKey

#: Longest S3 key prefix a store accepts (the prefix inside the bucket).
MAX_PREFIX_LENGTH = 128
#: Longest location. S3 keys are at most 1024 bytes, and a store's key prefix (plus its
#: ``/``) takes up to 129 of them; the same limit holds on every backend.
MAX_LOCATION_LENGTH = 1024 - MAX_PREFIX_LENGTH - 1

OBJECTS_DIR = "objects"


def check_location(location: object) -> str:
    """Return ``location`` if it is a safe store location, else raise ``UnsafeFileName``."""
    return validate_path(location, max_length=MAX_LOCATION_LENGTH, what="object location")


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is a safe S3 key prefix (no leading or trailing ``/``)."""
    return validate_path(prefix, max_length=MAX_PREFIX_LENGTH, what="key prefix")


def object_location(key: str) -> str:
    """Location of the content-addressed object ``key`` (a network, a transformation...)."""
    return f"{OBJECTS_DIR}/{check_key(key)}{STORE_JSON_SUFFIX}"


def task_prefix(task_sk: ScopedKey) -> str:
    """Folder of everything stored for the Task ``task_sk`` (ends with ``/``)."""
    return f"{task_sk.org}/{task_sk.campaign}/{task_sk.project}/tasks/{task_sk.gufe_key}/"


def task_location(task_sk: ScopedKey, relpath: str) -> str:
    """Location of the task-relative ``relpath`` inside the Task's folder.

    Raises:
        UnsafeFileName: ``relpath`` breaks the file-name rule, or the whole
            location is longer than :data:`MAX_LOCATION_LENGTH`.
    """
    validate_path(relpath, max_length=MAX_LOCATION_LENGTH, what="task-relative path")
    return check_location(task_prefix(task_sk) + relpath)


def task_folder(task_sk: ScopedKey, folder: str) -> str:
    """Location prefix of the task-relative ``folder`` (which ends with ``/``, as TaskLayout's).

    Raises:
        UnsafeFileName: ``folder`` breaks the file-name rule.
        ValueError: ``folder`` does not end with ``/`` (a caller's bug, not bad input).
    """
    if not folder.endswith("/"):
        raise ValueError(f"task-relative folder {folder!r} must end with '/'")
    return task_location(task_sk, folder[:-1]) + "/"
