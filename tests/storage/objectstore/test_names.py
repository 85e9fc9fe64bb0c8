"""Names and locations: the store applies the one file-name rule of ``models.filenames``.

Result and checkpoint names go through :func:`validate_file_name`; store
locations through the same segment rule with a longer total length. Anything
the models refuse, the store refuses too (and the other way round), so a name
that passes a unit can never fail its upload.
"""

from __future__ import annotations

import io
import posixpath
import tempfile

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from alchemiscale_like.errors import NotFound, UnsafeFileName
from alchemiscale_like.models.filenames import validate_file_name
from alchemiscale_like.storage.objectstore import LocalObjectStore, ObjectStore
from alchemiscale_like.storage.objectstore.layout import (
    MAX_LOCATION_LENGTH,
    check_location,
    task_prefix,
)
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
    "tab\there",
    "esc\x1b[0m",
    "del\x7f",
    "C:evil.txt",
    "c:/windows/x",
    "x" * 201,
    "\udcff.bin",
    # Allowed by the store's own (looser) rule before there was one rule:
    "ünïcødé ñame (1).txt",
    "a file.bin",
    "résumé.pdf",
    "naïve/x.bin",
    "a\u2028b",
    "fullwidth\uff0fslash",
]
#: Longer than a file name may be (255), though every segment is fine.
TOO_LONG_NAMES = ["/".join(["y" * 200] * 4), "y" * 100 + "/" + "z" * 160]
SAFE = ["out.dcd", "traj/frame_1.dcd", "x" * 200, "..hidden", "a..b", "a+b=c@d,e-f"]


def _accepted(check: object, *args: object) -> bool:
    assert callable(check)
    try:
        check(*args)
    except UnsafeFileName:
        return False
    except NotFound:
        return True
    return True


@pytest.mark.parametrize("name", UNSAFE + TOO_LONG_NAMES)
def test_unsafe_names_are_refused(objectstore: ObjectStore, name: str) -> None:
    with pytest.raises(UnsafeFileName):
        objectstore.put_file(TASK, UNIT, 1, name, io.BytesIO(b"evil"))
    with pytest.raises(UnsafeFileName):
        objectstore.put_checkpoint(TASK, UNIT, name, io.BytesIO(b"evil"))
    assert list(objectstore.list_objects()) == []


@pytest.mark.parametrize("relpath", UNSAFE)
def test_unsafe_task_relative_paths_are_refused(objectstore: ObjectStore, relpath: str) -> None:
    # A task-relative path may be longer than a file name (it holds one), never unsafe.
    with pytest.raises(UnsafeFileName):
        objectstore.put_task_file(TASK, relpath, io.BytesIO(b"evil"))
    with pytest.raises(UnsafeFileName):
        objectstore.put_task_json(TASK, relpath, {"evil": True})
    with pytest.raises(UnsafeFileName):
        objectstore.stat_task_file(TASK, relpath)
    assert list(objectstore.list_objects()) == []


@pytest.mark.parametrize(
    "location",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "objects/../../x",
        "a\\..\\b",
        "a\x00b",
        "C:/x",
        "objects/ü.json.zst",
        "objects/a b",
        "x" * 201,
        "/".join(["y" * 200] * 5),
    ],
)
def test_unsafe_locations_are_refused(objectstore: ObjectStore, location: str) -> None:
    with pytest.raises(UnsafeFileName):
        objectstore.open_file(location)
    with pytest.raises(UnsafeFileName):
        objectstore.stat(location)
    with pytest.raises(UnsafeFileName):
        objectstore.get_json(location)
    with pytest.raises(UnsafeFileName):
        objectstore.download_file(location, "unused")
    with pytest.raises(UnsafeFileName):
        objectstore.presigned_url(location)
    with pytest.raises(UnsafeFileName):
        objectstore.list_objects("../")


def test_location_length_limit(objectstore: ObjectStore) -> None:
    longest = "/".join(["y" * 199] * 4) + "/" + "z" * (MAX_LOCATION_LENGTH - 800)
    assert len(longest) == MAX_LOCATION_LENGTH
    with pytest.raises(NotFound):
        objectstore.stat(longest)
    with pytest.raises(UnsafeFileName, match=str(MAX_LOCATION_LENGTH)):
        objectstore.stat(longest + "z")
    # A task-relative path is held to the length of the whole location it lands at.
    room = MAX_LOCATION_LENGTH - len(task_prefix(TASK))
    full_segments = (room - 1) // 200
    relpath = ("r" * 199 + "/") * full_segments + "s" * (room - 200 * full_segments)
    assert len(task_prefix(TASK) + relpath) == MAX_LOCATION_LENGTH
    objectstore.put_task_file(TASK, relpath, io.BytesIO(b"fits"))
    with pytest.raises(UnsafeFileName):
        objectstore.put_task_file(TASK, relpath + "s", io.BytesIO(b"too long"))
    assert [o.location for o in objectstore.list_objects()] == [task_prefix(TASK) + relpath]


@pytest.mark.parametrize("name", SAFE)
def test_safe_names_round_trip(objectstore: ObjectStore, name: str) -> None:
    info = objectstore.put_file(TASK, UNIT, 1, name, io.BytesIO(name.encode()))
    assert info.location.endswith("/files/" + name)
    assert b"".join(objectstore.open_file(info.location)) == name.encode()


@given(st.text(max_size=40))
@example("ünïcødé.txt")
@example("a file.bin")
@example("x" * 201)
def test_the_store_and_the_models_agree_on_every_name(name: str) -> None:
    with tempfile.TemporaryDirectory() as root:
        store = LocalObjectStore(root)
        by_models = _accepted(validate_file_name, name)
        by_store = _accepted(store.put_file, TASK, UNIT, 1, name, io.BytesIO(b"x"))
        # Short names are within both length limits: the segment rule alone decides.
        as_location = _accepted(store.stat, name)
    assert by_store == by_models
    assert as_location == by_models


@given(st.text(max_size=40))
def test_accepted_locations_stay_inside_their_folder(name: str) -> None:
    try:
        safe = check_location(name)
    except UnsafeFileName:
        return
    joined = posixpath.normpath(posixpath.join("/base/files", safe))
    assert joined.startswith("/base/files/")
    assert joined == "/base/files/" + safe
    assert safe.isascii()
    assert "\\" not in safe
    assert "\x00" not in safe
