"""Browser tests: headless Debian Chromium driven by Playwright, against the real gateway.

Flows that label or create jobs use the integration `platform` fixture (every service as a process, real
PostgreSQL/Redis/broker), imported from tests/integration/conftest.py. Tool tests only need the pages, so
they use `pages_url`: the same gateway app served in-process, without backends. Screenshots go to
test-artifacts/browser/ (git-ignored). Any console error (a CSP violation included) fails the test.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("QUORUM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Reuse (not copy) the integration fixtures that start the whole platform.
_spec = importlib.util.spec_from_file_location(
    "quorum_integration_conftest", ROOT / "tests/integration/conftest.py"
)
assert _spec and _spec.loader
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
platform = _integration.platform
requester_key = _integration.requester_key


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


# Module scope, not session: Playwright's sync API keeps an event loop running in the main thread while it is
# open, and every asyncio test collected after the browser tests would fail with "cannot be called from a
# running event loop".
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        # The system browser, never a downloaded one.
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and _unexpected(m.text) else None)
    pg.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    pg.console_errors = errors  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"browser console errors: {errors}"


def _unexpected(text: str) -> bool:
    # Expected API refusals (a 401 sign-in, a 204 probe) are logged by Chromium as failed loads.
    return "Failed to load resource" not in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pages_url() -> Iterator[str]:
    """The gateway app (pages, static files, CSP) served in-process; its backends are never called."""
    import uvicorn

    from quorum_gateway.app import create_app
    from quorum_gateway.settings import GatewaySettings

    port = _free_port()
    settings = GatewaySettings(  # type: ignore[call-arg]
        jobs_addr="127.0.0.1:9",
        workforce_addr="127.0.0.1:9",
        consolidation_addr="127.0.0.1:9",
        admin_api_key="pages-" + uuid.uuid4().hex,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
