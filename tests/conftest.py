from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from tests.fake_upstream import FakeUpstream


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run browser tests last: Playwright's sync API holds an event loop on the main
    thread while its session fixtures live, and async tests cannot run beside it."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path))


@pytest.fixture(autouse=True)
def _forget_background_tasks() -> Iterator[None]:
    """Work a test left running belongs to that test's event loop, closed with it; no
    later test may wait on it."""
    yield
    from conversations import replies

    replies.forget_tasks()


@pytest.fixture
def fake_upstream(settings) -> Iterator[FakeUpstream]:
    """A running OpenAI-compatible fake, with the app pointed at it."""
    fake = FakeUpstream().start()
    settings.OPENAI_BASE_URL = fake.url
    settings.OPENAI_API_KEY = "sk-test"
    settings.LLM_DEMO = False
    settings.LLM_MODEL = "gpt-4o-mini"
    settings.LLM_MODELS = ["gpt-4o-mini", "gpt-4o"]
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Rate-limit counters, cached answers and tables kept in memory (model prices,
    tool servers) never leak from one test to the next, whose rows roll back."""
    from django.core.cache import cache

    from chatsite import snapshots

    cache.clear()
    snapshots.forget_all()
    yield


@pytest.fixture
def make_user(db):
    def make(username: str = "alice", **extra):
        return get_user_model().objects.create_user(username, password="pw-for-tests", **extra)

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def other_user(make_user):
    return make_user("mallory")


@pytest.fixture
def conversation(user, settings):
    from conversations.services import create_conversation

    return create_conversation(user, model=settings.LLM_MODEL)


@pytest.fixture
def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def open_socket(
    user,
    conversation_id: int,
    *,
    origin: str | None = "http://testserver",
    client: Client | None = None,
) -> tuple[WebsocketCommunicator, bool]:
    """Connect to the real ASGI application as `user` (None for anonymous), in the
    session of `client` when given (a new one otherwise)."""
    from chatsite.asgi import application

    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if user is not None:
        if client is None:
            client = Client()
            await sync_to_async(client.force_login)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation_id}/", headers=headers
    )
    connected, _ = await communicator.connect()
    if connected:
        # The server's first frame says live updates flow (the page clears any outage
        # notice with it); the frames a test looks at come after it.
        assert 'data-live="ok"' in await communicator.receive_from()
    return communicator, connected


async def receive_until(
    communicator: WebsocketCommunicator, marker: str, timeout: float = 10
) -> list[str]:
    """Frames received until one contains `marker` (inclusive)."""
    frames: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await communicator.receive_from(timeout=timeout)
            frames.append(frame)
            if marker in frame:
                return frames
