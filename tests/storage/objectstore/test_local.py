"""Local-only behaviour: presigned URLs for the API route, on-disk format, atomic publish."""

from __future__ import annotations

import io
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from alchemiscale_like.errors import Forbidden
from alchemiscale_like.storage.objectstore import LocalObjectStore
from alchemiscale_like.storage.objectstore.local import FOOTER_SIZE
from tests.storage.objectstore.conftest import TASK, UNIT


def _parse(url: str, base: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    location = unquote(parts.path[len(urlsplit(base).path) + 1 :])
    return location, int(query["expires"][0]), query["signature"][0]


def test_presigned_url_is_verified_by_the_api(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path, url_base="https://api.example/objectstore", signing_key=b"k")
    info = store.put_file(TASK, UNIT, 1, "dir/a_file.bin", io.BytesIO(b"bytes"))
    location, expires_at, signature = _parse(
        store.presigned_url(info.location, expires=60), "https://api.example/objectstore"
    )
    assert location == info.location
    assert store.verify_presigned(location, expires_at, signature) == info
    # Another API process sharing the key accepts it too.
    twin = LocalObjectStore(tmp_path, signing_key=b"k")
    assert twin.verify_presigned(location, expires_at, signature) == info
    with pytest.raises(Forbidden, match="signature"):
        store.verify_presigned(location, expires_at + 1000, signature)
    with pytest.raises(Forbidden, match="signature"):
        LocalObjectStore(tmp_path, signing_key=b"other").verify_presigned(
            location, expires_at, signature
        )


def test_presigned_url_expires(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    info = store.put_file(TASK, UNIT, 1, "a.bin", io.BytesIO(b"bytes"))
    location, expires_at, signature = _parse(store.presigned_url(info.location, 0), "/objectstore")
    time.sleep(1.1)
    with pytest.raises(Forbidden, match="expired"):
        store.verify_presigned(location, expires_at, signature)


def test_on_disk_format(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    info = store.put_file(TASK, UNIT, 1, "a.bin", io.BytesIO(b"payload"))
    raw = (tmp_path / info.location).read_bytes()
    assert raw.startswith(b"payload")
    assert len(raw) == len(b"payload") + FOOTER_SIZE
    assert info.sha256.encode() in raw[-FOOTER_SIZE:]
    assert [o.stored_size for o in store.list_objects()] == [7]


def test_no_temporary_files_remain(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.put_file(TASK, UNIT, 1, "a.txt", io.BytesIO(b"compressed " * 100))
    store.put_checkpoint(TASK, UNIT, "c.bin", io.BytesIO(b"1"))
    store.put_checkpoint(TASK, UNIT, "c.bin", io.BytesIO(b"2"))
    store.check()
    assert list((tmp_path / ".tmp").iterdir()) == []
