"""The object store: write-once, verified, streamed storage of everything large.

Networks, transformations, ProtocolDAGs, unit results, result files, unit
checkpoints and ProtocolDAGResults live here (design.md, "Object store"); the
state store records their locations. Two backends behind one interface:

* :class:`LocalObjectStore`: a folder (the embedded default; no boto3 needed);
* :class:`S3ObjectStore`: any S3 service, via boto3 (the ``s3``/``server`` extras).

``S3ObjectStore`` is imported on first access (and left out of ``__all__``,
so ``import *`` does not pull it in): this package imports without boto3.
Build the configured store with :func:`build_objectstore`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alchemiscale_like.storage.objectstore.base import ObjectStore
from alchemiscale_like.storage.objectstore.local import LocalObjectStore
from alchemiscale_like.storage.objectstore.models import FileSource, ListedObject, ObjectInfo
from alchemiscale_like.storage.objectstore.settings import (
    ObjectStoreSettings,
    build_objectstore,
)

if TYPE_CHECKING:
    from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore as S3ObjectStore

__all__ = [
    "FileSource",
    "ListedObject",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "ObjectStoreSettings",
    "build_objectstore",
]


def __getattr__(name: str) -> Any:
    if name == "S3ObjectStore":
        from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore as S3ObjectStore

        return S3ObjectStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
