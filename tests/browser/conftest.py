"""Browser tests: one real ``edgetwin up`` stack (broker, cloud, edge, simulator) on free ports
serves every test of the session, driven by Debian's headless Chromium through Playwright.

Every page needs a session: :meth:`Stack.login` creates a user of the asked role (once) in the
stack's identity store and logs in through the login form. The stack's own HTTP client holds an
admin token."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from tests.conftest import bearer

from edgetwin.core.security import Role
from edgetwin.security import IdentityStore

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READINGS_PER_CYCLE = 54  # the factory: 9 machines x 6 metrics every 2 s
PASSWORD = "correct horse battery staple"  # the test users' password
# role (as tests ask for it) -> (user name, role, tenants)
USERS: dict[str, tuple[str, Role, tuple[str, ...]]] = {
    "admin": ("ada", Role.ADMIN, ("*",)),
    "operator": ("otto", Role.OPERATOR, ("acme",)),
    "viewer": ("vera", Role.VIEWER, ("acme",)),
    "beta": ("bea", Role.VIEWER, ("beta",)),  # a viewer of another tenant only
}


def _unavailable(reason: str) -> None:
    if os.environ.get("EDGETWIN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (EDGETWIN_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def ensure_user(data_dir: Path, role: str) -> str:
    """The name of the test user ``role`` (see :data:`USERS`), created with :data:`PASSWORD` in
    ``data_dir``'s identity store if it is not there yet."""
    name, user_role, tenants = USERS[role]
    with IdentityStore(data_dir) as store:
        if store.user(name) is None:
            store.add_user(name, user_role, tenants, PASSWORD)
    return name


def login(page: Page, base_url: str, data_dir: Path, path: str = "/", role: str = "admin") -> None:
    """Log in as the test user ``role`` through the login form and land on ``path``."""
    name = ensure_user(data_dir, role)
    page.goto(f"{base_url}/login?next={quote(path)}")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(base_url + path)


@dataclass
class Stack:
    """A running ``edgetwin up`` on the data dir ``data_dir``."""

    base_url: str
    proc: subprocess.Popen[bytes]
    log: Path
    data_dir: Path
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        headers = bearer(self.data_dir)  # a token is no user: the first start still makes one
        self.http = httpx.Client(base_url=self.base_url, timeout=5.0, headers=headers)

    def login(self, page: Page, path: str = "/", role: str = "admin") -> None:
        """Log ``page`` in as the test user ``role`` and open ``path``."""
        login(page, self.base_url, self.data_dir, path, role)

    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, **params: Any) -> Any:
        response = self.http.post(path, params=params)
        response.raise_for_status()
        return response.json()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text("utf-8", "replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_for(self, what: str, check: Any, timeout: float) -> Any:
        """Poll ``check()`` until it returns something truthy; fail with the stack's log."""
        end = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"edgetwin up exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                result = check()
                if result:
                    return result
            except httpx.HTTPError as exc:
                last_error = exc
            time.sleep(0.3)
        pytest.fail(f"timed out waiting for {what} (last error: {last_error}):\n{self.log_tail()}")


def _clean_env() -> dict[str, str]:
    """The environment without EDGETWIN_* settings, so the stack uses exactly our flags."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _command() -> list[str]:
    script = Path(sys.executable).with_name("edgetwin")
    return [str(script)] if script.exists() else [sys.executable, "-m", "edgetwin"]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so the page fixture can screenshot failures."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing; install Debian's 'chromium' (make chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def running_up(data_dir: Path, **env: str) -> Iterator[Stack]:
    """``edgetwin up`` on free ports with ``env`` added, once it answers; stopped afterwards the
    way a person stops it (SIGINT: the supervisor stops its parts in order)."""
    http_port, mqtt_port = _free_ports(2)
    log = data_dir / "up.log"
    data = data_dir / "data"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*_command(), "up", "--http-port", str(http_port), "--mqtt-port", str(mqtt_port),
             "--data-dir", str(data)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**_clean_env(), "EDGETWIN_PACKS": "factory,motor", **env},
            cwd=data_dir,
        )  # fmt: skip
    running = Stack(f"http://127.0.0.1:{http_port}", proc, log, data)
    try:
        running.wait_for("GET /health", lambda: running.http.get("/health").status_code == 200, 60)
        yield running
    finally:
        running.http.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def stack(chromium: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``edgetwin up`` on free ports, once it has stored a few cycles of factory data."""
    with running_up(tmp_path_factory.mktemp("edgetwin")) as running:
        running.wait_for(
            "three cycles of factory data and an edge report",
            lambda: (
                (s := running.get("/api/v1/stats"))["stored"] >= 3 * READINGS_PER_CYCLE
                and s["edges"]
            ),
            30,
        )
        running.wait_for(
            "the simulator's fault report",
            lambda: running.get("/api/v1/faults")["faults"]["bearing_fault"] is not None,
            15,
        )
        yield running


@pytest.fixture
def page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh 1440x900 page; fails the test on any uncaught JavaScript error."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        tab.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


class Dash:
    """Reads what the dashboard shows, by the ``data-testid`` attributes the pages set."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def value(self, testid: str) -> str:
        """The big value of the stat card ``testid``."""
        return self.page.get_by_test_id(testid).locator("[data-role=value]").inner_text().strip()

    def number(self, testid: str) -> float | None:
        """The stat card's value as a number; None while it shows a dash."""
        text = self.value(testid).replace(",", "")
        return float(text) if re.fullmatch(r"-?\d+(\.\d+)?", text) else None

    def chart_points(self, testid: str) -> list[int]:
        """How many points each line of the ECharts chart ``testid`` holds right now."""
        counts: list[int] = self.page.get_by_test_id(testid).evaluate(
            "el => { const c = getElement(el).chart;"
            " return c ? c.getOption().series.map(s => s.data.length) : []; }"
        )
        return counts

    def chart_last_time(self, testid: str) -> float:
        """The newest time (ms) on the chart ``testid``; 0 while it is empty."""
        newest: float = self.page.get_by_test_id(testid).evaluate(
            "el => { const c = getElement(el).chart; if (!c) return 0;"
            " return Math.max(0, ...c.getOption().series.flatMap("
            "s => s.data.length ? [s.data[s.data.length - 1][0]] : [])); }"
        )
        return newest

    def poll(self, what: str, check: Any, timeout: float = 15.0) -> Any:
        """Poll ``check()`` until truthy, without reloading the page."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            result = check()
            if result:
                return result
            self.page.wait_for_timeout(250)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.mouse.move(0, 0)  # no tooltip left open by the last click
        self.page.wait_for_timeout(500)
        # From the top: a full-page shot of a scrolled page draws the fixed header mid-page.
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.fixture
def dash(page: Page) -> Dash:
    return Dash(page)
