"""Two Daphne processes on one PostgreSQL database and one Redis, as in scale-out.

Runs against the real services on 127.0.0.1 (PostgreSQL 5432, Redis 6379). Locally the
tests skip when a service is down; with CI=true they fail instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from tests.browser.conftest import free_port, wait_for_port
from tests.fake_upstream import FakeUpstream, titles

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/7"
PASSWORD = "scale-out-password"


def service_up(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require_services() -> None:
    missing = [
        name for name, port in (("PostgreSQL", 5432), ("Redis", 6379)) if not service_up(port)
    ]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} must run for the scale-out tests in CI")
        pytest.skip(f"{', '.join(missing)} not running on 127.0.0.1")


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the duration; its URL."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    require_services()
    with postgres_database(f"chat_scaleout_{os.getpid()}") as url:
        yield url


@dataclass
class Cluster:
    env: dict[str, str]
    ports: list[int]
    logs: Path  # each process's stderr, kept with the run's temporary files
    processes: list[subprocess.Popen] = field(default_factory=list)

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def start(self, index: int) -> None:
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.ports[index])]
        with (self.logs / f"daphne-{index}.log").open("a") as log:
            process = subprocess.Popen(
                [*command, "chatsite.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        if index < len(self.processes):
            self.processes[index] = process
        else:
            self.processes.append(process)
        wait_for_port(self.ports[index], process)

    def kill(self, index: int) -> None:
        self.processes[index].kill()
        self.processes[index].wait(10)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="session")
def cluster_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def prepared_env(database_url: str, upstream_url: str, static_root: Path) -> dict[str, str]:
    """Production-like settings on `database_url`, migrated, with the user alice."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DEBUG": "false",
        "SECRET_KEY": "scale-out-tests-secret-key-0123456789-abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "OPENAI_BASE_URL": upstream_url,
        "OPENAI_API_KEY": "sk-scale-out",
        "LLM_MODEL": "gpt-4o-mini",
        "LLM_MAX_RETRIES": "0",
        "LLM_CACHE_TTL": "0",
        "CHAT_CHECKPOINT_INTERVAL": "0.3",
        "CHAT_STALE_AFTER": "2",
        "STATIC_ROOT": str(static_root),
        # One account logs in, starts conversations and sends messages many times over.
        "LOGIN_RATE": "",
        "LOGIN_RATE_PER_IP": "",
        "CHAT_MESSAGES_PER_MINUTE": "0",
        "CHAT_CONVERSATIONS_PER_MINUTE": "0",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [*manage, "createsuperuser", "--noinput", "--username=alice", "--email=a@example.org"],
        cwd=ROOT, env=env | {"DJANGO_SUPERUSER_PASSWORD": PASSWORD}, check=True,
        capture_output=True,
    )  # fmt: skip
    return env


@pytest.fixture(scope="session")
def cluster(database_url, cluster_upstream, tmp_path_factory) -> Iterator[Cluster]:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    env = prepared_env(database_url, cluster_upstream.url, tmp_path_factory.mktemp("static"))
    cluster = Cluster(env, [free_port(), free_port()], tmp_path_factory.mktemp("logs"))
    cluster.start(0)
    cluster.start(1)
    yield cluster
    cluster.stop()


@pytest.fixture
def limited_cluster(cluster, tmp_path) -> Iterator[Cluster]:
    """Two more processes on the same data, allowing each user two model requests an
    hour, with no background classification: every request they count is a chat turn."""
    env = cluster.env | {
        "LLM_USER_RPM": "2",
        "LLM_RATE_WINDOW": "3600",
        "CACHE_KEY_PREFIX": f"limited-{tmp_path.name}",
        "CLASSIFY_CONVERSATIONS": "false",
    }
    limited = Cluster(env, [free_port(), free_port()], tmp_path)
    limited.start(0)
    limited.start(1)
    yield limited
    limited.stop()


@pytest.fixture
def upstream(cluster_upstream) -> FakeUpstream:
    cluster_upstream.script.clear()
    cluster_upstream.requests.clear()
    cluster_upstream.responders[:] = [titles("A title")]
    return cluster_upstream


class Browser:
    """A logged-in HTTP client for one server: the cookies a browser tab would carry."""

    def __init__(
        self, base: str, username: str = "alice", password: str = PASSWORD, timeout: float = 10
    ):
        self.base = base
        self.http = httpx2.Client(base_url=base, follow_redirects=False, timeout=timeout)
        page = self.http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = self.http.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        )
        assert response.status_code == 302, response.text

    def csrf_token(self) -> str:
        page = self.http.get("/")
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    def csrf_post(self, path: str, data: dict | None = None) -> httpx2.Response:
        return self.http.post(path, data={**(data or {}), "csrfmiddlewaretoken": self.csrf_token()})

    def new_conversation(self, title: str = "") -> int:
        response = self.csrf_post("/conversations/new/")
        pk = int(re.search(r"/conversations/(\d+)/", response.headers["location"]).group(1))
        if title:  # a conversation named by its user gets no title request later
            assert self.csrf_post(f"/conversations/{pk}/rename/", {"title": title}).is_redirect
        return pk

    @property
    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    @asynccontextmanager
    async def socket(self, conversation_id: int, *, live: bool = True):
        """The conversation's websocket. With `live`, past the server's first frame,
        which says live updates flow (without, a test reads that frame itself)."""
        import websockets

        url = self.base.replace("http://", "ws://") + f"/ws/conversations/{conversation_id}/"
        headers = {"Cookie": self.cookie, "Origin": self.base}
        async with websockets.connect(url, additional_headers=headers) as ws:
            if live:
                assert 'data-live="ok"' in await asyncio.wait_for(ws.recv(), 10)
            yield ws


async def frames_until(ws, marker: str, timeout: float = 15) -> list[str]:
    frames: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                frames.append(await ws.recv())
                if marker in frames[-1]:
                    return frames
    except TimeoutError:
        raise AssertionError(f"no frame with {marker!r} in {[f[:300] for f in frames]}") from None


async def send(ws, **payload) -> None:
    await ws.send(json.dumps(payload))


class RedisServer:
    """A Redis of a test's own on a free port, to kill and restart at will."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port, self.directory = port, directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server must be installed for the Redis outage tests in CI")
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.kill()
