"""The Docker deployment (top-level ``docker/``): compose.yaml, both Dockerfiles, their docs.

No Docker engine runs here, so the files are read as data: compose.yaml with
``yaml.safe_load`` and compose's variable interpolation, the Dockerfiles with a small
instruction parser. What they would run is checked against the real code: every
``alchemiscale-like`` command that compose.yaml, the Dockerfiles and docker/README.md use
goes through the real CLI (it must parse, answer ``--help`` and list every option it is
given), every variable compose sets on our images is a real settings field whose value the
settings accept, and the apps the API commands serve build from that environment.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from alchemiscale_like.cli import cli
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.security.tokens import TokenSettings, load_token_settings
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.storage.objectstore.settings import ObjectStoreSettings
from alchemiscale_like.storage.statestore.settings import StateStoreSettings
from tests.cli.runner import run_cli
from tests.deploy.kit import ROOT

DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
README = DOCKER / "README.md"
MINIO_INIT = DOCKER / "minio-init.sh"
DOCKERFILES = {"server": DOCKER / "Dockerfile.server", "compute": DOCKER / "Dockerfile.compute"}

#: The settings classes each image's processes read from the environment.
SETTINGS_OF: dict[str, tuple[type[BaseSettings], ...]] = {
    "server": (StateStoreSettings, ObjectStoreSettings, APISettings, TokenSettings),
    "compute": (ComputeServiceSettings,),
}
OUR_PREFIXES = ("ALCHEMISCALE_LIKE_", "NEO4J_")
SECRETS = {
    "NEO4J_PASSWORD",
    "MINIO_ROOT_PASSWORD",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "ALCHEMISCALE_LIKE_JWT_SECRET_KEY",
}
STACK = ("neo4j", "minio", "minio-init", "init", "user-api", "compute-api")
ON_DEMAND = ("admin", "compute")

# -- compose's variable interpolation ----------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_]\w*))"
)


class MissingVariable(Exception):
    """A ``${NAME:?message}`` whose variable is unset or empty: compose refuses to start."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _substitute(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match["escaped"]:
        return "$"
    name = match["braced"] or match["named"]
    op, arg = match["op"] or "", match["arg"] or ""
    value = env.get(name)
    missing = not value if op.startswith(":") else value is None
    if op.endswith("-") and missing:
        return arg
    if op.endswith("?") and missing:
        raise MissingVariable(name, arg)
    return value or ""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` (parsed YAML) with compose's ``$VAR``, ``${VAR:-x}``, ``${VAR:?x}``, ``$$``."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda match: _substitute(match, env), value)
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    return value


def references(value: Any) -> Iterator[re.Match[str]]:
    """Every variable reference in ``value`` (parsed YAML), ``$$`` escapes left out."""
    if isinstance(value, str):
        yield from (m for m in _VARIABLE.finditer(value) if not m["escaped"])
    elif isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from references(item)


@cache
def raw_compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def env_example() -> tuple[dict[str, str], dict[str, str]]:
    """``.env.example``: (variables it sets, variables it shows commented out)."""
    values: dict[str, str] = {}
    commented: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"(#?)([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            (commented if match[1] else values)[match[2]] = match[3]
    return values, commented


def filled_env(
    changes: Mapping[str, str] | None = None, drop: tuple[str, ...] = ()
) -> dict[str, str]:
    """A ``.env`` made from ``.env.example`` with every empty secret filled in."""
    values, _ = env_example()
    env = {
        name: value or f"test-{name.lower().replace('_', '-')}-{'x' * 32}"
        for name, value in values.items()
        if name not in drop
    }
    env.update(changes or {})
    return env


def compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml as ``docker compose config`` would see it with ``env`` as its ``.env``."""
    found: dict[str, Any] = interpolate(raw_compose(), filled_env() if env is None else env)
    return found


def services(env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose(env)["services"]
    return found


def image_kind(service: Mapping[str, Any]) -> str | None:
    """``server`` or ``compute`` for a service built from one of our Dockerfiles."""
    build = service.get("build")
    if not isinstance(build, dict):
        return None
    dockerfile = (
        DOCKER / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
    ).resolve()
    for kind, path in DOCKERFILES.items():
        if dockerfile == path.resolve():
            return kind
    return None


def ours() -> list[str]:
    """The services running our images."""
    return [name for name, service in services().items() if image_kind(service)]


@dataclass(frozen=True)
class Port:
    host_ip: str
    published: int
    target: int


def ports(service: Mapping[str, Any]) -> list[Port]:
    found = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) == 3, f"{entry!r}: give the host address, e.g. 127.0.0.1:8000:8000"
        found.append(Port(parts[0], int(parts[1]), int(parts[2].removesuffix("/tcp"))))
    return found


def mounts(service: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume of a service (short syntax)."""
    found = []
    for entry in service.get("volumes", []):
        source, target, *_ = str(entry).split(":")
        found.append((source, target))
    return found


def bind_mounts(service: Mapping[str, Any]) -> tuple[tuple[str, Path], ...]:
    """(target in the container, folder or file on the host) of each bind mount."""
    return tuple(
        (target, (DOCKER / source).resolve())
        for source, target in mounts(service)
        if source.startswith((".", "/"))
    )


def named_volumes(service: Mapping[str, Any]) -> dict[str, str]:
    """Named volume -> its mount target."""
    return {s: t for s, t in mounts(service) if not s.startswith((".", "/"))}


def option_value(argv: list[str], option: str) -> str:
    index = argv.index(option)
    return argv[index + 1]


# -- Dockerfiles ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(path: Path) -> list[list[Instruction]]:
    """The instructions of each build stage (each FROM starts one), continuations joined."""
    stages: list[list[Instruction]] = []
    logical = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments, parser directives, blank lines (also inside continuations)
        if line.endswith("\\"):
            logical += line[:-1].rstrip() + " "
            continue
        keyword, _, args = (logical + line).partition(" ")
        logical = ""
        instruction = Instruction(keyword.upper(), args.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        elif not stages:
            raise ValueError(f"{path.name}: {instruction.keyword} before the first FROM")
        stages[-1].append(instruction)
    if logical:
        raise ValueError(f"{path.name}: ends inside a continuation line")
    return stages


def final_stage(kind: str) -> list[Instruction]:
    return parse_dockerfile(DOCKERFILES[kind])[-1]


def last(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert found, f"no {keyword} in the final stage"
    return found[-1]


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON array of an exec-form ENTRYPOINT or CMD (shell form fails)."""
    value = json.loads(instruction.args)
    assert isinstance(value, list), f"{instruction.keyword} must be an exec-form JSON array"
    assert all(isinstance(item, str) for item in value)
    return value


def arg_defaults(stage: list[Instruction]) -> dict[str, str]:
    found = {}
    for instruction in stage:
        if instruction.keyword == "ARG":
            name, _, default = instruction.args.partition("=")
            found[name] = default.strip('"')
    return found


def expand(text: str, values: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced as the Dockerfile's own substitution does."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m[1], ""), text)


def env_instructions(stage: list[Instruction]) -> dict[str, str]:
    found = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            for item in shlex.split(instruction.args):
                name, _, value = item.partition("=")
                found[name] = value
    return found


# -- .dockerignore (the matching rules of Docker's builder) -------------------------------------


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/")):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(out)


def docker_ignores(path: str) -> bool:
    """Whether ``.dockerignore`` keeps ``path`` (relative to the root) out of the context.

    The last pattern that matches the path or one of its parent folders wins; ``!``
    re-includes.
    """
    prefixes = ["/".join(path.split("/")[: n + 1]) for n in range(path.count("/") + 1)]
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        regex = _ignore_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


# -- the alchemiscale-like commands the deployment runs ----------------------------------------


@dataclass(frozen=True)
class Invocation:
    """One ``alchemiscale-like`` command line of the deployment and where it is."""

    where: str
    argv: tuple[str, ...]
    #: (path in the container, path here) of the bind mounts it runs with.
    mounts: tuple[tuple[str, Path], ...] = ()

    def __str__(self) -> str:
        return f"{self.where}: {' '.join(self.argv)}"


def readme_commands() -> list[list[str]]:
    """Each command line of the ```bash blocks of docker/README.md, split as by the shell."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                found.append(shlex.split(line, comments=True))
    return found


def _readme_invocation(tokens: list[str], by_service: Mapping[str, Any]) -> Invocation | None:
    where = "docker/README.md"
    if tokens[0] == "alchemiscale-like":
        return Invocation(where, tuple(tokens[1:]))
    if tokens[:2] == ["docker", "compose"] and "run" in tokens:
        rest = tokens[tokens.index("run") + 1 :]
        while rest and rest[0].startswith("-"):
            assert rest[0] == "--rm", f"README: option {rest[0]} of compose run is not parsed here"
            rest.pop(0)
        service = by_service[rest[0]]
        if not image_kind(service):
            return None
        final = final_stage(str(image_kind(service)))
        argv = rest[1:] or service.get("command") or exec_form(last(final, "CMD"))
        return Invocation(f"{where} (compose run {rest[0]})", tuple(argv), bind_mounts(service))
    if tokens[:2] == ["docker", "run"]:
        images = [
            i
            for i, t in enumerate(tokens)
            if re.fullmatch(r"alchemiscale-like-(server|compute)(:\S+)?", t)
        ]
        if not images:
            return None
        (index,) = images
        kind = tokens[index].split(":")[0].removeprefix("alchemiscale-like-")
        binds = []
        for option, value in itertools.pairwise(tokens[2:index]):
            if option in ("-v", "--volume"):
                source, target, *_ = value.replace("$PWD", str(ROOT)).split(":")
                binds.append((target, Path(source).resolve()))
        argv = tokens[index + 1 :] or exec_form(last(final_stage(kind), "CMD"))
        return Invocation(f"{where} (docker run)", tuple(argv), tuple(binds))
    return None


def invocations() -> list[Invocation]:
    """Every ``alchemiscale-like`` command of compose.yaml, the Dockerfiles and the README."""
    found = []
    by_service = services()
    for name, service in by_service.items():
        kind = image_kind(service)
        if kind is None:
            continue
        command = service.get("command") or exec_form(last(final_stage(kind), "CMD"))
        if isinstance(command, str):
            command = shlex.split(command)
        found.append(Invocation(f"compose.yaml {name}", tuple(command), bind_mounts(service)))
    for kind, path in DOCKERFILES.items():
        binds = tuple(
            bind for s in by_service.values() if image_kind(s) == kind for bind in bind_mounts(s)
        )
        command = exec_form(last(final_stage(kind), "CMD"))
        found.append(Invocation(f"{path.name} CMD", tuple(command), binds))
    for tokens in readme_commands():
        invocation = _readme_invocation(tokens, by_service)
        if invocation is not None:
            found.append(invocation)
    return found


def command_path(argv: tuple[str, ...]) -> tuple[list[str], click.Command]:
    """The subcommand names at the start of ``argv`` and the command they name."""
    command: click.Command = cli
    names = []
    for token in argv:
        if not isinstance(command, click.Group) or token not in command.commands:
            break
        command = command.commands[token]
        names.append(token)
    return names, command


INVOCATIONS = invocations()


def test_every_deployment_command_is_found() -> None:
    # The checks below are worth something only if the extraction finds what is there.
    paths = {tuple(command_path(i.argv)[0]) for i in INVOCATIONS}
    for expected in [
        ("api",),
        ("compute", "api"),
        ("database", "init"),
        ("compute", "synchronous"),
        ("identity", "add"),
        ("identity", "list"),
    ]:
        assert expected in paths, f"no `alchemiscale-like {' '.join(expected)}` found"
    wheres = {i.where for i in INVOCATIONS}
    for service in ("init", "user-api", "compute-api", "admin", "compute"):
        assert f"compose.yaml {service}" in wheres
    assert {"Dockerfile.server CMD", "Dockerfile.compute CMD"} <= wheres


@pytest.mark.parametrize("invocation", INVOCATIONS, ids=str)
def test_command_exists_and_knows_its_options(invocation: Invocation) -> None:
    names, _ = command_path(invocation.argv)
    done = run_cli([*invocation.argv, "--help"], env={})
    assert done.returncode == 0, f"{invocation}\n{done.stdout}{done.stderr}"
    # --help reached the command itself, not a group above it.
    usage = "".join(" " + re.escape(name) for name in names)
    assert re.search(rf"^Usage: \S+{usage} \[OPTIONS\]", done.stdout, re.M), done.stdout
    for token in invocation.argv:
        if token.startswith("-") and token != "--":
            option = token.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", done.stdout), (
                f"{invocation}: {option} is not an option of this command\n{done.stdout}"
            )


def _in_container(token: str, binds: tuple[tuple[str, Path], ...]) -> str:
    for target, source in binds:
        if token == target or token.startswith(target + "/"):
            return str(source) + token[len(target) :]
    return token


@pytest.mark.parametrize("invocation", [i for i in INVOCATIONS if "--help" not in i.argv], ids=str)
def test_command_line_parses_with_its_values(invocation: Invocation) -> None:
    """Values too: choices, integers, and files (the mounted ones, as the container sees them)."""
    names, command = command_path(invocation.argv)
    assert not isinstance(command, click.Group), f"{invocation}: names a group, not a command"
    argv = [_in_container(token, invocation.mounts) for token in invocation.argv[len(names) :]]
    with command.make_context(" ".join(names), argv) as ctx:
        assert ctx.command is command


def test_parse_check_rejects_a_bad_value() -> None:
    _, command = command_path(("compute", "api"))
    with pytest.raises(click.BadParameter):
        command.make_context("compute api", ["--port", "eighty"])
    _, command = command_path(("compute", "synchronous"))
    with pytest.raises(click.BadParameter, match="does not exist"):
        command.make_context("compute synchronous", ["-c", "/nonexistent/service.yaml"])


def test_help_check_rejects_a_renamed_command_and_option() -> None:
    assert run_cli(["compute", "serve", "--help"], env={}).returncode != 0
    done = run_cli(["api", "--help"], env={})
    assert re.search(r"(?<![\w-])--host(?![\w-])", done.stdout)
    assert not re.search(r"(?<![\w-])--hostname(?![\w-])", done.stdout)


def test_entrypoint_is_the_installed_cli() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["alchemiscale-like"] == "alchemiscale_like.cli:cli"
    for kind in DOCKERFILES:
        assert exec_form(last(final_stage(kind), "ENTRYPOINT")) == ["alchemiscale-like"]
    for name in ours():
        # No service replaces the entrypoint: its command is an alchemiscale-like command.
        assert "entrypoint" not in services()[name], name


# -- compose.yaml: services, images, builds ------------------------------------------------------

_TOP_LEVEL = {"name", "services", "volumes"}
_SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "ports", "volumes",
    "healthcheck", "depends_on", "restart", "profiles", "init", "stop_grace_period",
}  # fmt: skip
_HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval"}
_BUILD_KEYS = {"context", "dockerfile", "args", "target"}
_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


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


# -- ports ---------------------------------------------------------------------------------


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


# -- volumes ---------------------------------------------------------------------------------


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


# -- healthchecks and start order ----------------------------------------------------------


def _depends(service: Mapping[str, Any]) -> dict[str, str]:
    entries = service.get("depends_on", {})
    assert isinstance(entries, dict), "depends_on must name a condition for each service"
    return {target: entry["condition"] for target, entry in entries.items()}


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


# -- settings from the environment ----------------------------------------------------------


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (pydantic-settings' rules)."""
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(prefix + name)
    return {name.upper() for name in names}


def cli_envvars(command: click.Command = cli) -> set[str]:
    """Variables the CLI's own options read (``--log-level``: ALCHEMISCALE_LIKE_LOG_LEVEL)."""
    found = set()
    for param in command.params:
        envvar = param.envvar
        found |= {envvar} if isinstance(envvar, str) else set(envvar or ())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found |= cli_envvars(sub)
    return found


def known_env_names(kind: str) -> set[str]:
    names = set(cli_envvars())
    for settings in SETTINGS_OF[kind]:
        names |= env_names(settings)
    return names


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


#: Gives this process the environment compose gives a service; returns it.
SetEnvironment = Callable[[str], dict[str, str]]


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


# -- secrets and .env.example ----------------------------------------------------------------


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


# -- the Dockerfiles --------------------------------------------------------------------------


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


def _pip_install(kind: str) -> str:
    run = [
        i.args for s in parse_dockerfile(DOCKERFILES[kind]) for i in s if "pip install" in i.args
    ]
    assert len(run) == 1
    return run[0]


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


# -- the compute service's example configuration -----------------------------------------------


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


# -- minio-init.sh -----------------------------------------------------------------------------


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


#: The IAM action each S3 call of the object store needs (a presigned URL is signed locally).
_S3_ACTIONS = {
    "head_bucket": "s3:ListBucket",
    "list_objects_v2": "s3:ListBucket",
    "list_multipart_uploads": "s3:ListBucketMultipartUploads",
    "put_object": "s3:PutObject",
    "create_multipart_upload": "s3:PutObject",
    "upload_part": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject",
    "get_object": "s3:GetObject",
    "head_object": "s3:GetObject",
    "delete_object": "s3:DeleteObject",
    "delete_objects": "s3:DeleteObject",
    "abort_multipart_upload": "s3:AbortMultipartUpload",
    "list_parts": "s3:ListMultipartUploadParts",
    "generate_presigned_url": None,
}
_BUCKET_ACTIONS = {"s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation"}


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


def test_readme_shows_how_to_create_both_kinds_of_identity() -> None:
    adds = [i.argv for i in INVOCATIONS if command_path(i.argv)[0] == ["identity", "add"]]
    kinds = {option_value(list(argv), "--type") for argv in adds}
    assert kinds == {"user", "compute"}
    profiles = {p for s in services().values() for p in s.get("profiles", [])}
    for tokens in readme_commands():
        if "--profile" in tokens:
            assert option_value(tokens, "--profile") in profiles
