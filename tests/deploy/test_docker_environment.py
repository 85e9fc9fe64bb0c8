"""Every variable the deployment sets is a real setting, reaches the stores, and no
secret is written down.

Part of the checks of the Docker deployment; see ``tests/deploy/docker_files.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from alchemiscale_like.security.tokens import load_token_settings
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.storage.objectstore.settings import ObjectStoreSettings
from alchemiscale_like.storage.statestore.settings import StateStoreSettings
from tests.deploy.docker_files import (
    DOCKERFILES,
    OUR_PREFIXES,
    SECRETS,
    MissingVariable,
    SetEnvironment,
    compose,
    docker_ignores,
    env_example,
    env_instructions,
    filled_env,
    final_stage,
    image_kind,
    known_env_names,
    option_value,
    ours,
    ports,
    raw_compose,
    references,
    services,
)
from tests.deploy.kit import ROOT


def test_env_name_check_catches_a_typo() -> None:
    server = known_env_names("server")
    for real in (
        "NEO4J_URL",
        "ALCHEMISCALE_LIKE_STATESTORE_NEO4J_URL",
        "ALCHEMISCALE_LIKE_OBJECTSTORE_ENDPOINT_URL",
        "ALCHEMISCALE_LIKE_JWT_SECRET_KEY",
        "ALCHEMISCALE_LIKE_API_SPOOL_DIR",
        "ALCHEMISCALE_LIKE_LOG_LEVEL",
    ):
        assert real in server
    assert "ALCHEMISCALE_LIKE_OBJECTSTORE_ENDPOINT" not in server
    assert "ALCHEMISCALE_LIKE_STATESTORE_NEO4J_PASSWORD" in server
    assert "ALCHEMISCALE_LIKE_COMPUTE_API_URL" not in server  # a compute service's
    assert "ALCHEMISCALE_LIKE_COMPUTE_API_URL" in known_env_names("compute")


@pytest.mark.parametrize("name", ours())
def test_every_variable_compose_sets_is_a_settings_field(name: str) -> None:
    service = services()[name]
    environment = service.get("environment", {})
    assert isinstance(environment, dict), "environment as a mapping"
    unknown = set(environment) - known_env_names(str(image_kind(service)))
    assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_every_variable_the_dockerfiles_set_is_read(kind: str) -> None:
    ours_ = {k for k in env_instructions(final_stage(kind)) if k.startswith(OUR_PREFIXES)}
    assert ours_ <= known_env_names(kind)


@pytest.fixture
def from_compose(monkeypatch: pytest.MonkeyPatch) -> SetEnvironment:
    """Sets the environment compose gives a service (and nothing else of ours)."""

    def apply(name: str) -> dict[str, str]:
        for key in list(os.environ):
            if key.startswith(OUR_PREFIXES):
                monkeypatch.delenv(key)
        environment = {k: str(v) for k, v in services()[name].get("environment", {}).items()}
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        return environment

    return apply


@pytest.mark.parametrize("name", ["init", "user-api", "compute-api", "admin"])
def test_state_store_settings_reach_neo4j(name: str, from_compose: SetEnvironment) -> None:
    from_compose(name)
    settings = StateStoreSettings()
    neo4j = services()["neo4j"]
    assert settings.backend == "neo4j"
    url = urlsplit(settings.neo4j_url)
    assert (url.scheme, url.hostname) == ("bolt", "neo4j")
    assert url.port in {p.target for p in ports(neo4j)}
    assert f"{settings.neo4j_user}/{settings.neo4j_password}" == neo4j["environment"]["NEO4J_AUTH"]
    assert settings.neo4j_database == "neo4j"  # the one database of Neo4j Community


@pytest.mark.parametrize("name", ["user-api", "compute-api"])
def test_api_settings_reach_minio_and_sign_tokens(name: str, from_compose: SetEnvironment) -> None:
    from_compose(name)
    objects = ObjectStoreSettings()
    minio, minio_init = services()["minio"], services()["minio-init"]["environment"]
    assert objects.backend == "s3"
    endpoint = urlsplit(objects.endpoint_url or "")
    assert endpoint.hostname == "minio"
    assert f":{endpoint.port}" == option_value(minio["command"], "--address")
    # The bucket and the user minio-init creates are the ones the API uses.
    assert minio_init["MINIO_URL"] == objects.endpoint_url
    assert minio_init["BUCKET"] == objects.bucket
    assert minio_init["S3_ACCESS_KEY_ID"] == objects.access_key_id
    assert objects.secret_access_key is not None
    assert minio_init["S3_SECRET_ACCESS_KEY"] == objects.secret_access_key.get_secret_value()
    assert objects.access_key_id != minio["environment"]["MINIO_ROOT_USER"]
    tokens = load_token_settings()  # refuses a missing or short secret
    assert tokens.secret_key.get_secret_value() == filled_env()["ALCHEMISCALE_LIKE_JWT_SECRET_KEY"]
    APISettings()


def test_bucket_name_reaches_both_sides() -> None:
    found = services(filled_env({"S3_BUCKET": "another-bucket"}))
    assert found["minio-init"]["environment"]["BUCKET"] == "another-bucket"
    for name in ("user-api", "compute-api"):
        assert (
            found[name]["environment"]["ALCHEMISCALE_LIKE_OBJECTSTORE_BUCKET"] == "another-bucket"
        )


@pytest.mark.parametrize(
    ("name", "factory"),
    [
        ("user-api", "alchemiscale_like.server.user_api:create_user_app"),
        ("compute-api", "alchemiscale_like.server.compute_api:create_compute_app"),
    ],
)
def test_served_app_builds_from_the_compose_environment(
    name: str, factory: str, from_compose: SetEnvironment
) -> None:
    """What uvicorn builds in the container (no store is contacted), with the probed route."""
    import importlib

    from alchemiscale_like.cli import servers

    assert factory in Path(servers.__file__).read_text()  # the factory `api` serves
    from_compose(name)
    module, _, function = factory.partition(":")
    app = getattr(importlib.import_module(module), function)()
    try:
        assert app.state.alchemiscale.backends == {"statestore": "neo4j", "objectstore": "s3"}
        probe = " ".join(services()[name]["healthcheck"]["test"])
        path = re.search(r"http://127\.0\.0\.1:\d+(/\w+)", probe)
        assert path is not None
        assert path[1] in app.openapi()["paths"]
    finally:
        app.state.alchemiscale.stores.statestore.close()


def test_required_variables_are_the_secrets() -> None:
    required = {m["braced"] for m in references(raw_compose()) if (m["op"] or "").endswith("?")}
    assert required == SECRETS


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_compose_refuses_to_start_without_a_secret(secret: str) -> None:
    with pytest.raises(MissingVariable) as raised:
        compose(filled_env(drop=(secret,)))
    assert raised.value.name == secret
    assert ".env" in raised.value.message
    with pytest.raises(MissingVariable):
        compose(filled_env({secret: ""}))


def test_no_secret_is_written_into_compose() -> None:
    for name, service in raw_compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|_AUTH$", key):
                names = {m["braced"] or m["named"] for m in references(value)}
                assert names & SECRETS, f"{name}: {key} must come from .env"
    # Every value was interpolated (an unsupported form would be left as it is).
    assert "${" not in json.dumps(compose())


def test_env_example_lists_every_variable_and_no_secret() -> None:
    values, commented = env_example()
    referenced = {m["braced"] or m["named"] for m in references(raw_compose())}
    assert set(values) | set(commented) == referenced
    assert not set(values) & set(commented)
    for secret in SECRETS - {"S3_ACCESS_KEY_ID"}:
        assert values[secret] == "", f"{secret} must be empty in .env.example"
    # The defaults it shows are compose's own.
    defaults = {m["braced"]: m["arg"] for m in references(raw_compose()) if (m["op"] or "") == ":-"}
    for name, shown in commented.items():
        assert defaults[name] == shown, name


def test_secrets_stay_out_of_git_and_of_the_images() -> None:
    for path in ("docker/.env", "docker/compute-config/compute.key"):
        checked = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=ROOT, capture_output=True, timeout=30
        )
        assert checked.returncode == 0, f"git would commit {path}"
        assert docker_ignores(path), f"the build context would hold {path}"
