"""A live Daphne server (a real process, real websockets) and Chromium via Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fake_upstream import FakeUpstream

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "browser-test-password"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required in CI and was not found at {CHROMIUM}")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout


def start_server(tmp: Path, upstream_url: str | None, port: int | None = None) -> LiveServer:
    """Migrate a fresh SQLite file and start Daphne on production settings."""
    port = port or free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DEBUG": "false",
        "SECRET_KEY": "browser-tests-secret-key-0123456789-abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "STATIC_ROOT": str(tmp / "static"),
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        "OPENAI_BASE_URL": upstream_url or "",
        "OPENAI_API_KEY": "sk-browser-test" if upstream_url else "",
        "LLM_MODEL": "gpt-4o-mini" if upstream_url else "demo",
        "LLM_MAX_RETRIES": "0",
        "LLM_DEMO_TOKEN_DELAY": "0.01",
        "CHAT_CHECKPOINT_INTERVAL": "0.3",
        "REDIS_URL": "",
        "LLM_CACHE_TTL": "0",
        "LLM_USER_RPM": "1000",
        # One account logs in, starts conversations and sends messages test after test.
        "LOGIN_RATE": "",
        "LOGIN_RATE_PER_IP": "",
        "CHAT_MESSAGES_PER_MINUTE": "0",
        "CHAT_CONVERSATIONS_PER_MINUTE": "0",
    }
    server = LiveServer(f"http://127.0.0.1:{port}", None, env)  # type: ignore[arg-type]
    if not (tmp / "db.sqlite3").exists():
        server.manage("migrate", "--noinput")
        server.manage("collectstatic", "--noinput")
        for name in ("alice", "mallory"):
            subprocess.run(
                [sys.executable, "manage.py", "createsuperuser", "--noinput",
                 "--username", name, "--email", f"{name}@example.com"],
                cwd=ROOT, env=env | {"DJANGO_SUPERUSER_PASSWORD": PASSWORD}, check=True,
                capture_output=True,
            )  # fmt: skip
    log = open(tmp / f"daphne-{port}.log", "ab")  # noqa: SIM115 - lives as long as the server
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    server.process = subprocess.Popen(
        [*command, "chatsite.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, server.process)
    return server


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("Daphne exited before it listened")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"Daphne did not listen on {port}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def browser_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def daphne_server(tmp_path_factory, browser_upstream, chromium_path) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("live"), browser_upstream.url)
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory, chromium_path) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("demo"), None)
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def upstream(browser_upstream) -> FakeUpstream:
    browser_upstream.script.clear()
    browser_upstream.structured_script.clear()
    browser_upstream.structured_log.clear()
    browser_upstream.requests.clear()
    browser_upstream.responders.clear()
    return browser_upstream


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15000)
    refused: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
    yield page
    context.close()
    assert not refused, f"The page broke its Content-Security-Policy: {refused}"


def log_in(page, server: LiveServer, username: str = "alice") -> None:
    page.goto(f"{server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server.url}/")


def new_conversation(page) -> None:
    button = page.get_by_role("button", name="New conversation")
    if not button.is_visible():  # a phone: the sidebar is off-canvas until opened
        page.get_by_role("button", name="Conversations", exact=True).click()
    button.click()
    page.wait_for_url("**/conversations/*/")
    page.wait_for_function("() => document.querySelector('#message-input') !== null")


def open_menu(scope, name: str) -> None:
    """Open a menu (a <details> whose summary is an icon with a hidden name)."""
    scope.locator("summary", has_text=name).first.click()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, animations="disabled")
