"""The dashboard in real headless Chromium, on Neo4j and S3Proxy with a compute service running.

One walk through the issue's "done when", as a user would do it: log in through the
form, follow links by clicking, watch a Task run live (no reload), download a result
file, see the estimate chart and the services page, fail to reach another scope's
objects, and log out. ``tests/server/test_ui.py`` checks the same rules over plain
HTTP; this checks that a browser gets them too (cookies, scripts, downloads).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from alchemiscale_like import ComputeClient
from alchemiscale_like.compute.service import SynchronousComputeService
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.errors import NotFound
from alchemiscale_like.models import (
    AlchemicalNetwork,
    ScopedKey,
    Transformation,
)
from alchemiscale_like.protocols.testing import (
    FileProtocol,
    FileSettings,
    SleepProtocol,
    SleepSettings,
)
from alchemiscale_like.server.ui.session import SESSION_COOKIE
from tests.server.conftest import KEYS, OTHER_SCOPE, SCOPE, Deployment
from tests.server.helpers import file_network, small_systems, user
from tests.ui.browser_fixtures import save_screenshot, wait_for_download, wait_until

# The browser tests share one worker, so one Chromium starts for all of them.
pytestmark = pytest.mark.xdist_group("browser")

SERVICE_ID = "worker~dashboard"
SLEEP_UNITS = 6
#: Seconds the whole Sleep Task may take to be claimed and run (it needs about 6).
TASK_TIMEOUT = 120
#: Seconds between two looks at the task page while it runs (the page refreshes every 2).
POLL = 0.2
#: How ``#task-progress`` reads: "done / total".
PROGRESS = re.compile(r"(\d+) / (\d+)")
#: How the services page shows a heartbeat's age (formatting.age).
HEARTBEAT_AGE = re.compile(r"\d+(\.\d+)? (s|min|h|d) ago")


@dataclass(frozen=True)
class Campaign:
    """Alice's network: a FileProtocol transformation whose Task is actioned from the
    start, and a SleepProtocol chain whose Task is created but not yet actioned."""

    network: ScopedKey
    name: str
    file_transformation: ScopedKey
    file_task: ScopedKey
    sleep_transformation: ScopedKey
    sleep_task: ScopedKey


@dataclass(frozen=True)
class Rival:
    """Bob's network in OTHER_SCOPE, with one Task."""

    network: ScopedKey
    name: str
    transformation: ScopedKey
    task: ScopedKey


def _campaign_network(name: str) -> tuple[AlchemicalNetwork, Transformation, Transformation]:
    """A network of a FileProtocol edge and a SleepProtocol chain, and the two edges."""
    systems = small_systems(name, 3)
    files = Transformation(
        stateA=systems[0],
        stateB=systems[1],
        protocol=FileProtocol(settings=FileSettings(n_producers=1, n_files=1, file_size=4096)),
        name=f"{name}-files",
    )
    sleep = Transformation(
        stateA=systems[0],
        stateB=systems[2],
        protocol=SleepProtocol(
            settings=SleepSettings(n_units=SLEEP_UNITS, seconds=1.0, layout="chain")
        ),
        name=f"{name}-sleep",
    )
    return AlchemicalNetwork(edges=[files, sleep], nodes=systems, name=name), files, sleep


@pytest.fixture
def campaign(deployment: Deployment) -> Campaign:
    """Alice's two-transformation network; only the File Task is actioned."""
    name = "alice-dashboard-campaign"
    network, files, sleep = _campaign_network(name)
    alice = user(deployment)
    network_sk = alice.create_network(network, SCOPE)
    file_tf = ScopedKey.from_key(files.key, SCOPE)
    sleep_tf = ScopedKey.from_key(sleep.key, SCOPE)
    assert set(alice.get_network_transformations(network_sk)) == {file_tf, sleep_tf}
    (file_task,) = alice.create_tasks(file_tf)
    (sleep_task,) = alice.create_tasks(sleep_tf)
    assert alice.action_tasks([file_task], network_sk) == [file_task]
    return Campaign(network_sk, name, file_tf, file_task, sleep_tf, sleep_task)


@pytest.fixture
def rival(deployment: Deployment) -> Rival:
    """Bob's network in his own scope, which alice must never see."""
    name = "bobs-hidden-dashboard-network"
    bob = user(deployment, "bob")
    network = bob.create_network(file_network(name), OTHER_SCOPE)
    (transformation,) = bob.get_network_transformations(network)
    (task,) = bob.create_tasks(transformation)
    return Rival(network, name, transformation, task)


def _registered(deployment: Deployment, service_id: str) -> bool:
    try:
        deployment.statestore.get_computeservice(service_id)
    except NotFound:
        return False
    return True


@pytest.fixture
def compute_service(deployment: Deployment, tmp_path: Path) -> Iterator[SynchronousComputeService]:
    """A compute service of ``worker`` running in a thread until the test ends."""
    settings = ComputeServiceSettings.load(
        None,
        api_url=deployment.compute_url,
        identifier="worker",
        key=KEYS["worker"],
        scratch_dir=tmp_path / "scratch",
        once=False,
        idle_sleep=0.1,
        idle_sleep_max=0.5,  # an actioned Task is claimed within half a second
        heartbeat_interval=1.0,
        stop_grace=0.0,
    )
    client = ComputeClient(
        deployment.compute_url, "worker", KEYS["worker"], service_id=SERVICE_ID, backoff=0.01
    )
    service = SynchronousComputeService(settings, client)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            service.run()
        except BaseException as exc:  # handed to the test's teardown, not lost in the thread
            failures.append(exc)

    # Registered before the browser starts: the services page lists it from the first look.
    thread = threading.Thread(target=run, name="dashboard-compute-service", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not _registered(deployment, SERVICE_ID):
            if failures:
                raise failures[0]
            assert time.monotonic() < deadline, "the compute service did not register in 30 s"
            time.sleep(0.05)
        yield service
    finally:
        service.stop()
        thread.join(timeout=60)
    assert not thread.is_alive(), "the compute service did not stop within 60 s"
    if failures:
        raise failures[0]


# -- helpers ---------------------------------------------------------------------------------


def _path_of(driver: WebDriver) -> str:
    """The path of the page the browser shows (no scheme, host or query)."""
    path: str = driver.execute_script("return window.location.pathname")
    return path


def click_to(driver: WebDriver, css: str, path: str) -> None:
    """Click the link ``css`` and wait until the browser is at ``path``.

    Live tables are replaced every few seconds: a link found just before a refresh is
    stale by the time it is clicked, so the click is retried on a fresh one.
    """

    def clicked(d: WebDriver) -> bool:
        try:
            d.find_element(By.CSS_SELECTOR, css).click()
        except StaleElementReferenceException:
            return False
        return True

    wait_until(driver, clicked, timeout=30, message=f"no link {css} to click")
    wait_until(
        driver,
        lambda d: (
            _path_of(d) == path and d.execute_script("return document.readyState") == "complete"
        ),
        timeout=30,
        message=f"clicking {css} did not lead to {path}",
    )


def task_state(driver: WebDriver) -> tuple[str, str]:
    """``#task-status`` and ``#task-progress`` read in one script (never half a refresh)."""
    status, progress = driver.execute_script(
        "return [document.getElementById('task-status').textContent.trim(),"
        " document.getElementById('task-progress').textContent.trim()]"
    )
    return status, progress


def texts(driver: WebDriver, css: str) -> list[str]:
    """The text of every element matching ``css``, read in one script (no stale elements)."""
    found: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]),"
        " (element) => element.textContent.trim())",
        css,
    )
    return found


def units_done(progress: str) -> tuple[int, int]:
    """``(done, total)`` of a ``#task-progress`` text."""
    match = PROGRESS.fullmatch(progress)
    assert match is not None, progress
    return int(match.group(1)), int(match.group(2))


def row(key: ScopedKey | str) -> str:
    """The CSS selector of a table row of ``key``."""
    return f'tr[data-key="{key}"]'


# -- the walk --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_user_watches_a_campaign_run_in_the_dashboard(
    browser: WebDriver,
    browser_download_dir: Path,
    deployment: Deployment,
    campaign: Campaign,
    rival: Rival,
    compute_service: SynchronousComputeService,
) -> None:
    ui = f"{deployment.user_url}/ui"

    # 1. Log in through the form; the session cookie is out of the page scripts' reach.
    browser.get(f"{ui}/networks")
    wait_until(browser, lambda d: d.find_element(By.ID, "login"), message="no login form")
    assert _path_of(browser) == "/ui/login"
    save_screenshot(browser, "login")
    browser.find_element(By.ID, "identifier").send_keys("alice")
    browser.find_element(By.ID, "key").send_keys("not-alices-key")
    browser.find_element(By.ID, "login").click()
    error = wait_until(browser, lambda d: d.find_element(By.ID, "login-error"))
    assert error.text == "Unknown identity or wrong key."
    assert browser.get_cookie(SESSION_COOKIE) is None
    browser.find_element(By.ID, "identifier").clear()
    browser.find_element(By.ID, "identifier").send_keys("alice")
    browser.find_element(By.ID, "key").send_keys(KEYS["alice"])
    browser.find_element(By.ID, "login").click()
    wait_until(
        browser,
        lambda d: _path_of(d) == "/ui/networks" and d.find_element(By.ID, "identity"),
        message="login did not lead to the network list",
    )
    assert browser.find_element(By.ID, "identity").text == "alice"
    save_screenshot(browser, "networks")
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/ui"
    assert SESSION_COOKIE not in browser.execute_script("return document.cookie")

    # 2-3. Click through to the Sleep Task, which waits (not actioned) and has no DAG yet.
    listed = browser.find_element(By.CSS_SELECTOR, f"#networks {row(campaign.network)}")
    assert campaign.name in listed.text
    click_to(browser, f"{row(campaign.network)} a", f"/ui/networks/{campaign.network}")
    click_to(
        browser,
        f"#transformations {row(campaign.sleep_transformation)} a",
        f"/ui/transformations/{campaign.sleep_transformation}",
    )
    click_to(
        browser,
        f"#transformation-live #tasks {row(campaign.sleep_task)} a",
        f"/ui/tasks/{campaign.sleep_task}",
    )
    assert task_state(browser) == ("waiting", "0 / 0")
    assert texts(browser, "#task-live #units") == []
    assert "No DAG yet" in browser.find_element(By.ID, "task-live").text
    browser.execute_script("window.__noReload = 42")

    alice = user(deployment)
    assert alice.action_tasks([campaign.sleep_task], campaign.network) == [campaign.sleep_task]

    seen: list[str] = []
    running_shot = False
    deadline = time.monotonic() + TASK_TIMEOUT
    while True:
        status, progress = task_state(browser)
        if not seen or seen[-1] != progress:
            seen.append(progress)
        if status == "running" and not running_shot:
            assert texts(browser, "#task-claimant") == [SERVICE_ID]
            save_screenshot(browser, "task_running")
            running_shot = True
        if status == "complete" and progress == f"{SLEEP_UNITS} / {SLEEP_UNITS}":
            break
        assert status in ("waiting", "running"), (status, seen)
        assert time.monotonic() < deadline, f"not complete in {TASK_TIMEOUT}s: {status} {seen}"
        time.sleep(POLL)  # the page refreshes itself: this only paces the look at it
    save_screenshot(browser, "task_complete")
    assert running_shot, f"the page never showed the Task running: {seen}"
    done = [units_done(p)[0] for p in seen]
    assert done == sorted(done), seen
    assert any(0 < n < SLEEP_UNITS for n in done), f"no progress between 0 and done: {seen}"
    assert browser.execute_script("return window.__noReload") == 42, "the page was reloaded"
    assert texts(browser, "#units tr.unit .unit-state") == ["complete"] * SLEEP_UNITS

    # 4. The File Task, reached from its transformation page; a result file downloads.
    click_to(
        browser,
        f'.crumbs a[href="/ui/transformations/{campaign.sleep_transformation}"]',
        f"/ui/transformations/{campaign.sleep_transformation}",
    )
    click_to(
        browser,
        f'.crumbs a[href="/ui/networks/{campaign.network}"]',
        f"/ui/networks/{campaign.network}",
    )
    click_to(
        browser,
        f"#transformations {row(campaign.file_transformation)} a",
        f"/ui/transformations/{campaign.file_transformation}",
    )
    click_to(
        browser,
        f"#tasks {row(campaign.file_task)} a",
        f"/ui/tasks/{campaign.file_task}",
    )
    wait_until(
        browser,
        lambda d: task_state(d) == ("complete", "2 / 2"),
        timeout=TASK_TIMEOUT,
        message="the File Task did not show complete",
    )
    listed_sha, shown_sha = browser.execute_script(
        "const link = document.querySelector('#files a.download');"
        "return [link.dataset.sha256,"
        " link.closest('tr').querySelector('code.sha256').textContent.trim()]"
    )
    click_to(browser, "#files a.download", f"/ui/tasks/{campaign.file_task}")
    downloaded = wait_for_download(browser_download_dir, timeout=30)
    save_screenshot(browser, "task_files")
    content = downloaded.read_bytes()
    assert len(content) == 4096
    assert hashlib.sha256(content).hexdigest() == listed_sha == shown_sha

    # 5. The network page charts the File transformation's estimate; the service is listed.
    click_to(
        browser,
        f'.crumbs a[href="/ui/transformations/{campaign.file_transformation}"]',
        f"/ui/transformations/{campaign.file_transformation}",
    )
    click_to(
        browser,
        f'.crumbs a[href="/ui/networks/{campaign.network}"]',
        f"/ui/networks/{campaign.network}",
    )
    wait_until(
        browser,
        lambda d: d.find_element(
            By.CSS_SELECTOR,
            f'#estimates svg g.estimate[data-transformation="{campaign.file_transformation}"]',
        ),
        timeout=60,
        message="no estimate of the File transformation in the chart",
    )
    progress_by_transformation = browser.execute_script(
        "const out = {};"
        "for (const tr of document.querySelectorAll('#transformations tbody tr'))"
        " out[tr.dataset.key] = tr.querySelector('.units-done').textContent.trim();"
        "return out"
    )
    assert progress_by_transformation == {
        str(campaign.file_transformation): "2",
        str(campaign.sleep_transformation): str(SLEEP_UNITS),
    }
    save_screenshot(browser, "network")
    click_to(browser, 'header nav a[href="/ui/services"]', "/ui/services")
    (heartbeat,) = texts(browser, f"#services {row(SERVICE_ID)} td:nth-child(2)")
    assert HEARTBEAT_AGE.fullmatch(heartbeat), heartbeat
    save_screenshot(browser, "services")

    # 6. Bob's network is neither listed nor reachable by typing its URLs.
    click_to(browser, 'header nav a[href="/ui/networks"]', "/ui/networks")
    assert browser.find_elements(By.CSS_SELECTOR, row(rival.network)) == []
    for secret in (rival.name, str(rival.network), rival.network.gufe_key):
        assert secret not in browser.page_source
    for path in (
        f"/networks/{rival.network}",
        f"/transformations/{rival.transformation}",
        f"/tasks/{rival.task}",
    ):
        browser.get(f"{ui}{path}")
        detail = wait_until(browser, lambda d: d.find_element(By.ID, "error-detail"))
        assert detail.text == "There is nothing here, or not for you.", path
        assert browser.find_element(By.TAG_NAME, "h1").text == "Not found", path
        assert rival.name not in browser.page_source, path
    save_screenshot(browser, "other_scope_404")

    # 7. Logging out ends the session: a protected page sends the browser to the login.
    # (The error page has no header of the session, so back to the networks first.)
    click_to(browser, 'main a[href="/ui/networks"]', "/ui/networks")
    browser.find_element(By.ID, "logout").click()
    wait_until(
        browser, lambda d: _path_of(d) == "/ui/login", message="logout did not lead to login"
    )
    assert browser.get_cookie(SESSION_COOKIE) is None
    browser.get(f"{ui}/networks/{campaign.network}")
    wait_until(browser, lambda d: d.find_element(By.ID, "login"), message="no login form")
    assert _path_of(browser) == "/ui/login"
    assert campaign.name not in browser.page_source
