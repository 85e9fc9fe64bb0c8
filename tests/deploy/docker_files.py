"""Reading the Docker deployment as data (no Docker engine runs here).

compose.yaml with ``yaml.safe_load`` and compose's variable interpolation, the
Dockerfiles with a small instruction parser, and the ``alchemiscale-like`` commands
they and docker/README.md run. The tests are in ``test_docker_*.py``.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from alchemiscale_like.cli import cli
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.security.tokens import TokenSettings
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.storage.objectstore.settings import ObjectStoreSettings
from alchemiscale_like.storage.statestore.settings import StateStoreSettings
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


def _in_container(token: str, binds: tuple[tuple[str, Path], ...]) -> str:
    for target, source in binds:
        if token == target or token.startswith(target + "/"):
            return str(source) + token[len(target) :]
    return token


_TOP_LEVEL = {"name", "services", "volumes"}

_SERVICE_KEYS = {
    "image", "build", "command", "entrypoint", "environment", "ports", "volumes",
    "healthcheck", "depends_on", "restart", "profiles", "init", "stop_grace_period",
}  # fmt: skip

_HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval"}

_BUILD_KEYS = {"context", "dockerfile", "args", "target"}

_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def _depends(service: Mapping[str, Any]) -> dict[str, str]:
    entries = service.get("depends_on", {})
    assert isinstance(entries, dict), "depends_on must name a condition for each service"
    return {target: entry["condition"] for target, entry in entries.items()}


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


#: Gives this process the environment compose gives a service; returns it.
SetEnvironment = Callable[[str], dict[str, str]]


def _pip_install(kind: str) -> str:
    run = [
        i.args for s in parse_dockerfile(DOCKERFILES[kind]) for i in s if "pip install" in i.args
    ]
    assert len(run) == 1
    return run[0]


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
