"""S3Proxy from Maven Central: a real S3-compatible server for development and tests.

S3Proxy (``org.gaul:s3proxy``) serves the S3 API over a filesystem-backed blob
store. We run its ``org.gaul.s3proxy.Main --properties <file>`` (through the
one-file ``S3ProxyLauncher.java``, which adds ``--exit-with-parent``) with the
jars that Maven copied into ``.cache/jars/s3proxy/`` (kept apart from Neo4j's:
their Jetty/Netty versions differ). The properties file and the blob store live in
``data_dir``; the server listens on ``127.0.0.1:<port>`` and checks AWS v2/v4
signatures against a fixed test identity and credential.

Clients must use path-style addressing (``http://127.0.0.1:<port>/<bucket>/<key>``).
"""

from __future__ import annotations

from pathlib import Path

from devtools.servers.common import JavaServer, fetch_jars, start_java

NAME = "s3proxy"
POM = Path(__file__).with_name("pom.xml")
#: S3Proxy's ``org.gaul.s3proxy.Main`` behind a parent-death watch (run as a source file).
LAUNCHER = Path(__file__).with_name("S3ProxyLauncher.java")

#: The test identity and credential (S3 access key id / secret key). Not a secret:
#: the server only listens on loopback and holds throw-away data.
ACCESS_KEY_ID = "alchemiscale-like-test"
SECRET_ACCESS_KEY = "alchemiscale-like-test-secret"
REGION = "us-east-1"
DEFAULT_BUCKET = "alchemiscale-like"


def fetch() -> None:
    """Resolve S3Proxy's jars into the project cache (a no-op once cached)."""
    fetch_jars(NAME, POM)


def write_properties(data_dir: Path, port: int) -> Path:
    """Write S3Proxy's properties file into ``data_dir`` and return its path."""
    blob_dir = data_dir / "blobs"
    # With the filesystem provider a bucket is a folder: this creates DEFAULT_BUCKET.
    (blob_dir / DEFAULT_BUCKET).mkdir(parents=True, exist_ok=True)
    props = {
        "s3proxy.endpoint": f"http://127.0.0.1:{port}",
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": ACCESS_KEY_ID,
        "s3proxy.credential": SECRET_ACCESS_KEY,
        "s3proxy.ignore-unknown-headers": "true",
        "jclouds.provider": "filesystem",
        "jclouds.identity": ACCESS_KEY_ID,
        "jclouds.credential": SECRET_ACCESS_KEY,
        "jclouds.filesystem.basedir": str(blob_dir),
    }
    path = data_dir / "s3proxy.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
    return path


_LOGBACK = """<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{HH:mm:ss.SSS} %-5level %logger{24} - %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


def start(data_dir: Path, port: int, *, exit_with_parent: bool = False) -> JavaServer:
    """Start S3Proxy on ``127.0.0.1:port`` with its data under ``data_dir``.

    Creates the bucket :data:`DEFAULT_BUCKET` (a folder of the filesystem store)
    and returns once the port accepts connections; stop it with
    :meth:`JavaServer.stop`. Call :func:`fetch` first.

    Args:
        exit_with_parent: shut down when the calling process dies (tests set this
            so a killed run leaves no server behind; ``devtools.services up`` must not).
    """
    jars = fetch_jars(NAME, POM)
    data_dir.mkdir(parents=True, exist_ok=True)
    props = write_properties(data_dir, port)
    # The jar ships no logback.xml: without one logback logs every request at DEBUG.
    logback = data_dir / "logback.xml"
    logback.write_text(_LOGBACK)
    flags = ["--exit-with-parent"] if exit_with_parent else []
    server = start_java(
        NAME,
        [jars / "*"],
        str(LAUNCHER),
        [*flags, "--properties", str(props)],
        port=port,
        data_dir=data_dir,
        jvm_flags=[
            "-Xmx512m",  # plenty: S3Proxy streams bodies to disk
            "-XX:-UsePerfData",  # no hsperfdata files left in /tmp by killed servers
            f"-Dlogback.configurationFile={logback}",
        ],
    )
    server.extra["endpoint_url"] = f"http://127.0.0.1:{port}"
    return server


def env(server: JavaServer) -> dict[str, str]:
    """Environment variables that point the project's object store settings at ``server``."""
    return {
        "ALCHEMISCALE_LIKE_OBJECTSTORE_BACKEND": "s3",
        "ALCHEMISCALE_LIKE_OBJECTSTORE_ENDPOINT_URL": f"http://127.0.0.1:{server.port}",
        "ALCHEMISCALE_LIKE_OBJECTSTORE_BUCKET": DEFAULT_BUCKET,
        "ALCHEMISCALE_LIKE_OBJECTSTORE_REGION": REGION,
        "ALCHEMISCALE_LIKE_OBJECTSTORE_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "ALCHEMISCALE_LIKE_OBJECTSTORE_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
