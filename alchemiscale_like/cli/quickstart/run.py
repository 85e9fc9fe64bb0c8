"""The quickstart from start to end: deploy, submit, watch, report, stop.

:func:`run_quickstart` owns the order of things; the parts live beside it
(:mod:`.deployment` files and identities, :mod:`.processes` the children,
:mod:`.demo` the network, :mod:`.kill` ``--demo-kill``, :mod:`.report` the output).
"""

from __future__ import annotations

import functools
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import requests
from rich.console import Console

from alchemiscale_like.cli.quickstart.demo import (
    DEMO_SCOPE,
    DemoSize,
    EstimateRow,
    ProgressTracker,
    SubmittedDemo,
    describe_failures,
    gather_estimates,
    submit_demo,
)
from alchemiscale_like.cli.quickstart.deployment import (
    MARKER,
    Credentials,
    DataDir,
    base_environment,
    create_identities,
    free_port,
    prepare_data_dir,
    server_environment,
    write_client_files,
    write_service_config,
)
from alchemiscale_like.cli.quickstart.errors import QuickstartError
from alchemiscale_like.cli.quickstart.kill import EventLog, KillDemo, ResumeReport, resume_report
from alchemiscale_like.cli.quickstart.processes import (
    ManagedProcess,
    Supervisor,
    command,
    running_recorded,
)
from alchemiscale_like.cli.quickstart.report import (
    ProgressDisplay,
    print_next_steps,
    print_resume_report,
    results_table,
    write_summary,
)
from alchemiscale_like.errors import AlchemiscaleLikeError

if TYPE_CHECKING:
    from alchemiscale_like.client import UserClient

#: Seconds an API or a compute service gets to come up (imports on a busy machine).
STARTUP_TIMEOUT = 90.0
#: Seconds between progress polls of the user API, and between looks at the victim's log.
POLL_SECONDS = 0.5
KILL_CHECK_SECONDS = 0.1
SERVICES = ("service-1", "service-2")


@dataclass(frozen=True)
class QuickstartOptions:
    """What the ``quickstart`` command was asked to do."""

    data_dir: Path
    keep_running: bool
    demo_kill: bool
    size: DemoSize
    lease_seconds: float
    timeout: float


@dataclass(frozen=True)
class Deployment:
    """The running deployment: URLs, credentials and the compute services."""

    user_api_url: str
    compute_api_url: str
    credentials: Credentials
    services: list[ManagedProcess]


class Terminated(BaseException):
    """SIGTERM reached quickstart: stop everything, like a Ctrl-C (exit code 143)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def run_quickstart(options: QuickstartOptions, console: Console) -> int:
    """Run the whole quickstart; returns the exit code (0, 1, 130 on SIGINT, 143 on SIGTERM).

    Whatever happens, every process it started is stopped before it returns
    (unless ``keep_running`` and all went well).
    """
    started = time.monotonic()
    try:
        running = running_recorded(DataDir(options.data_dir).processes)
        if running:
            raise QuickstartError(
                f"{', '.join(running)} still run from {options.data_dir}: stop them with "
                f"'alchemiscale-like quickstart --stop --data-dir {options.data_dir}'"
            )
        replacing = (options.data_dir / MARKER).exists()
        data = prepare_data_dir(options.data_dir)
    except QuickstartError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
    if replacing:
        console.print(f"replaced the earlier quickstart in {data.root}", highlight=False)
    supervisor = Supervisor(data.processes, data.root)
    # Ctrl-C raises KeyboardInterrupt even if this process was started with SIGINT
    # ignored (a shell's background job); SIGTERM stops everything the same way.
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated),
    }
    keep = False
    try:
        console.print(f"quickstart data folder: {data.root}", highlight=False)
        deployment = _deploy(data, supervisor, options.lease_seconds, console)
        with _user_client(deployment) as client:
            demo, rows, report = _run_demo(client, deployment, supervisor, options, console)
        write_summary(data, demo, rows, report, time.monotonic() - started)
        console.print(results_table(rows))
        if report is not None:
            print_resume_report(console, report)
        keep = options.keep_running
        if not keep:
            _stop(supervisor, console)
        print_next_steps(
            console,
            data,
            demo,
            keep_running=keep,
            urls=[deployment.user_api_url, deployment.compute_api_url],
        )
        console.print(f"\nquickstart done in {time.monotonic() - started:.1f} s", highlight=False)
        return 0
    except KeyboardInterrupt:
        console.print("\ninterrupted", highlight=False)
        return 130
    except Terminated:
        console.print("\nterminated", highlight=False)
        return 143
    except AlchemiscaleLikeError as exc:  # QuickstartError, or an API error
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if not keep and supervisor.processes and not supervisor.stopped:
            _stop(supervisor, console)


def _stop(supervisor: Supervisor, console: Console) -> None:
    console.print("stopping the compute services and the APIs ...", highlight=False)
    supervisor.stop_all()
    console.print("all quickstart processes stopped", highlight=False)


def _ping(url: str) -> bool:
    try:
        return requests.get(f"{url}/ping", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _registered(log: EventLog) -> bool:
    """Whether the service's log has shown ``event=service_start`` (it registered) yet."""
    return any(event["event"] == "service_start" for event in log.new_events())


def _deploy(
    data: DataDir, supervisor: Supervisor, lease_seconds: float, console: Console
) -> Deployment:
    """Create identities and configs, start both APIs, then both compute services."""
    user_port = free_port()
    compute_port = free_port()
    while compute_port == user_port:
        compute_port = free_port()
    user_url = f"http://127.0.0.1:{user_port}"
    compute_url = f"http://127.0.0.1:{compute_port}"
    server_env = server_environment(data, lease_seconds)
    credentials = create_identities(data, DEMO_SCOPE)
    write_client_files(data, user_url, credentials)
    console.print(
        f"created the admin user {credentials.user!r} and the compute identity "
        f"{credentials.compute!r} (keys in {data.client_config.name} and "
        f"{data.compute_key.name}, mode 0600)",
        highlight=False,
    )
    apis = [
        supervisor.start(
            "user-api",
            "api",
            command("api", "--port", str(user_port)),
            server_env,
            data.log("user-api"),
            user_url,
        ),
        supervisor.start(
            "compute-api",
            "api",
            command("compute", "api", "--port", str(compute_port)),
            server_env,
            data.log("compute-api"),
            compute_url,
        ),
    ]
    for api, url in zip(apis, (user_url, compute_url), strict=True):
        supervisor.wait_ready(api, functools.partial(_ping, url), STARTUP_TIMEOUT)
    console.print(f"user API on {user_url}, compute API on {compute_url}", highlight=False)
    services = []
    for name in SERVICES:
        config = write_service_config(
            data, name, compute_url, credentials, DEMO_SCOPE, lease_seconds
        )
        services.append(
            supervisor.start(
                name,
                "service",
                command("compute", "synchronous", "-c", str(config)),
                base_environment(),
                data.log(name),
            )
        )
    for service in services:
        log = EventLog(service.log)
        supervisor.wait_ready(service, functools.partial(_registered, log), STARTUP_TIMEOUT)
    console.print(f"compute services {', '.join(SERVICES)} registered", highlight=False)
    return Deployment(user_url, compute_url, credentials, services)


def _user_client(deployment: Deployment) -> UserClient:
    from alchemiscale_like.client import UserClient

    # Few, short retries: a dead API must show up as an error within seconds.
    return UserClient(
        deployment.user_api_url,
        deployment.credentials.user,
        deployment.credentials.user_key.get_secret_value(),
        timeout=(5, 60),
        max_retries=3,
        max_retry_time=15.0,
    )


def _run_demo(
    client: UserClient,
    deployment: Deployment,
    supervisor: Supervisor,
    options: QuickstartOptions,
    console: Console,
) -> tuple[SubmittedDemo, list[EstimateRow], ResumeReport | None]:
    """Submit the demo, follow it to the end (killing a service on the way if asked)."""
    import alchemiscale_like.protocols  # noqa: F401 -- results are gathered here, client side
    from alchemiscale_like.models.scope import ScopedKey

    size = options.size
    demo = submit_demo(client, size)
    console.print(
        f"submitted network {demo.network}: {len(demo.transformations)} transformations, "
        f"{size.repeats} tasks each, {size.units_per_task} units per task",
        highlight=False,
    )
    killer = KillDemo(deployment.services[0]) if options.demo_kill else None
    tracker = ProgressTracker(client, demo, size.units_per_task)
    with ProgressDisplay(console) as display:
        _watch(display, tracker, supervisor, killer, options)
    rows = gather_estimates(client, demo)
    if killer is None:
        return demo, rows, None
    if killer.kill is None:
        raise QuickstartError(
            f"the demo finished before {killer.victim.name} had uploaded {killer.kill_after} "
            "units of one task: nothing was killed (try a larger --n-steps)"
        )
    transformation = demo.transformation_of(ScopedKey.from_str(killer.kill.task)).name
    report = resume_report(client, killer.kill, deployment.services[1], transformation)
    return demo, rows, report


def _watch(
    display: ProgressDisplay,
    tracker: ProgressTracker,
    supervisor: Supervisor,
    killer: KillDemo | None,
    options: QuickstartOptions,
) -> None:
    """Show progress until every Task is complete; fail on an error, a death or the timeout."""
    started = time.monotonic()
    next_poll = started
    while True:
        supervisor.check_alive()
        if killer is not None and killer.kill is None:
            kill = killer.step(supervisor)
            if kill is not None:
                display.note(
                    f"--demo-kill: SIGKILLed {kill.service} holding task {kill.task} after it "
                    f"uploaded {len(kill.uploaded)} of {options.size.units_per_task} units; "
                    f"once its lease ({options.lease_seconds:g} s) expires, the other service "
                    "resumes the task"
                )
        now = time.monotonic()
        if now >= next_poll:
            rows = tracker.poll()
            display.update(rows, _status(supervisor, killer, now - started))
            if any(row.tasks_error for row in rows):
                failures = describe_failures(tracker.client, tracker.demo)
                raise QuickstartError(f"tasks failed:\n{failures}")
            if all(row.finished for row in rows):
                return
            next_poll = now + POLL_SECONDS
        if now - started > options.timeout:
            raise QuickstartError(
                f"the demo was not complete after {options.timeout:g} s (see the logs in "
                f"{supervisor.cwd / 'logs'})"
            )
        waiting_to_kill = killer is not None and killer.kill is None
        time.sleep(KILL_CHECK_SECONDS if waiting_to_kill else POLL_SECONDS)


def _status(supervisor: Supervisor, killer: KillDemo | None, elapsed: float) -> str:
    states = []
    for process in supervisor.processes:
        if process.role != "service":
            continue
        if killer is not None and killer.kill is not None and process is killer.victim:
            states.append(f"{process.name}: SIGKILLed")
        else:
            states.append(f"{process.name}: {'running' if process.alive() else 'stopped'}")
    return f"{'; '.join(states)}; {elapsed:.0f} s"
