"""The gateway against the wire fake: events, tool calls, completions, errors."""

import pytest

from agents import gateway
from agents.errors import GatewayError, StreamCut
from agents.events import Finished, TextDelta, ToolCalls, Usage
from tests.fake_upstream import Reply

# Every call writes a usage row.
pytestmark = pytest.mark.django_db(transaction=True)


async def collect(**kwargs) -> list:
    messages = kwargs.pop("messages", [{"role": "user", "content": "hi"}])
    return [e async for e in gateway.stream_chat(messages, model="gpt-4o-mini", **kwargs)]


async def test_stream_yields_deltas_then_reported_usage_then_finished(fake_upstream):
    fake_upstream.add(Reply(text="a b c", usage={"prompt_tokens": 11, "completion_tokens": 3}))
    events = await collect()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "a b c"
    usage = events[-2]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (11, 3, False)
    assert events[-1] == Finished(model="gpt-4o-mini", finish_reason="stop")


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
async def test_events_cut_anywhere_on_the_wire_arrive_whole(fake_upstream, line_end):
    text = "Grüße aus Köln 👋 — the rest of a longer sentence"
    fake_upstream.add(Reply(text=text, line_end=line_end, write_size=5))
    events = await collect()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    assert isinstance(events[-1], Finished)


async def test_stream_without_usage_chunk_gets_an_estimate(fake_upstream):
    # Ten tokens in o200k (gpt-4o-mini's encoding), as OpenAI's tokenizer page counts it.
    text = "The quick brown fox jumps over the lazy dog."
    fake_upstream.add(Reply(text=text, include_usage=False))
    usage = next(e for e in await collect() if isinstance(e, Usage))
    assert usage.estimated and usage.completion_tokens == 10


async def test_streamed_tool_calls_arrive_whole(fake_upstream):
    calls = [
        {"name": "calculate", "arguments": '{"expression": "17*23"}'},
        {"name": "get_date", "arguments": "{}"},
    ]
    fake_upstream.add(Reply(text="", tool_calls=calls))
    tools = [{"type": "function", "function": {"name": "calculate", "parameters": {}}}]
    events = await collect(tools=tools)
    (found,) = [e for e in events if isinstance(e, ToolCalls)]
    assert [(c.name, c.arguments) for c in found.calls] == [
        ("calculate", '{"expression": "17*23"}'),
        ("get_date", "{}"),
    ]
    assert fake_upstream.requests[0]["tools"] == tools
    assert events[-1].finish_reason == "tool_calls"


async def test_complete_returns_text_and_usage(fake_upstream):
    fake_upstream.add(Reply(text="whole answer"))
    result = await gateway.complete([{"role": "user", "content": "q"}], model="gpt-4o-mini")
    assert result.text == "whole answer"
    assert result.usage.completion_tokens == 2 and not result.usage.estimated
    assert "stream" not in fake_upstream.requests[0]


@pytest.mark.parametrize(
    ("status", "message", "retryable"),
    [
        (401, "The model server rejected the API key.", False),
        (400, "The model server refused the request as invalid.", False),
        (404, "The model server does not know this model.", True),
        (429, "The model server is rate limiting requests; try again shortly.", True),
        (503, "The model server had an error.", True),
    ],
)
async def test_provider_errors_map_to_our_own_type(fake_upstream, status, message, retryable):
    fake_upstream.add(Reply(status=status))
    with pytest.raises(GatewayError) as caught:
        await collect()
    assert (caught.value.message, caught.value.retryable) == (message, retryable)


async def test_cut_stream_raises_stream_cut_after_the_text_it_sent(fake_upstream):
    fake_upstream.add(Reply(text="one two three", cut_after=2))
    seen = []
    with pytest.raises(StreamCut):
        async for event in gateway.stream_chat(
            [{"role": "user", "content": "hi"}], model="gpt-4o-mini"
        ):
            seen.append(event)
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "one two"


async def test_unreachable_server_is_a_clear_error(settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.OPENAI_API_KEY = "sk-test"
    settings.LLM_DEMO = False
    with pytest.raises(GatewayError, match="Could not reach the model server"):
        await collect()


async def test_demo_model_speaks_the_wire_format_through_the_sdk(settings):
    assert settings.LLM_DEMO
    events = await collect(messages=[{"role": "user", "content": "hello"}])
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text.startswith("**Demo model (offline).**")
    assert isinstance(events[-2], Usage) and not events[-2].estimated


def test_each_event_loop_has_its_client_and_closes_it_when_it_ends(fake_upstream):
    """A command's or a test's loop ends right after its call: its client (an aiohttp
    session by default) is closed with it, not left to log an error when collected."""
    import asyncio

    async def clients() -> tuple:
        first = gateway.get_client()
        await asyncio.sleep(0)
        return first, gateway.get_client()

    first, again = asyncio.run(clients())
    assert first is again
    assert first.is_closed()
    other, _ = asyncio.run(clients())
    assert other is not first and other.is_closed()
