"""Browser-test support: Debian's chromium driven by Playwright, the app served by uvicorn on loopback.

Chromium comes from Debian's package (``make browser`` installs it when root); Playwright is the
PyPI package, whose wheel carries its own driver — ``playwright install`` is never run: the
browser is ``/usr/bin/chromium``. When either is missing the browser tests skip, saying why.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from backend.api.inprocess import InProcessClient

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (make browser)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
ARTIFACTS = Path(os.environ.get("HUBAO_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")) / "web"


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return (
            f"{CHROMIUM} is missing: install Debian's chromium (`make browser` does it as root: "
            "apt-get install -y chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def require_browser() -> None:
    """Skip the calling test when no browser can run here — loudly: a warning in every run's summary."""
    reason = browser_unavailable()
    if reason is not None:
        warnings.warn(f"BROWSER TESTS SKIPPED: {reason}", UserWarning, stacklevel=2)
        pytest.skip(f"BROWSER TESTS SKIPPED: {reason}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="web-test-uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/app/", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class ConsoleLog:
    """Every console error and uncaught page error, tagged with the phase of the test it happened in.

    A phase named ``expected-4xx:…`` is one where the test provokes an API refusal on purpose:
    there, and only there, Chromium's "Failed to load resource … status of 4xx" lines are expected.
    """

    def __init__(self) -> None:
        self.phase = "start"
        self.errors: list[tuple[str, str]] = []

    def on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append((self.phase, message.text))

    def on_page_error(self, error: Any) -> None:
        self.errors.append((self.phase, f"uncaught: {error}"))

    def unexpected(self) -> list[tuple[str, str]]:
        return [
            (phase, text)
            for phase, text in self.errors
            if not (phase.startswith("expected-4xx") and "the server responded with a status of 4" in text)
        ]


def shoot(page: Any, name: str) -> list[Path]:
    """Full-page screenshots of the current page at desktop and phone width; checks no sideways scroll."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(50)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 1:
            widest = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                    .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                    .filter((e) => !(e.parentElement && e.parentElement.closest('.table-wrap')))
                    .slice(0, 6).map((e) => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 30))"""
            )
            raise AssertionError(f"{name} scrolls sideways by {overflow}px at {size['width']}px: {widest}")
        path = ARTIFACTS / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(DESKTOP)
    return paths


class LoopbackClient(InProcessClient):
    """``InProcessClient`` over real HTTP to the served app (its ``get``/``post`` are inherited).

    Playwright's sync API keeps an event loop running in the test's thread, so the in-process
    client (``asyncio.run``) cannot be used while the browser is open; this one can.
    """

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=60)

    def request(self, method: str, url: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, url, headers=headers, **kwargs)
