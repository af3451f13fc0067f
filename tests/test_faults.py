"""Faults of the upstream and of the browser: the user's data survives every one."""

import asyncio
import socket

import pytest

from conversations.models import Message
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)


async def reply_of(conversation) -> Message:
    return await Message.objects.filter(conversation=conversation, role="assistant").alast()


async def run_turn(user, conversation, text: str, marker: str) -> list[str]:
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": text})
    frames = await receive_until(socket, marker, timeout=20)
    await socket.disconnect()
    return frames


async def test_429_with_retry_after_is_honoured_before_the_retry(
    fake_upstream, user, conversation, settings
):
    settings.LLM_MAX_RETRIES = 1
    fake_upstream.add(
        Reply(status=429, error_message="Slow down", headers={"Retry-After": "1"}),
        Reply(text="after the wait"),
    )
    await run_turn(user, conversation, "hello", "message--assistant message--complete")

    first, second = fake_upstream.requests[:2]
    assert second["_received_at"] - first["_received_at"] >= 0.9
    assert (await reply_of(conversation)).content == "after the wait"


async def test_repeated_500s_fail_clearly_after_the_retries(
    fake_upstream, user, conversation, settings
):
    settings.LLM_MAX_RETRIES = 2
    fake_upstream.add(*[Reply(status=500, error_message="boom")] * 3)
    await run_turn(user, conversation, "hello?", "message--failed")

    assert len([r for r in fake_upstream.requests if r.get("stream")]) == 3
    reply = await reply_of(conversation)
    assert reply.status == Message.Status.FAILED
    assert reply.error == "The model server had an error. The server said: “boom”"
    assert await Message.objects.filter(conversation=conversation, content="hello?").aexists()


async def test_stall_after_the_first_token_times_out_and_keeps_the_text(
    fake_upstream, user, conversation, settings
):
    settings.LLM_TIMEOUT = 1
    fake_upstream.add(Reply(tokens=["first ", "never"], stall_after=1, stall_seconds=4))
    await run_turn(user, conversation, "stall", "message--failed")

    reply = await reply_of(conversation)
    assert reply.content == "first "
    assert reply.error == "The model stopped sending mid-reply."


async def test_malformed_chunk_fails_the_reply_and_keeps_what_came_before(
    fake_upstream, user, conversation
):
    fake_upstream.add(Reply(tokens=["good ", "words ", "lost"], garble_after=2))
    await run_turn(user, conversation, "garble", "message--failed")

    reply = await reply_of(conversation)
    assert reply.content == "good words "
    assert reply.error == "The model server sent a malformed reply."


async def test_closing_the_tab_mid_reply_lets_the_reply_finish_and_be_saved(
    fake_upstream, user, conversation
):
    fake_upstream.add(Reply(tokens=[f"w{i} " for i in range(40)], token_delay=0.01))
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "go on without me"})
    await receive_until(socket, "w1")
    await socket.disconnect()

    async with asyncio.timeout(10):
        while (await reply_of(conversation)).status == Message.Status.STREAMING:
            await asyncio.sleep(0.05)
    reply = await reply_of(conversation)
    assert reply.status == Message.Status.COMPLETE
    assert reply.content == "".join(f"w{i} " for i in range(40))


def unreachable_redis_cache() -> dict:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    location = f"redis://127.0.0.1:{port}/0"
    return {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}
    }


async def test_with_the_shared_store_down_limits_refuse_clearly_before_any_upstream_call(
    fake_upstream, user, conversation, settings
):
    settings.CACHES = unreachable_redis_cache()
    settings.LLM_USER_RPM = 5
    await run_turn(user, conversation, "counted?", "message--failed")

    reply = await reply_of(conversation)
    assert reply.error.startswith("Usage limits cannot be checked right now")
    assert fake_upstream.requests == []
    assert await Message.objects.filter(conversation=conversation, content="counted?").aexists()


async def test_with_the_shared_store_down_the_response_cache_is_skipped(
    fake_upstream, user, conversation, settings
):
    settings.CACHES = unreachable_redis_cache()
    settings.LLM_USER_RPM = settings.LLM_GLOBAL_RPM = settings.LLM_GLOBAL_TPM = 0
    settings.LLM_CACHE_TTL = 60
    fake_upstream.add(Reply(text="answered without the cache"))
    await run_turn(user, conversation, "cached?", "message--assistant message--complete")

    assert (await reply_of(conversation)).content == "answered without the cache"
    assert len(fake_upstream.requests) == 1
