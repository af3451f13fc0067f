"""The pure pieces of the stream reader, alone: events from bytes, tool-call pieces,
reasoning split from the answer wherever the chunks are cut."""

from __future__ import annotations

import pytest

from agents.errors import GatewayError
from agents.wire import ThinkSplitter, ToolCallBuffer, sse_payloads

THOUGHT = "<think>\nStep one; step two.\n</think>\n\nThe answer is <b>42</b>."


def split_at(text: str, cuts: list[int]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    pieces = []
    for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
        pieces += splitter.feed(text[start:end])
    pieces += splitter.flush()
    reasoning = "".join(t for is_reasoning, t in pieces if is_reasoning)
    answer = "".join(t for is_reasoning, t in pieces if not is_reasoning)
    return reasoning, answer


@pytest.mark.parametrize("cut", range(len(THOUGHT) + 1))
def test_think_tags_split_the_same_wherever_the_stream_is_cut(cut):
    assert split_at(THOUGHT, [cut]) == ("\nStep one; step two.\n", "The answer is <b>42</b>.")


def test_think_tags_cut_into_single_characters():
    cuts = list(range(1, len(THOUGHT)))
    assert split_at(THOUGHT, cuts) == ("\nStep one; step two.\n", "The answer is <b>42</b>.")


@pytest.mark.parametrize(
    "text", ["Use <think> tags like this.", "  plain answer", "<thin", "a < b and c > d"]
)
def test_text_without_a_leading_think_tag_is_all_answer(text):
    assert split_at(text, [3]) == ("", text)


def test_reasoning_cut_off_before_its_closing_tag_stays_reasoning():
    assert split_at("<think>still thinking </thi", [9]) == ("still thinking </thi", "")


async def payloads(*chunks: bytes) -> list[dict]:
    async def source():
        for chunk in chunks:
            yield chunk

    return [p async for p in sse_payloads(source())]


async def test_comments_and_empty_data_events_are_skipped_and_done_ends():
    found = await payloads(
        b": keep-alive\n\ndata:\n\ndata: \r\n\r\n",
        b'data: {"a": 1}\n\n',
        b"data: [DONE]\n\n",
        b'data: {"after": "done"}\n\n',
    )
    assert found == [{"a": 1}]


@pytest.mark.parametrize(
    "wire",
    [
        b'error: {"code": 500, "message": "slot unavailable", "type": "server_error"}\n\n',
        b'event: error\ndata: {"message": "slot unavailable"}\n\n',
        b'data: {"error": {"message": "slot unavailable", "code": 500}}\n\n',
        b'data: {"error": "slot unavailable"}\n\n',
    ],
)
async def test_every_shape_of_a_mid_stream_error_carries_the_servers_words(wire):
    with pytest.raises(GatewayError) as caught:
        await payloads(b'data: {"choices": []}\n\n', wire)
    assert caught.value.server_message == "slot unavailable"
    assert caught.value.message == "The model server had an error mid-reply."


async def test_a_broken_event_is_still_a_malformed_reply():
    with pytest.raises(GatewayError, match="malformed"):
        await payloads(b'data: {"choices": [\n\n')


def test_calls_without_index_or_real_ids_are_told_apart():
    buffer = ToolCallBuffer()
    buffer.add({"id": "null", "function": {"name": "calculate", "arguments": '{"expr'}})
    buffer.add({"id": "null", "function": {"arguments": 'ession": "1"}'}})
    buffer.add({"id": "", "function": {"name": "get_date", "arguments": "{}"}})
    first, second = buffer.calls()
    assert (first.name, first.arguments) == ("calculate", '{"expression": "1"}')
    assert (second.name, second.arguments) == ("get_date", "{}")
    assert first.id and second.id and first.id != second.id and "null" not in first.id


def test_provider_extras_on_a_call_are_kept_exactly():
    buffer = ToolCallBuffer()
    extra = {"google": {"thought_signature": "sig=="}}
    buffer.add({"index": 0, "id": "a", "function": {"name": "f"}, "extra_content": extra})
    buffer.add({"index": 0, "function": {"arguments": "{}"}})
    (call,) = buffer.calls()
    assert call.extra == {"extra_content": extra}
