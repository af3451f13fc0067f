"""A streamed answer read at most once per interval once it has begun (agents/pacing.py),
through the SDK's aiohttp client against the wire fake."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re

import pytest

from agents import gateway, pacing
from agents.events import TextDelta, Usage
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

TOKENS = [f"w{i} " for i in range(30)]


@contextlib.asynccontextmanager
async def open_stream():
    """The fake's next answer as the SDK's open response to a streamed request."""
    async with gateway.get_client().chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as response:
        yield response.http_response


async def read(interval: float) -> tuple[bytes, int, int, float]:
    """The whole body, how many reads it took, how many pauses, and how long."""
    loop = asyncio.get_running_loop()
    async with open_stream() as response:
        paced = pacing.PacedBytes(response, interval)
        assert (paced.transport is not None) == (interval > 0)
        chunks, started = [], loop.time()
        async for chunk in paced:
            chunks.append(chunk)
            paced.start()
        return b"".join(chunks), len(chunks), paced.pauses, loop.time() - started


async def test_a_paced_stream_takes_fewer_reads_and_no_byte_differs(fake_upstream):
    fake_upstream.add(Reply(tokens=TOKENS * 2, token_delay=0.01), Reply(tokens=TOKENS * 2))
    body, reads, pauses, elapsed = await read(0.16)
    whole, *_ = await read(0)  # the same answer, read as it arrives
    assert pauses > 0
    # After the first interval (read as it comes, to learn the pace), each read waited
    # for the interval since the one before it.
    assert reads <= elapsed / 0.16 + 0.16 / 0.01 + 2 < len(TOKENS) * 2
    assert undated(body) == undated(whole) and body.count(b"data: ") == len(TOKENS) * 2 + 3


def undated(body: bytes) -> bytes:
    return re.sub(rb'"created": \d+', b"", body)


async def test_an_answer_slower_than_a_few_events_per_interval_is_read_as_it_comes(
    fake_upstream,
):
    # One event per 50 ms is two per 100 ms interval: a pause would save next to nothing.
    fake_upstream.add(Reply(tokens=TOKENS[:6], token_delay=0.05))
    async with open_stream() as response:
        paced = pacing.PacedBytes(response, 0.1)
        async for _chunk in paced:
            paced.start()
    assert paced.pauses == 0


async def test_nothing_waits_before_the_answer_begins(fake_upstream):
    fake_upstream.add(Reply(tokens=TOKENS, token_delay=0.005))
    async with open_stream() as response:
        paced = pacing.PacedBytes(response, 0.08)
        reads = [chunk async for chunk in paced]  # never started
    assert paced.pauses == 0 and len(reads) > 1


async def test_a_connection_goes_back_to_the_pool_reading(fake_upstream):
    fake_upstream.add(Reply(tokens=TOKENS, token_delay=0.005), Reply(text="second answer"))
    async with open_stream() as response:
        first = pacing.transport_of(response)
        paced = pacing.PacedBytes(response, 0.05)
        async for _chunk in paced:
            paced.start()
    assert paced.pauses > 0 and first.is_reading()
    events = await asyncio.wait_for(_events(), timeout=5)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "second answer"


async def test_a_read_stopped_during_a_pause_leaves_the_connection_reading(fake_upstream):
    fake_upstream.add(Reply(tokens=TOKENS * 4, token_delay=0.01))

    async def reader(response) -> None:
        paced = pacing.PacedBytes(response, 0.3)
        async for _chunk in paced:
            paced.start()

    async with open_stream() as response:
        transport = pacing.transport_of(response)
        task = asyncio.create_task(reader(response))
        await asyncio.wait_for(_until_paused(transport), timeout=5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert transport.is_reading() or transport.is_closing()


async def _until_paused(transport) -> None:
    while transport.is_reading():
        await asyncio.sleep(0.005)


async def test_a_paced_chat_gives_the_same_events_as_an_unpaced_one(fake_upstream, settings):
    usage = {"prompt_tokens": 9, "completion_tokens": 30}
    for _ in range(2):
        fake_upstream.add(Reply(tokens=TOKENS, token_delay=0.005, usage=usage))
    settings.LLM_STREAM_READ_INTERVAL = 0.05
    paced = await _events()
    settings.LLM_STREAM_READ_INTERVAL = 0
    unpaced = await _events()
    assert "".join(e.text for e in paced if isinstance(e, TextDelta)) == "".join(TOKENS)
    assert [e for e in paced if not isinstance(e, TextDelta)] == [
        e for e in unpaced if not isinstance(e, TextDelta)
    ]
    assert next(e for e in paced if isinstance(e, Usage)).completion_tokens == 30


async def test_once_the_answer_says_it_ends_the_rest_is_read_as_it_comes(fake_upstream):
    # The gateway says so once it has read a finish reason: the usage chunk and [DONE]
    # after it must not wait for a pause (here the whole answer is "ending" at once).
    fake_upstream.add(Reply(tokens=TOKENS, token_delay=0.005))
    async with open_stream() as response:
        paced = pacing.PacedBytes(response, 0.05, ending=lambda: True)
        async for _chunk in paced:
            paced.start()
    assert paced.pauses == 0


async def test_a_chat_stream_is_read_in_groups_once_it_has_begun(fake_upstream, settings):
    fake_upstream.add(Reply(tokens=TOKENS * 2, token_delay=0.008))
    settings.LLM_STREAM_READ_INTERVAL = 0.16
    loop, arrivals = asyncio.get_running_loop(), []
    async for event in gateway.stream_chat([{"role": "user", "content": "hi"}], model="m"):
        if isinstance(event, TextDelta):
            arrivals.append(loop.time())
    # Tokens read together come out together; each group waited for the interval.
    groups = 1 + sum(b - a > 0.005 for a, b in itertools.pairwise(arrivals))
    assert len(arrivals) == len(TOKENS) * 2
    assert groups <= (arrivals[-1] - arrivals[0]) / 0.16 + 0.16 / 0.008 + 4 < len(TOKENS) * 2


async def _events() -> list:
    messages = [{"role": "user", "content": "hi"}]
    return [e async for e in gateway.stream_chat(messages, model="gpt-4o-mini")]


async def test_the_demo_model_is_read_as_it_arrives(settings):
    settings.LLM_DEMO = True
    async with open_stream() as response:
        assert pacing.transport_of(response) is None
