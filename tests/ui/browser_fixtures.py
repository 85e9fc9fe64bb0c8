"""Pytest fixtures and helpers for tests that drive a page in real headless Chromium.

The browser and its driver are Debian's (:func:`devtools.browser.find_browser`); both
paths are handed to Selenium, so selenium-manager never runs and nothing is
downloaded. A missing browser fails the tests that need it (with how to install it),
it never skips them: ``devtools/test.sh`` installs it first.

One Chromium runs per pytest worker, started by the first test that asks for
:func:`browser` and reused by the next ones; between tests its extra windows are
closed, and its cookies, storage and cache cleared. A test whose browser stopped
answering gets a fresh one. ::

    def test_export(browser: WebDriver, browser_download_dir: Path, base_url: str) -> None:
        browser.get(f"{base_url}/dashboard")
        wait_until(browser, lambda d: d.find_element(By.ID, "export"), message="no export")
        browser.find_element(By.ID, "export").click()
        exported = wait_for_download(browser_download_dir)
        save_screenshot(browser, "dashboard_export")
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

import psutil
import pytest
import urllib3
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from alchemiscale_like.atomicfiles import write_atomic
from devtools.browser import BrowserMissing, BrowserPaths, find_browser
from devtools.servers.common import REPO_ROOT

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Where :func:`save_screenshot` writes, unless this environment variable names a folder.
ARTIFACTS_ENV = "ALCHEMISCALE_LIKE_TEST_ARTIFACTS"
DEFAULT_SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
#: The one rule for screenshot file names: short, lower case, safe in any folder or URL.
SCREENSHOT_NAME = re.compile(r"[a-z0-9_-]{1,100}\.png")
WINDOW_SIZE = (1280, 900)
#: Seconds a page load or an injected script may take before the driver gives up.
PAGE_TIMEOUT = 30
#: Chromium's name for a download still in progress: ``<name>.crdownload``.
PARTIAL_DOWNLOAD_SUFFIX = ".crdownload"
#: What a call to a crashed browser raises: Chromium gone is a WebDriverException,
#: chromedriver gone is urllib3's refused connection.
BROWSER_GONE = (WebDriverException, urllib3.exceptions.HTTPError)

CHROMIUM_ARGUMENTS = (
    "--headless=new",
    # Chromium refuses to start as root with its sandbox (CI runs the tests as root).
    "--no-sandbox",
    # /dev/shm of a container is often 64 MB: shared memory in /tmp instead.
    "--disable-dev-shm-usage",
    "--disable-gpu",
    f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
    # No first-run pages, and no calls to Google (CI has no route to the internet and
    # Debian's wrapper turns background networking on with remote extensions).
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _start_chromium(paths: BrowserPaths, profile_dir: Path, download_dir: Path) -> WebDriver:
    """Start headless Chromium under chromedriver, its profile in ``profile_dir``.

    Raises:
        WebDriverException: chromedriver or Chromium failed to start.
    """
    options = webdriver.ChromeOptions()
    options.binary_location = str(paths.chromium)
    for argument in (*CHROMIUM_ARGUMENTS, f"--user-data-dir={profile_dir}"):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(download_dir),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
        },
    )
    service = Service(
        executable_path=str(paths.chromedriver),
        log_output=str(profile_dir.with_name(f"{profile_dir.name}-chromedriver.log")),
    )
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(PAGE_TIMEOUT)
        driver.set_script_timeout(PAGE_TIMEOUT)
    except BaseException:
        driver.quit()
        raise
    return driver


def _set_download_dir(driver: WebDriver, download_dir: Path) -> None:
    """Save downloads into ``download_dir`` without asking.

    The ``download.default_directory`` pref is read once, at start; a reused browser
    needs this to save into each later test's own folder.
    """
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)}
    )


def _reset(driver: WebDriver) -> None:
    """Leave ``driver`` as a new test expects it: one blank 1280x900 window, nothing remembered.

    Raises:
        WebDriverException, urllib3.exceptions.HTTPError: the browser does not answer
            (:data:`BROWSER_GONE`).
    """
    first, *others = driver.window_handles
    for handle in others:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(first)
    # Away from the test's page first, so its scripts cannot write anything back.
    driver.get("about:blank")
    driver.set_window_size(*WINDOW_SIZE)
    # WebDriver's delete_all_cookies reaches only the current page's cookies (none on
    # about:blank), and storage is kept per origin: these clear every site's. The
    # origin "*" is Chromium's wildcard (local and session storage, IndexedDB, caches,
    # service workers).
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "*", "storageTypes": "all"})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})


class BrowserSession:
    """One headless Chromium per pytest worker, started on first use and reused.

    Args:
        paths: The executables from :func:`devtools.browser.find_browser`.
        work_dir: A folder of this worker's: each started browser's profile and
            chromedriver log go there.
    """

    def __init__(self, paths: BrowserPaths, work_dir: Path) -> None:
        self._paths = paths
        self.work_dir = work_dir
        self._driver: WebDriver | None = None
        # chromedriver's children (the browser): quit cannot stop them once
        # chromedriver itself died, and an orphaned Chromium would run until the machine stops.
        self._browser_processes: list[psutil.Process] = []
        self._starts = 0

    def acquire(self, download_dir: Path) -> WebDriver:
        """The worker's browser, saving downloads in ``download_dir``.

        A browser is started when there is none or the last one no longer answers.

        Raises:
            WebDriverException: the browser failed to start.
        """
        if self._driver is not None:
            try:
                _set_download_dir(self._driver, download_dir)
            except BROWSER_GONE:
                self.close()
            else:
                return self._driver
        self._starts += 1
        profile = self.work_dir / f"profile-{self._starts}"
        started = time.monotonic()
        self._driver = _start_chromium(self._paths, profile, download_dir)
        self._browser_processes = psutil.Process(self._driver.service.process.pid).children()
        logger.info(
            "event=browser_started start=%d seconds=%.2f version=%s",
            self._starts,
            time.monotonic() - started,
            self._driver.capabilities.get("browserVersion"),
        )
        _set_download_dir(self._driver, download_dir)
        return self._driver

    def release(self) -> None:
        """Reset the browser for the next test; quit it instead if it no longer answers."""
        if self._driver is None:
            return
        try:
            _reset(self._driver)
        except BROWSER_GONE:
            self.close()

    def close(self) -> None:
        """Quit the browser if one runs, kill what outlived chromedriver, remove its profile."""
        driver, self._driver = self._driver, None
        if driver is None:
            return
        try:
            driver.quit()
        finally:
            survivors = [process for process in self._browser_processes if process.is_running()]
            for process in survivors:
                process.kill()
            psutil.wait_procs(survivors, timeout=10)
            shutil.rmtree(self.work_dir / f"profile-{self._starts}", ignore_errors=True)


@pytest.fixture(scope="session")
def browser_paths() -> BrowserPaths:
    """Debian's ``chromium`` and ``chromedriver``; the test fails (never skips) without them."""
    try:
        return find_browser()
    except BrowserMissing as exc:
        missing = str(exc)
    pytest.fail(missing, pytrace=False)  # outside the except: no "during handling" echo


@pytest.fixture(scope="session")
def browser_session(
    browser_paths: BrowserPaths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserSession]:
    """This worker's :class:`BrowserSession`; its browser quits when the worker ends."""
    session = BrowserSession(browser_paths, tmp_path_factory.mktemp("chromium"))
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def browser_download_dir(tmp_path: Path) -> Path:
    """This test's own empty folder, where :func:`browser` saves downloads."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(browser_session: BrowserSession, browser_download_dir: Path) -> Iterator[WebDriver]:
    """Headless Chromium at ``about:blank``, its downloads going to ``browser_download_dir``.

    The window is 1280x900. After the test, windows it opened are closed and all
    cookies, storage and cache are cleared, for the next test on this worker.
    """
    driver: WebDriver | None = None
    try:
        driver = browser_session.acquire(browser_download_dir)
    except WebDriverException as exc:
        failure = f"headless Chromium did not start: {exc.msg} (logs in {browser_session.work_dir})"
    if driver is None:
        pytest.fail(failure, pytrace=False)
    try:
        yield driver
    finally:
        browser_session.release()


def screenshot_dir() -> Path:
    """The folder screenshots go to: ``$ALCHEMISCALE_LIKE_TEST_ARTIFACTS`` or the default."""
    configured = os.environ.get(ARTIFACTS_ENV)
    return Path(configured) if configured else DEFAULT_SCREENSHOT_DIR


def save_screenshot(driver: WebDriver, name: str) -> Path:
    """Save what ``driver`` shows as ``<screenshot_dir>/<name>.png``; return that path.

    ``name`` may carry the ``.png`` already. Two xdist workers saving the same name
    overwrite each other: give each test its own. The file is replaced atomically.

    Raises:
        ValueError: the file name does not fullmatch :data:`SCREENSHOT_NAME`.
        WebDriverException: the browser took no screenshot.
    """
    file_name = name if name.endswith(".png") else f"{name}.png"
    if not SCREENSHOT_NAME.fullmatch(file_name):
        raise ValueError(f"screenshot name {name!r} must fullmatch {SCREENSHOT_NAME.pattern}")
    path = screenshot_dir() / file_name
    write_atomic(path, driver.get_screenshot_as_png())
    return path


def wait_for_download(directory: Path, timeout: float = 60) -> Path:
    """Wait until ``directory`` holds exactly one finished download; return its path.

    Finished means no ``.crdownload`` file is left (Chromium renames it when done);
    hidden files are temporary and not counted.

    Raises:
        AssertionError: more than one file was downloaded.
        TimeoutError: no finished download within ``timeout`` seconds (the message
            lists what is there).
    """
    deadline = time.monotonic() + timeout
    while True:
        entries = [entry for entry in directory.iterdir() if not entry.name.startswith(".")]
        partial = [entry for entry in entries if entry.name.endswith(PARTIAL_DOWNLOAD_SUFFIX)]
        done = [entry for entry in entries if entry not in partial]
        if len(done) > 1:
            raise AssertionError(f"expected one download in {directory}, found {sorted(done)}")
        if len(done) == 1 and not partial:
            return done[0]
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"no finished download in {directory} after {timeout}s; "
                f"it holds {sorted(e.name for e in directory.iterdir())}"
            )
        time.sleep(0.05)


def wait_until(
    driver: WebDriver,
    predicate: Callable[[WebDriver], T | Literal[False]],
    timeout: float = 30,
    message: str = "",
) -> T:
    """Poll ``predicate(driver)`` until it returns something true; return that.

    A ``NoSuchElementException`` from ``predicate`` counts as not yet; any other
    exception propagates.

    Raises:
        selenium.common.exceptions.TimeoutException: not true within ``timeout`` seconds;
            ``message`` (or the predicate's name) and the page's URL are in its text.
    """
    wait: WebDriverWait[WebDriver] = WebDriverWait(driver, timeout, poll_frequency=0.05)
    try:
        return wait.until(predicate)
    except TimeoutException as exc:
        what = message or getattr(predicate, "__qualname__", repr(predicate))
        raise TimeoutException(
            f"{what}: not true after {timeout}s (page {driver.current_url})"
        ) from exc
