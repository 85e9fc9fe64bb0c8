"""compose.yaml: the services, ports, volumes, health checks, start order and MinIO's
bucket and policy.

Part of the checks of the Docker deployment; see ``tests/deploy/docker_files.py``.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.deploy.docker_files import (
    _BUCKET_ACTIONS,
    _BUILD_KEYS,
    _CONDITIONS,
    _HEALTHCHECK_KEYS,
    _S3_ACTIONS,
    _SERVICE_KEYS,
    _TOP_LEVEL,
    DOCKER,
    MINIO_INIT,
    ON_DEMAND,
    STACK,
    _depends,
    bind_mounts,
    compose,
    filled_env,
    final_stage,
    image_kind,
    named_volumes,
    option_value,
    ports,
    raw_compose,
    services,
)
from tests.deploy.kit import ROOT


def test_compose_uses_only_known_keys() -> None:
    # A misspelt key (depend_on, healthckeck) is ignored or refused by compose: catch it here.
    raw = raw_compose()
    assert set(raw) - _TOP_LEVEL <= {k for k in raw if k.startswith("x-")}
    for name, service in services().items():
        assert set(service) <= _SERVICE_KEYS, (name, set(service) - _SERVICE_KEYS)
        assert set(service.get("healthcheck", {})) <= _HEALTHCHECK_KEYS, name
        assert set(service.get("build", {})) <= _BUILD_KEYS, name
        assert service.get("restart", "no") in {"no", "always", "on-failure", "unless-stopped"}


def test_the_stack_and_its_on_demand_services() -> None:
    found = services()
    assert set(found) == {*STACK, *ON_DEMAND}
    for name in STACK:
        assert "profiles" not in found[name], f"{name} must start with `docker compose up`"
    assert found["admin"]["profiles"] == ["admin"]
    assert found["compute"]["profiles"] == ["compute"]
    assert re.fullmatch(r"neo4j:5\.26(\.\d+)*-community", found["neo4j"]["image"])
    assert found["minio"]["image"].startswith("minio/minio:RELEASE.")
    assert found["minio-init"]["image"].startswith("minio/mc:RELEASE.")
    assert {image_kind(found[n]) for n in ("init", "user-api", "compute-api", "admin")} == {
        "server"
    }
    assert image_kind(found["compute"]) == "compute"


def test_every_port_is_published_on_loopback_by_default() -> None:
    published = []
    for name, service in services().items():
        for port in ports(service):
            assert port.host_ip == "127.0.0.1", (name, port)
            published.append(port.published)
    assert len(published) == len(set(published)), "two services publish the same host port"
    assert {p.target for p in ports(services()["neo4j"])} == {7687, 7474}
    assert {p.target for p in ports(services()["minio"])} == {9000, 9001}


def test_opening_the_apis_leaves_the_stores_on_loopback() -> None:
    found = services(filled_env({"API_BIND_ADDRESS": "0.0.0.0"}))
    for name in ("user-api", "compute-api"):
        assert {p.host_ip for p in ports(found[name])} == {"0.0.0.0"}
    for name in ("neo4j", "minio"):
        assert {p.host_ip for p in ports(found[name])} == {"127.0.0.1"}
    for name in ("minio-init", "init", *ON_DEMAND):
        assert not ports(found[name])


@pytest.mark.parametrize(("name", "port"), [("user-api", 8000), ("compute-api", 8001)])
def test_api_listens_where_it_is_published_and_probed(name: str, port: int) -> None:
    service = services()[name]
    command = service["command"]
    assert option_value(command, "--host") == "0.0.0.0"
    assert int(option_value(command, "--port")) == port
    assert int(option_value(command, "--workers")) >= 1
    assert [p.target for p in ports(service)] == [port]
    probe = " ".join(service["healthcheck"]["test"])
    assert re.search(rf"http://127\.0\.0\.1:{port}/check\b", probe), probe
    custom = services(filled_env({"USER_API_PORT": "18000", "COMPUTE_API_PORT": "18001"}))[name]
    assert [p.published for p in ports(custom)] == [port + 10000]


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(compose()["volumes"])
    used: set[str] = set()
    for name, service in services().items():
        for volume in named_volumes(service):
            assert volume in declared, f"{name} mounts undeclared volume {volume}"
            used.add(volume)
        for _, source in bind_mounts(service):
            assert source.exists(), f"{name}: bind mount source {source} is missing"
            assert source.is_relative_to(DOCKER), f"{name} mounts {source} from outside docker/"
    assert used == declared, f"declared but unused: {declared - used}"
    found = services()
    assert named_volumes(found["neo4j"]) == {"neo4j-data": "/data"}
    data_dir = found["minio"]["command"][found["minio"]["command"].index("server") + 1]
    assert named_volumes(found["minio"]) == {"minio-data": data_dir}


def test_compute_api_spools_uploads_on_its_volume() -> None:
    service = services()["compute-api"]
    spool = service["environment"]["ALCHEMISCALE_LIKE_API_SPOOL_DIR"]
    assert named_volumes(service) == {"compute-api-spool": spool}
    # The image makes the folder, owned by its user, so a new volume is writable.
    run = " ".join(i.args for i in final_stage("server") if i.keyword == "RUN")
    assert f"mkdir {spool}" in run
    assert f"chown app:app {spool}" in run


def test_long_running_services_have_healthchecks() -> None:
    for name in ("neo4j", "minio", "user-api", "compute-api"):
        test = services()[name]["healthcheck"]["test"]
        assert isinstance(test, list), name
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert services()[name]["restart"] == "unless-stopped"
    for name in ("minio-init", "init", "admin"):
        assert services()[name]["restart"] == "no", f"{name} is a one-shot"
        assert "healthcheck" not in services()[name]


def test_start_order() -> None:
    found = services()
    for name, service in found.items():
        for target, condition in _depends(service).items():
            assert target in found, f"{name} depends on unknown {target}"
            assert condition in _CONDITIONS, (name, condition)
            if condition == "service_healthy":
                assert "healthcheck" in found[target], f"{target} can never become healthy"
            if condition == "service_completed_successfully":
                assert found[target].get("restart") == "no", f"{target} is not a one-shot"
            if "profiles" not in service:
                assert "profiles" not in found[target], f"`up` would not start {target}"
    assert _depends(found["minio-init"]) == {"minio": "service_healthy"}
    assert _depends(found["init"]) == {"neo4j": "service_healthy"}
    for name in ("user-api", "compute-api"):
        assert _depends(found[name]) == {
            "neo4j": "service_healthy",
            "minio": "service_healthy",
            "init": "service_completed_successfully",
            "minio-init": "service_completed_successfully",
        }
    assert _depends(found["admin"]) == {"init": "service_completed_successfully"}
    assert _depends(found["compute"]) == {"compute-api": "service_healthy"}
    # No cycle: every service can be ordered after its dependencies.
    ordered: list[str] = []
    while len(ordered) < len(found):
        ready = [n for n in found if n not in ordered and set(_depends(found[n])) <= set(ordered)]
        assert ready, f"a dependency cycle among {set(found) - set(ordered)}"
        ordered += ready


def test_neo4j_healthcheck_signs_in_with_the_password() -> None:
    neo4j = services()["neo4j"]
    test = neo4j["healthcheck"]["test"]
    user, password = neo4j["environment"]["NEO4J_AUTH"].split("/", 1)
    assert test[1] == "cypher-shell"
    assert option_value(test, "-u") == user
    assert option_value(test, "-p") == password == filled_env()["NEO4J_PASSWORD"]


def test_minio_init_script_is_valid_sh_and_gets_what_it_reads() -> None:
    checked = subprocess.run(
        ["sh", "-n", str(MINIO_INIT)], capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stderr
    service = services()["minio-init"]
    (target,) = [t for t, s in bind_mounts(service) if s == MINIO_INIT]
    assert service["entrypoint"] == ["/bin/sh", target]
    text = MINIO_INIT.read_text()
    assigned = set(re.findall(r"(?<![\w$])(\w+)=", text))
    read = set(re.findall(r"\$\{?([A-Za-z_]\w*)", text))
    unset = read - assigned - set(service["environment"])
    assert not unset, f"minio-init.sh reads variables compose does not give it: {unset}"
    assert 'mc mb --ignore-existing "store/$BUCKET"' in text


def test_minio_policy_allows_every_call_of_the_object_store() -> None:
    """The APIs' MinIO user may do what S3ObjectStore does, on its bucket only."""
    body = re.search(r"<<JSON\n(.*?)\nJSON\n", MINIO_INIT.read_text(), re.DOTALL)
    assert body is not None
    policy = json.loads(body[1].replace("$BUCKET", "b"))
    allowed = {
        (action, resource)
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
        for resource in statement["Resource"]
    }
    assert {resource for _, resource in allowed} == {"arn:aws:s3:::b", "arn:aws:s3:::b/*"}
    package = ROOT / "alchemiscale_like" / "storage" / "objectstore"
    source = "\n".join(path.read_text() for path in sorted(package.glob("s3*.py")))
    calls = set(re.findall(r"client\.(\w+)\(", source)) - {"get_paginator"}
    calls |= set(re.findall(r"get_paginator\(\s*\"(\w+)\"", source))
    assert {"put_object", "get_object", "list_objects_v2"} <= calls  # the scan finds them
    for call in sorted(calls):
        assert call in _S3_ACTIONS, f"S3ObjectStore calls {call}: allow it in minio-init.sh"
        action = _S3_ACTIONS[call]
        if action is not None:
            resource = "arn:aws:s3:::b" if action in _BUCKET_ACTIONS else "arn:aws:s3:::b/*"
            assert (action, resource) in allowed, f"{call} needs {action} on {resource}"
