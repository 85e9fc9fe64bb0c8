"""Streamed uploads and downloads over real HTTP: sha256 checks, rewinds, atomic landing."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
import requests

from alchemiscale_like.client import APIClient
from alchemiscale_like.errors import (
    APIUnavailable,
    IntegrityError,
    NotFound,
    StoreUnavailable,
    ValidationError,
)
from tests.client.conftest import CountingAdapter
from tests.client.testapp import IDENTIFIER, KEY, AppState

pytestmark = pytest.mark.timeout(180)

MakeClient = Callable[..., APIClient]
MIB = 1 << 20
DATA = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and a bit: several chunks


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(DATA)
    return path


@pytest.fixture
def served(app_state: AppState) -> str:
    """A file the test app serves, by name."""
    (app_state.files / "data.bin").write_bytes(DATA)
    return "data.bin"


@pytest.fixture
def pipe() -> Iterator[tuple[BinaryIO, threading.Thread]]:
    """The read end of a pipe fed with DATA by a thread: a stream that cannot be rewound."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb")

    def feed() -> None:
        # BrokenPipeError: the test stopped reading early.
        with os.fdopen(write_fd, "wb") as writer, contextlib.suppress(BrokenPipeError):
            writer.write(DATA)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    yield reader, thread
    reader.close()
    thread.join(10)


# Uploads


def test_upload_from_a_path_streams_with_length_and_sha256(
    make_client: MakeClient, app_state: AppState, source: Path
) -> None:
    seen: list[tuple[int, int | None]] = []
    answer = make_client()._upload_file(
        "/upload/a.bin", source, progress=lambda done, total: seen.append((done, total))
    )
    assert answer == {
        "name": "a.bin",
        "size": len(DATA),
        "sha256": sha(DATA),
        "location": "files/a.bin",
    }
    assert (app_state.files / "a.bin").read_bytes() == DATA
    headers = app_state.upload_headers[0]
    assert headers["x-content-sha256"] == sha(DATA)
    assert headers["content-length"] == str(len(DATA))
    assert "transfer-encoding" not in headers
    assert headers["content-type"] == "application/octet-stream"
    assert seen[-1] == (len(DATA), len(DATA))
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})


def test_upload_with_a_wrong_sha256_raises_and_nothing_is_stored(
    make_client: MakeClient, app_state: AppState, source: Path
) -> None:
    with pytest.raises(IntegrityError) as caught:
        make_client()._upload_file("/upload/a.bin", source, sha256="0" * 64)
    assert getattr(caught.value, "status_code", None) == 422
    assert list(app_state.files.iterdir()) == []
    assert app_state.hits["upload/a.bin"] == 1


def test_upload_from_a_path_is_reopened_for_each_retry(
    make_client: MakeClient, app_state: AppState, source: Path
) -> None:
    make_client()._upload_file("/upload-flaky/2/a.bin", source)
    assert app_state.hits["upload/a.bin"] == 3
    assert (app_state.files / "a.bin").read_bytes() == DATA


def test_upload_from_a_file_object_is_rewound_to_its_start_for_each_retry(
    make_client: MakeClient, app_state: AppState
) -> None:
    fileobj = io.BytesIO(b"header:" + DATA)
    fileobj.seek(7)
    answer = make_client()._upload_file("/upload-flaky/2/a.bin", fileobj)
    assert app_state.hits["upload/a.bin"] == 3
    assert (app_state.files / "a.bin").read_bytes() == DATA
    assert answer["sha256"] == sha(DATA)


def test_upload_is_resent_after_a_token_refresh(
    make_client: MakeClient, app_state: AppState, source: Path
) -> None:
    client = make_client()
    client._post_json("/revoke", {})
    client._upload_file("/upload/a.bin", source)
    assert app_state.tokens_issued == 2
    assert app_state.hits["upload/a.bin"] == 2
    assert (app_state.files / "a.bin").read_bytes() == DATA


def test_upload_refused_before_its_body_is_read_is_resent_after_a_token_refresh(
    make_client: MakeClient, app_state: AppState, tmp_path: Path
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(DATA * 8)  # more than the socket buffers hold
    client = make_client()
    client._post_json("/revoke", {})
    client._upload_file("/upload-auth-first/a.bin", big)
    assert app_state.tokens_issued == 2
    assert app_state.hits["upload/a.bin"] == 2
    assert (app_state.files / "a.bin").read_bytes() == DATA * 8


def test_upload_from_a_pipe_is_sent_chunked(
    make_client: MakeClient,
    app_state: AppState,
    pipe: tuple[BinaryIO, threading.Thread],
) -> None:
    reader, _ = pipe
    make_client()._upload_file("/upload/a.bin", reader, sha256=sha(DATA))
    assert (app_state.files / "a.bin").read_bytes() == DATA
    assert app_state.upload_headers[0]["transfer-encoding"] == "chunked"


def test_upload_from_a_pipe_is_not_retried(
    make_client: MakeClient,
    app_state: AppState,
    pipe: tuple[BinaryIO, threading.Thread],
) -> None:
    reader, _ = pipe
    with pytest.raises(StoreUnavailable):
        make_client(max_retries=6)._upload_file("/upload-flaky/1/a.bin", reader, sha256=sha(DATA))
    assert app_state.hits["upload/a.bin"] == 1


def test_upload_from_a_pipe_needs_its_sha256(
    make_client: MakeClient,
    app_state: AppState,
    pipe: tuple[BinaryIO, threading.Thread],
) -> None:
    reader, _ = pipe
    with pytest.raises(ValidationError, match="needs its sha256"):
        make_client()._upload_file("/upload/a.bin", reader)
    assert app_state.hits["upload/a.bin"] == 0


def test_upload_of_an_empty_file(
    make_client: MakeClient, app_state: AppState, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.touch()
    answer = make_client()._upload_file("/upload/empty", empty)
    assert answer["size"] == 0
    assert answer["sha256"] == sha(b"")
    assert app_state.upload_headers[0]["content-length"] == "0"
    assert (app_state.files / "empty").read_bytes() == b""


def test_upload_of_a_file_that_shrinks_after_hashing_raises(
    make_client: MakeClient, app_state: AppState, source: Path
) -> None:
    class Shrinking(io.BytesIO):
        """Seeks report the full size; reads stop half-way (a file truncated meanwhile)."""

        def read(self, n: int | None = -1) -> bytes:
            if self.tell() >= len(DATA) // 2:
                return b""
            return super().read(min(n if n is not None and n >= 0 else len(DATA), 4096))

    with pytest.raises(IntegrityError, match="changed while being sent"):
        make_client()._upload_file("/upload/a.bin", Shrinking(DATA), sha256=sha(DATA))
    assert not (app_state.files / "a.bin").exists()


# Downloads


def test_download_lands_the_verified_file(
    make_client: MakeClient, served: str, tmp_path: Path
) -> None:
    dest = tmp_path / "out" / "copy.bin"
    seen: list[tuple[int, int | None]] = []
    result = make_client()._download_file(
        f"/download/{served}", dest, progress=lambda done, total: seen.append((done, total))
    )
    assert result == dest
    assert dest.read_bytes() == DATA
    assert seen[-1] == (len(DATA), len(DATA))
    assert [p.name for p in dest.parent.iterdir()] == ["copy.bin"]  # no temporary file left


def test_download_with_a_wrong_sha256_header_leaves_nothing(
    make_client: MakeClient, served: str, tmp_path: Path
) -> None:
    dest = tmp_path / "out" / "copy.bin"
    with pytest.raises(IntegrityError, match="sha256"):
        make_client()._download_file(f"/download-wrong/{served}", dest)
    assert list(dest.parent.iterdir()) == []


def test_download_with_a_wrong_expected_sha256_leaves_nothing(
    make_client: MakeClient, served: str, tmp_path: Path
) -> None:
    dest = tmp_path / "copy.bin"
    with pytest.raises(IntegrityError, match="conflicting"):
        make_client()._download_file(f"/download/{served}", dest, expected_sha256="f" * 64)
    assert not dest.exists()


def test_download_checked_against_the_expected_sha256_alone(
    make_client: MakeClient, served: str, tmp_path: Path
) -> None:
    client = make_client()
    good = tmp_path / "good.bin"
    client._download_file(f"/download-noheader/{served}", good, expected_sha256=sha(DATA))
    assert good.read_bytes() == DATA

    bad = tmp_path / "bad.bin"
    with pytest.raises(IntegrityError, match="received"):
        client._download_file(f"/download-noheader/{served}", bad, expected_sha256=sha(b"x"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.bin"]


def test_download_with_no_sha256_anywhere_is_refused(
    make_client: MakeClient, served: str, tmp_path: Path
) -> None:
    with pytest.raises(IntegrityError, match="no sha256"):
        make_client()._download_file(f"/download-noheader/{served}", tmp_path / "copy.bin")
    assert list(tmp_path.iterdir()) == []


def test_download_cut_short_is_retried_then_leaves_nothing(
    make_client: MakeClient, app_state: AppState, served: str, tmp_path: Path
) -> None:
    with pytest.raises(APIUnavailable, match="download failed"):
        make_client(max_retries=2)._download_file(
            f"/download-truncated/{served}", tmp_path / "copy.bin"
        )
    assert app_state.hits["download-truncated"] == 3
    assert list(tmp_path.iterdir()) == []


def test_download_of_a_missing_file_raises_not_found(
    make_client: MakeClient, tmp_path: Path
) -> None:
    with pytest.raises(NotFound):
        make_client()._download_file("/download/nothing.bin", tmp_path / "copy.bin")
    assert list(tmp_path.iterdir()) == []


def test_download_leaves_an_existing_dest_alone_on_failure(
    make_client: MakeClient, served: str, tmp_path: Path
) -> None:
    dest = tmp_path / "copy.bin"
    dest.write_bytes(b"previous")
    with pytest.raises(IntegrityError):
        make_client()._download_file(f"/download-wrong/{served}", dest)
    assert dest.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["copy.bin"]


def test_redirect_is_followed_without_the_authorization_header(
    base_url: str, app_state: AppState, served: str, tmp_path: Path
) -> None:
    with requests.Session() as session:
        session.mount("http://", CountingAdapter())
        # A session-wide Authorization must not leak to the presigned URL either.
        session.headers["Authorization"] = "Basic c2VjcmV0"
        client = APIClient(base_url, IDENTIFIER, KEY, session=session, backoff=0.01)
        dest = tmp_path / "copy.bin"
        client._download_file(f"/redirect/{served}", dest, redirect=True)
        assert dest.read_bytes() == DATA
        assert app_state.hits["redirect"] == 1
        assert app_state.presigned_auth == [None]


# Bounded memory: a file far larger than the bound moves both ways.


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_transfers_stream_with_bounded_memory(
    make_client: MakeClient, app_state: AppState, tmp_path: Path, direction: str
) -> None:
    size, bound = 64 * MIB, 16 * MIB
    path = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        block = os.urandom(MIB)
        for i in range(size // MIB):
            chunk = i.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    client = make_client()
    client._get_json("/whoami")  # the token, outside the measurement
    tracemalloc.start()
    try:
        if direction == "upload":
            client._upload_file("/upload/big.bin", path)
            landed = app_state.files / "big.bin"
        else:
            os.replace(path, app_state.files / "big.bin")
            (app_state.files / "big.bin.sha256").write_text(digest.hexdigest())
            landed = tmp_path / "copy.bin"
            client._download_file("/download-big/big.bin", landed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert landed.stat().st_size == size
    assert peak < bound, f"{direction} of {size} bytes peaked at {peak} bytes of Python memory"
