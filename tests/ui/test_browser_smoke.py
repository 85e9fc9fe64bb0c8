"""The browser fixtures drive real headless Chromium: scripts, downloads and screenshots work."""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.ui.browser_fixtures import save_screenshot, wait_for_download, wait_until

# The browser tests share one worker, so one Chromium starts for all of them.
pytestmark = pytest.mark.xdist_group("browser")

PAYLOAD = bytes(range(256)) * 64
PAGE = """<!doctype html>
<html>
  <head><meta charset="utf-8"><title>browser smoke</title></head>
  <body>
    <h1 id="status">loading</h1>
    <a id="download" href="payload.bin" download>download the payload</a>
    <script>
      setTimeout(() => { document.getElementById("status").textContent = "ready"; }, 500);
    </script>
  </body>
</html>
"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files like ``http.server`` without a line on stderr per request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free port of 127.0.0.1 in a thread; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="smoke-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def test_page_script_download_and_screenshot(
    browser: WebDriver, browser_download_dir: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE)
    (site / "payload.bin").write_bytes(PAYLOAD)

    with _serve_folder(site) as base_url:
        browser.get(f"{base_url}/index.html")
        wait_until(
            browser,
            lambda driver: driver.find_element(By.ID, "status").text == "ready",
            timeout=10,
            message="the page's script did not set #status to 'ready'",
        )
        browser.find_element(By.ID, "download").click()
        downloaded = wait_for_download(browser_download_dir, timeout=30)
        screenshot = save_screenshot(browser, "browser_smoke")

    assert downloaded.name == "payload.bin"
    assert (
        hashlib.sha256(downloaded.read_bytes()).hexdigest() == hashlib.sha256(PAYLOAD).hexdigest()
    )
    assert screenshot.is_file()
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
