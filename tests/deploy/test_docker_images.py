"""The server and compute images: base, user, command, what they install and copy.

Part of the checks of the Docker deployment; see ``tests/deploy/docker_files.py``.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest

from alchemiscale_like.compute.settings import ComputeServiceSettings
from tests.deploy.docker_files import (
    DOCKER,
    DOCKERFILES,
    _pip_install,
    arg_defaults,
    bind_mounts,
    docker_ignores,
    exec_form,
    expand,
    final_stage,
    image_kind,
    last,
    named_volumes,
    option_value,
    ours,
    parse_dockerfile,
    services,
)
from tests.deploy.kit import ROOT


def test_builds_use_the_dockerfiles_with_the_repository_as_context() -> None:
    for name in ours():
        service = services()[name]
        context = (DOCKER / service["build"]["context"]).resolve()
        assert context == ROOT, name
        assert (context / service["build"]["dockerfile"]).is_file()
        # Tagged locally, never pulled from a registry under a name we do not own.
        kind = image_kind(service)
        assert service["image"].split(":")[0] == f"alchemiscale-like-{kind}", name
        assert service.get("init") is True, f"{name}: pid 1 must reap the processes it starts"
    for name, service in services().items():
        if service.get("image", "").startswith("alchemiscale-like"):
            assert image_kind(service), f"{name} uses our image without building it"


def test_build_args_are_arguments_of_the_dockerfile() -> None:
    for name in ours():
        service = services()[name]
        args = service["build"].get("args", {})
        declared = arg_defaults(final_stage(str(image_kind(service))))
        assert set(args) <= set(declared), name


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_dockerfile_base_user_and_command(kind: str) -> None:
    stages = parse_dockerfile(DOCKERFILES[kind])
    for stage in stages:
        assert stage[0].args.split(" AS ")[0] == "python:3.11-slim"
    final = stages[-1]
    user = expand(last(final, "USER").args, arg_defaults(final))
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), f"USER {user}: numeric, so runAsNonRoot checks can see it"
    assert int(uid) != 0
    assert gid != "0"
    assert '--uid "$APP_UID"' in " ".join(i.args for i in final if i.keyword == "RUN")
    # The user is the last word: nothing after it runs as root.
    keywords = [i.keyword for i in final]
    assert "RUN" not in keywords[keywords.index("USER") :]
    assert exec_form(last(final, "CMD"))


def test_dockerfile_parser_reads_continuations_and_stages(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("# c\nFROM a AS b\nRUN x \\\n    # note\n    && y\nFROM c\nUSER 1\n")
    stages = parse_dockerfile(path)
    assert [[i.keyword for i in s] for s in stages] == [["FROM", "RUN"], ["FROM", "USER"]]
    assert stages[0][1].args == "x && y"
    path.write_text("USER 1\nFROM a\n")
    with pytest.raises(ValueError, match="before the first FROM"):
        parse_dockerfile(path)


def test_server_image_installs_the_server_extra() -> None:
    assert 'pip install ".[server]"' in _pip_install("server")


def test_compute_image_installs_the_core_package_and_compute_extras() -> None:
    install = _pip_install("compute")
    assert "server" not in install  # a compute node needs no server dependencies
    assert '".${EXTRAS:+[$EXTRAS]}"' in install
    extras = arg_defaults(parse_dockerfile(DOCKERFILES["compute"])[0])["EXTRAS"]
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras
    for extra in extras.split(","):
        assert extra in optional
        assert not any("server" in dep or "boto3" in dep for dep in optional[extra])


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_copied_files_exist_and_reach_the_builder(kind: str) -> None:
    copies = [
        i.args.split()
        for s in parse_dockerfile(DOCKERFILES[kind])
        for i in s
        if i.keyword == "COPY" and not i.args.startswith("--from")
    ]
    assert copies
    for *sources, _ in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not docker_ignores(source), f".dockerignore drops {source}"
    assert not docker_ignores("alchemiscale_like/cli/__init__.py")


def test_dockerignore_keeps_the_context_small() -> None:
    for path in (".git/config", ".cache/neo4j/x.jar", "tests/conftest.py", "devtools/x.py"):
        assert docker_ignores(path), path
    assert docker_ignores("alchemiscale_like/__pycache__/cli.cpython-311.pyc")


def test_compute_example_config_is_valid_and_fits_its_mounts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in list(os.environ):
        if key.startswith("ALCHEMISCALE_LIKE_COMPUTE_"):
            monkeypatch.delenv(key)
    found = services()
    compute = found["compute"]
    (config_dir,) = [t for t, s in bind_mounts(compute) if s == DOCKER / "compute-config"]
    command = compute["command"]
    config = PurePosixPath(option_value(command, "-c"))
    assert config.parent == PurePosixPath(config_dir)
    settings = ComputeServiceSettings.load(DOCKER / "compute-config" / config.name)
    url = urlsplit(settings.api_url)
    assert url.hostname == "compute-api"
    assert str(url.port) == option_value(found["compute-api"]["command"], "--port")
    assert settings.key_file is not None
    assert settings.key_file.parent == Path(config_dir)
    scratch = Path(named_volumes(compute)["compute-scratch"])
    assert settings.scratch_dir.is_relative_to(scratch)
    assert settings.file_cache_dir.is_relative_to(scratch)
    # The image makes /scratch, owned by its user, so a new volume is writable.
    run = " ".join(i.args for i in final_stage("compute") if i.keyword == "RUN")
    assert f"chown app:app {scratch}" in run
    # Its stop grace fits inside the time compose gives before SIGKILL.
    grace = re.fullmatch(r"(\d+)m", compute["stop_grace_period"])
    assert grace is not None
    assert settings.stop_grace < int(grace[1]) * 60
