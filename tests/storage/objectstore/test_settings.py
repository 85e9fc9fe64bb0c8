"""Settings from environment variables, the factory, and importing without boto3."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alchemiscale_like.storage.objectstore import (
    LocalObjectStore,
    ObjectStoreSettings,
    build_objectstore,
)
from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore
from tests.fixtures.s3_server import S3TestServer


def test_s3_settings_from_environment(
    monkeypatch: pytest.MonkeyPatch, s3_server: S3TestServer, s3_prefix: str
) -> None:
    env = {
        "BACKEND": "s3",
        "ENDPOINT_URL": s3_server.endpoint_url,
        "BUCKET": s3_server.bucket,
        "PREFIX": s3_prefix,
        "REGION": s3_server.region,
        "ACCESS_KEY_ID": s3_server.access_key_id,
        "SECRET_ACCESS_KEY": s3_server.secret_access_key,
        "PART_SIZE": str(6 << 20),
        "MAX_CONCURRENCY": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(f"ALCHEMISCALE_LIKE_OBJECTSTORE_{name}", value)
    settings = ObjectStoreSettings()
    assert settings.secret_access_key is not None
    assert settings.secret_access_key.get_secret_value() == s3_server.secret_access_key
    assert s3_server.secret_access_key not in repr(settings)
    store = build_objectstore()
    assert isinstance(store, S3ObjectStore)
    assert (store.bucket, store.prefix, store.part_size, store.max_concurrency) == (
        s3_server.bucket,
        s3_prefix,
        6 << 20,
        2,
    )
    store.check()
    info = store.put_object(f"Thing-{'5' * 32}", {"from": "env"})
    key = f"{s3_prefix}/{info.location}"
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key=key)
    assert head["Metadata"]["sha256"] == info.sha256


def test_local_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ALCHEMISCALE_LIKE_OBJECTSTORE_PATH", str(tmp_path / "objects"))
    monkeypatch.setenv("ALCHEMISCALE_LIKE_OBJECTSTORE_LOCAL_SIGNING_KEY", "shared")
    store = build_objectstore()
    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path / "objects"
    store.check()


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="backend"):
        ObjectStoreSettings(backend="ftp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="part_size"):
        ObjectStoreSettings(part_size=1024)


def test_local_store_works_without_boto3(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import io, sys
        sys.modules["boto3"] = None  # as on a compute node without the s3 extra
        from alchemiscale_like.storage.objectstore import build_objectstore
        from alchemiscale_like.models.scope import ScopedKey
        store = build_objectstore()
        task = ScopedKey.from_str("Task-{"a" * 32}-o-c-p")
        info = store.put_file(task, "Unit-{"b" * 32}", 1, "f.bin", io.BytesIO(b"ok"))
        assert b"".join(store.open_file(info.location)) == b"ok"
        assert "botocore" not in sys.modules
        """
    )
    env = {"ALCHEMISCALE_LIKE_OBJECTSTORE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    repo_root = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=repo_root)
