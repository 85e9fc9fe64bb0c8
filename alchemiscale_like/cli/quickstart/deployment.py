"""The quickstart's deployment on disk: its data folder, secrets, identities and configs.

Everything lives in one folder (``DataDir``): the SQLite state store, the local
object store, the admin user's client config, the compute identity's key file,
one YAML file per compute service, the logs of every process, the record of the
processes (for ``quickstart --stop``) and the final summary. Secrets (keys, the
JWT secret, the presigned-URL signing key) are written with user-only
permissions and never printed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import SecretStr

from alchemiscale_like.atomicfiles import write_atomic
from alchemiscale_like.cli.quickstart.errors import QuickstartError

#: Marks a folder as a quickstart's own: only such a folder is ever replaced.
MARKER = ".alchemiscale-like-quickstart"
#: The admin user quickstart creates (scopes: everything).
ADMIN_USER = "admin"
#: The compute identity both compute services log in as (each with its own suffix).
COMPUTE_IDENTITY = "quickstart-compute"
#: Environment variables never passed on from the caller: quickstart sets its own.
_OWN_PREFIXES = ("ALCHEMISCALE_LIKE_", "NEO4J_")


@dataclass(frozen=True)
class DataDir:
    """Where each of the quickstart's files lives inside its data folder ``root``."""

    root: Path

    @property
    def state_db(self) -> Path:
        """The SQLite state store."""
        return self.root / "state.sqlite3"

    @property
    def objects(self) -> Path:
        """The local object store (DAGs, unit results, result files, checkpoints)."""
        return self.root / "objects"

    @property
    def spool(self) -> Path:
        """Where the compute API keeps uploads while they stream on to the store."""
        return self.root / "spool"

    @property
    def client_config(self) -> Path:
        """The admin user's client config (``ALCHEMISCALE_LIKE_CONFIG``)."""
        return self.root / "client.yaml"

    @property
    def compute_key(self) -> Path:
        """The compute identity's key file (referenced by the services' YAML)."""
        return self.root / "compute.key"

    @property
    def server_env(self) -> Path:
        """The servers' environment (stores and secrets), to start them again by hand."""
        return self.root / "server.env"

    @property
    def logs(self) -> Path:
        """One log file per process."""
        return self.root / "logs"

    @property
    def processes(self) -> Path:
        """The running processes (pids, URLs), read by ``quickstart --stop``."""
        return self.root / "processes.json"

    @property
    def summary(self) -> Path:
        """The final results as JSON (the table, the resume report)."""
        return self.root / "summary.json"

    def log(self, name: str) -> Path:
        """The log file of process ``name``."""
        return self.logs / f"{name}.log"

    def service_config(self, name: str) -> Path:
        """The YAML settings of compute service ``name``."""
        return self.root / "services" / f"{name}.yaml"

    def scratch(self, name: str) -> Path:
        """The scratch folder of compute service ``name``."""
        return self.root / "scratch" / name

    @property
    def file_cache(self) -> Path:
        """The file cache both compute services share (one node)."""
        return self.root / "scratch" / "cache"


@dataclass(frozen=True)
class Credentials:
    """The identities quickstart created and their keys (never printed)."""

    user: str
    user_key: SecretStr
    compute: str
    compute_key: SecretStr


def prepare_data_dir(root: Path) -> DataDir:
    """Create the data folder ``root`` (user-only permissions), empty.

    An earlier quickstart's folder is replaced (the caller checked that nothing runs
    from it); any other folder that is not empty is left alone.

    Raises:
        QuickstartError: ``root`` is not empty and not a quickstart's folder.
    """
    root = root.expanduser().absolute()
    data = DataDir(root)
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise QuickstartError(
                f"{root} exists and is not a quickstart data folder: choose another --data-dir"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    (root / MARKER).write_text("made by alchemiscale-like quickstart\n")
    for folder in (data.objects, data.spool, data.logs, data.root / "services"):
        folder.mkdir(parents=True, exist_ok=True)
    return data


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_private(path: Path, text: str) -> None:
    write_atomic(path, text.encode())  # mkstemp's file: mode 0600 from the start
    os.chmod(path, 0o600)


def base_environment() -> dict[str, str]:
    """This process's environment without any of the project's own settings.

    A variable the caller set (``ALCHEMISCALE_LIKE_COMPUTE_...`` overrides a service's
    YAML, ``NEO4J_URL`` ...) must not reach the quickstart's processes. The folder
    this package was imported from goes first on ``PYTHONPATH``.
    """
    import alchemiscale_like

    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    # The children run this very package, installed or not (a source checkout).
    package_root = str(Path(alchemiscale_like.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    return env


def server_environment(data: DataDir, lease_seconds: float) -> dict[str, str]:
    """The settings both API servers share: embedded stores, secrets, a short lease.

    A new JWT secret and presigned-URL signing key are drawn and saved to
    ``server.env`` (mode 0600); both APIs must share them.
    """
    settings = {
        "ALCHEMISCALE_LIKE_STATESTORE_BACKEND": "sqlite",
        "ALCHEMISCALE_LIKE_STATESTORE_SQLITE_PATH": str(data.state_db),
        "ALCHEMISCALE_LIKE_OBJECTSTORE_BACKEND": "local",
        "ALCHEMISCALE_LIKE_OBJECTSTORE_PATH": str(data.objects),
        "ALCHEMISCALE_LIKE_OBJECTSTORE_LOCAL_SIGNING_KEY": secrets.token_urlsafe(32),
        "ALCHEMISCALE_LIKE_JWT_SECRET_KEY": secrets.token_urlsafe(32),
        "ALCHEMISCALE_LIKE_API_LEASE_SECONDS": f"{lease_seconds:g}",
        "ALCHEMISCALE_LIKE_API_SPOOL_DIR": str(data.spool),
        "ALCHEMISCALE_LIKE_LOG_LEVEL": "INFO",
    }
    _write_private(data.server_env, "".join(f"{k}={v}\n" for k, v in settings.items()))
    return {**base_environment(), **settings}


def create_identities(data: DataDir, compute_scope: str) -> Credentials:
    """Initialize the state store and add the admin user and the compute identity.

    Keys are generated and hashed by :mod:`alchemiscale_like.security.keys` and
    :func:`alchemiscale_like.services.identities.add_identity` (the CLI's own path).
    """
    from alchemiscale_like.security.keys import generate_key
    from alchemiscale_like.services.identities import add_identity
    from alchemiscale_like.storage.statestore import StateStoreSettings, build_statestore

    credentials = Credentials(
        user=ADMIN_USER,
        user_key=SecretStr(generate_key()),
        compute=COMPUTE_IDENTITY,
        compute_key=SecretStr(generate_key()),
    )
    store = build_statestore(StateStoreSettings(backend="sqlite", sqlite_path=data.state_db))
    try:
        store.initialize()
        add_identity(
            store, "user", credentials.user, credentials.user_key.get_secret_value(), ["*-*-*"]
        )
        add_identity(
            store,
            "compute",
            credentials.compute,
            credentials.compute_key.get_secret_value(),
            [compute_scope],
        )
    finally:
        store.close()
    return credentials


def write_client_files(data: DataDir, user_api_url: str, credentials: Credentials) -> None:
    """Write the admin user's ``client.yaml`` and the compute identity's key file (0600)."""
    from alchemiscale_like.client.config import ClientConfig, write_client_config

    write_client_config(
        data.client_config,
        ClientConfig(api_url=user_api_url, identifier=credentials.user, key=credentials.user_key),
    )
    _write_private(data.compute_key, credentials.compute_key.get_secret_value() + "\n")


def write_service_config(
    data: DataDir,
    name: str,
    compute_api_url: str,
    credentials: Credentials,
    scope: str,
    lease_seconds: float,
) -> Path:
    """Write compute service ``name``'s YAML settings; returns its path.

    Heartbeats come well within the lease, idle services look for work at least
    every two seconds (a task a killed service held is taken over soon after its
    lease expires), checkpoints go up every second and a stop gives the unit in
    flight one second before asking it to checkpoint: a demo's pace.
    """
    settings = {
        "api_url": compute_api_url,
        "identifier": credentials.compute,
        "key_file": str(data.compute_key),
        "service_suffix": name,
        "scopes": [scope],
        "heartbeat_interval": max(0.2, min(1.0, lease_seconds / 5)),
        "idle_sleep": 0.5,
        "idle_sleep_max": 2.0,
        "checkpoint_interval": 1.0,
        "stop_grace": 1.0,
        "scratch_dir": str(data.scratch(name)),
        "cache_dir": str(data.file_cache),
        "cache_max_bytes": "1GiB",
        "execution": "inprocess",
        "log_level": "INFO",
        # One JSON object per line: quickstart reads the events (claims, uploads,
        # units started) to show which units a resumed task reused.
        "log_format": "json",
    }
    path = data.service_config(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, yaml.safe_dump(settings, sort_keys=False))
    return path
