"""Headless Chromium for the browser tests, from Debian's packages: ``python -m devtools.browser``.

    python -m devtools.browser ensure   # find it, or install it as root first; test.sh runs this
    python -m devtools.browser find     # find it only; exit status 1 and how to install if missing

Both print the paths of ``chromium`` and ``chromedriver`` and their versions. The
browser and its driver come only from the Debian packages ``chromium`` and
``chromium-driver`` (one version, built together): nothing is downloaded from the
internet, and the tests hand both paths to Selenium, so its selenium-manager (which
would download a browser) never runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

#: The Debian packages that hold the browser and its WebDriver server.
DEBIAN_PACKAGES = ("chromium", "chromium-driver")
#: Where Debian puts them, tried after ``PATH``. ``/usr/bin/chromium`` is Debian's shell
#: wrapper (it reads ``/etc/chromium.d/``); ``chromium-driver`` ships the driver in
#: ``/usr/lib/chromium/`` with a link in ``/usr/bin/``.
CHROMIUM_PLACES = (Path("/usr/bin/chromium"), Path("/usr/lib/chromium/chromium"))
CHROMEDRIVER_PLACES = (Path("/usr/bin/chromedriver"), Path("/usr/lib/chromium/chromedriver"))
#: Seconds ``apt-get update`` and ``apt-get install`` may take together: about 100 MB
#: to download on a fresh machine.
INSTALL_TIMEOUT = 900.0
#: Seconds apt waits for a dpkg lock held by another apt (unattended upgrades on a new
#: machine) instead of failing at once.
_APT_LOCK_TIMEOUT = 120
_VERSION_TIMEOUT = 30.0
_STDERR_FD = 2

INSTALL_HINT = (
    "install Debian's packages: sudo apt-get install chromium chromium-driver "
    "(or, as root, run: python -m devtools.browser ensure)"
)


class BrowserMissing(RuntimeError):
    """Chromium or chromedriver is not installed, or could not be installed or run."""


@dataclass(frozen=True)
class BrowserPaths:
    """The browser executable and the matching WebDriver server."""

    chromium: Path
    chromedriver: Path


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _find(name: str, places: Sequence[Path]) -> Path | None:
    on_path = shutil.which(name)
    if on_path is not None:
        return Path(on_path)
    return next((place for place in places if _executable(place)), None)


def find_browser() -> BrowserPaths:
    """Find ``chromium`` and ``chromedriver`` in ``PATH``, then in Debian's places.

    Raises:
        BrowserMissing: either is missing; the message says where it looked and how
            to install both.
    """
    chromium = _find("chromium", CHROMIUM_PLACES)
    chromedriver = _find("chromedriver", CHROMEDRIVER_PLACES)
    if chromium is not None and chromedriver is not None:
        return BrowserPaths(chromium=chromium, chromedriver=chromedriver)
    missing = []
    if chromium is None:
        missing.append(f"chromium (looked in PATH, {', '.join(map(str, CHROMIUM_PLACES))})")
    if chromedriver is None:
        missing.append(f"chromedriver (looked in PATH, {', '.join(map(str, CHROMEDRIVER_PLACES))})")
    raise BrowserMissing(f"not found: {'; '.join(missing)}; {INSTALL_HINT}")


def ensure_browser(timeout: float = INSTALL_TIMEOUT) -> BrowserPaths:
    """Find the browser; when missing, install Debian's packages with apt-get, then find it.

    Installing needs root and ``apt-get``; elsewhere the :class:`BrowserMissing` of
    :func:`find_browser` is raised as it is. apt-get's output goes to stderr.

    Args:
        timeout: Seconds ``apt-get update`` and ``apt-get install`` may take together.

    Raises:
        BrowserMissing: missing and not installable here, apt-get failed or timed out,
            or the packages did not provide both executables.
    """
    try:
        return find_browser()
    except BrowserMissing:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise
    deadline = time.monotonic() + timeout
    logger.info("event=browser_install packages=%s", ",".join(DEBIAN_PACKAGES))
    _apt_get(["update"], deadline)
    _apt_get(["install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES], deadline)
    paths = find_browser()
    logger.info(
        "event=browser_installed chromium=%s chromedriver=%s", paths.chromium, paths.chromedriver
    )
    return paths


def _apt_get(args: list[str], deadline: float) -> None:
    """Run ``apt-get ARGS`` non-interactively with its output on stderr, until ``deadline``."""
    cmd = ["apt-get", "-o", f"DPkg::Lock::Timeout={_APT_LOCK_TIMEOUT}", *args]
    remaining = max(deadline - time.monotonic(), 1.0)
    started = time.monotonic()
    try:
        result = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=_STDERR_FD,  # stdout stays clean for the paths this command prints
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            timeout=remaining,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrowserMissing(
            f"{' '.join(cmd)} did not finish in {remaining:.0f}s; "
            f"if it was killed mid-install, run: dpkg --configure -a; {INSTALL_HINT}"
        ) from exc
    logger.info(
        "event=apt_get command=%s exit=%d seconds=%.1f",
        args[0],
        result.returncode,
        time.monotonic() - started,
    )
    if result.returncode != 0:
        raise BrowserMissing(
            f"{' '.join(cmd)} exited with {result.returncode} (its output is above on stderr)"
        )


def version(executable: Path) -> str:
    """What ``EXECUTABLE --version`` prints, e.g. ``Chromium 156.0.8078.114 built on Debian``.

    Raises:
        BrowserMissing: it does not run (a missing library, a broken install).
    """
    try:
        result = subprocess.run(
            [str(executable), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrowserMissing(f"{executable} --version failed: {exc}; {INSTALL_HINT}") from exc
    if result.returncode != 0:
        raise BrowserMissing(
            f"{executable} --version exited with {result.returncode}: "
            f"{result.stderr.strip()[-2000:]}; {INSTALL_HINT}"
        )
    # Debian's wrapper may warn on stderr (its /dev/shm check trips over a second
    # mount of /dev/shm); the version is the last line on stdout.
    lines = result.stdout.strip().splitlines()
    if not lines:
        raise BrowserMissing(f"{executable} --version printed nothing; {INSTALL_HINT}")
    return lines[-1]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status is 0 when both executables are there and run."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["ensure", "find"])
    parser.add_argument(
        "--timeout",
        type=float,
        default=INSTALL_TIMEOUT,
        help="seconds apt-get may take to install the browser (ensure)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    try:
        paths = ensure_browser(args.timeout) if args.action == "ensure" else find_browser()
        versions = (version(paths.chromium), version(paths.chromedriver))
    except BrowserMissing as exc:
        print(f"browser missing: {exc}", file=sys.stderr)
        return 1
    print(f"chromium: {paths.chromium}")
    print(f"chromedriver: {paths.chromedriver}")
    for line in versions:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
