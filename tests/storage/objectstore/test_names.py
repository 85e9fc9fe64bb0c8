"""File names from users: traversal and other unsafe names are refused, safe ones kept."""

from __future__ import annotations

import io
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alchemiscale_like.errors import UnsafeFileName
from alchemiscale_like.storage.objectstore import ObjectStore, sanitize_name
from tests.storage.objectstore.conftest import TASK, UNIT

UNSAFE = [
    "../x",
    "/etc/passwd",
    "a\\b",
    "a\x00b",
    "..",
    "",
    ".",
    "a/../../b",
    "a/./b",
    "a//b",
    "dir/",
    "line\nbreak",
    "C:evil.txt",
    "x" * 201,
    "/".join(["y" * 200] * 4),
    "\udcff.bin",
]
SAFE = ["out.dcd", "traj/frame_1.dcd", "ünïcødé ñame (1).txt", "x" * 200, "..hidden", "a..b"]


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_names_are_refused(objectstore: ObjectStore, name: str) -> None:
    with pytest.raises(UnsafeFileName):
        objectstore.put_file(TASK, UNIT, 0, name, io.BytesIO(b"evil"))
    with pytest.raises(UnsafeFileName):
        objectstore.put_checkpoint(TASK, UNIT, name, io.BytesIO(b"evil"))
    assert list(objectstore.list_objects()) == []


@pytest.mark.parametrize(
    "location", ["../../etc/passwd", "/etc/passwd", "objects/../../x", "a\\..\\b"]
)
def test_unsafe_locations_are_refused(objectstore: ObjectStore, location: str) -> None:
    with pytest.raises(UnsafeFileName):
        objectstore.open_file(location)
    with pytest.raises(UnsafeFileName):
        objectstore.stat(location)
    with pytest.raises(UnsafeFileName):
        objectstore.get_json(location)
    with pytest.raises(UnsafeFileName):
        objectstore.list_objects("../")


@pytest.mark.parametrize("name", SAFE)
def test_safe_names_round_trip(objectstore: ObjectStore, name: str) -> None:
    info = objectstore.put_file(TASK, UNIT, 0, name, io.BytesIO(name.encode()))
    assert info.location.endswith("/files/" + name)
    assert b"".join(objectstore.open_file(info.location)) == name.encode()


@given(st.text(max_size=40))
def test_sanitized_names_stay_inside_their_folder(name: str) -> None:
    try:
        safe = sanitize_name(name)
    except UnsafeFileName:
        return
    joined = posixpath.normpath(posixpath.join("/base/files", safe))
    assert joined.startswith("/base/files/")
    assert joined == "/base/files/" + safe
    assert "\\" not in safe
    assert "\x00" not in safe
