"""Real servers' wire shapes (tests/wire/), replayed byte for byte by the wire fake,
each with what the user gets: the text, tool calls with their arguments, reasoning
apart, notices, the server's own words when it fails."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agents import gateway, loop
from agents.errors import HINT_CONTEXT, EmptyAnswer, GatewayError
from agents.events import (
    CallContext,
    Finished,
    Notice,
    ReasoningDelta,
    TextDelta,
    ToolCalls,
    ToolResult,
    Usage,
)
from agents.models import ModelProfile, UsageRecord
from agents.tools import ToolContext
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

WIRE = Path(__file__).parent / "wire"
HI = [{"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "calculate", "parameters": {}}}]
NO_TOOLS_NOTICE = Notice("This model cannot use tools, so tools are off for it.")


def sample(name: str, **kwargs) -> Reply:
    return Reply.from_wire(WIRE / name, **kwargs)


async def collect(model: str = "gpt-4o-mini", **kwargs) -> list:
    messages = kwargs.pop("messages", HI)
    return [e async for e in gateway.stream_chat(messages, model=model, **kwargs)]


def text_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


def only(events: list, kind: type):
    (found,) = [e for e in events if isinstance(e, kind)]
    return found


async def last_record() -> UsageRecord:
    return await UsageRecord.objects.order_by("-id").afirst()


async def profile(name: str) -> ModelProfile:
    return await ModelProfile.objects.aget(name=name)


@pytest.mark.parametrize("write_size", [None, 7])
async def test_openai_stream_gives_text_and_reported_usage(fake_upstream, write_size):
    fake_upstream.add(sample("openai_stream.sse", write_size=write_size))
    events = await collect()
    assert text_of(events) == "Hello there!"
    usage = only(events, Usage)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (2000, 1000, 1000)
    assert events[-1] == Finished(model="gpt-4o-mini-2024-07-18", finish_reason="stop")


async def test_azure_refusing_stream_options_is_asked_again_without_and_learned(fake_upstream):
    fake_upstream.add(sample("azure_stream_options_refused.json"), sample("azure_stream.sse"))
    events = await collect(model="gpt-4o")
    assert text_of(events) == "Hi from Azure."
    assert only(events, Usage).estimated  # this api-version reports no usage in streams
    first, second = fake_upstream.requests
    assert "stream_options" in first and "stream_options" not in second
    assert second["stream"] is True
    learned = await profile("gpt-4o")
    assert learned.stream_options is False and "Unrecognized request argument" in learned.learned

    fake_upstream.add(sample("azure_stream.sse"))
    await collect(model="gpt-4o")
    assert "stream_options" not in fake_upstream.requests[2]
    assert len(fake_upstream.requests) == 3


async def test_refused_streaming_runs_unstreamed_with_the_same_events(fake_upstream):
    fake_upstream.add(sample("openai_stream_refused.json"), sample("openai_completion.json"))
    events = await collect(model="o3")
    assert text_of(events) == "Paris is the capital of France."
    assert only(events, Usage).reasoning_tokens == 256
    assert events[-1] == Finished(model="o3-2025-04-16", finish_reason="stop")
    assert "stream" not in fake_upstream.requests[1]
    assert (await profile("o3")).streaming is False
    assert (await last_record()).reasoning_tokens == 256


@pytest.mark.parametrize(
    "refusal",
    ["ollama_no_tools.json", "ollama_native_no_tools.json", "vllm_no_auto_tool_choice.json"],
)
async def test_a_model_without_tools_still_chats_and_the_user_is_told(fake_upstream, refusal):
    fake_upstream.add(sample(refusal), Reply(text="Hello without tools."))
    events = await collect(model="gemma2:2b", tools=TOOLS)
    assert text_of(events) == "Hello without tools."
    assert NO_TOOLS_NOTICE in events
    first, second = fake_upstream.requests
    assert first["tools"] == TOOLS and "tools" not in second
    assert (await profile("gemma2:2b")).tools is False

    fake_upstream.add(Reply(text="Again."))
    events = await collect(model="gemma2:2b", tools=TOOLS)
    assert NO_TOOLS_NOTICE in events and "tools" not in fake_upstream.requests[2]


async def test_another_400_is_not_retried_and_its_words_reach_the_user(fake_upstream):
    words = "Invalid 'messages[0].content': string too long."
    fake_upstream.add(Reply(status=400, error_message=words))
    with pytest.raises(GatewayError) as caught:
        await collect(tools=TOOLS)
    assert len(fake_upstream.requests) == 1
    assert caught.value.server_message == words
    assert words in caught.value.display
    assert caught.value.display.startswith("The model server refused the request as invalid.")
    record = await last_record()
    assert (record.server_message, record.server_status) == (words, 400)


async def test_llamacpp_error_event_is_the_servers_message_with_a_hint(fake_upstream):
    fake_upstream.add(sample("llamacpp_error_event.sse"))
    with pytest.raises(GatewayError) as caught:
        await collect(model="qwen3:8b")
    assert "exceeds the available context size" in caught.value.server_message
    assert caught.value.hint == HINT_CONTEXT
    assert not caught.value.retryable
    record = await last_record()
    assert record.outcome == UsageRecord.Outcome.ERROR
    assert "exceeds the available context size" in record.server_message


async def test_think_tags_cut_across_chunks_are_reasoning_not_answer(fake_upstream):
    fake_upstream.add(sample("ollama_think.sse"))
    events = await collect(model="qwen3:8b")
    assert text_of(events) == "Hello! How can I help?"
    assert reasoning_of(events) == "\nThe user greets me; answer briefly.\n"


async def test_think_tags_stay_out_of_an_unstreamed_answer(fake_upstream):
    fake_upstream.add(Reply(text="<think>titles need no thoughts</think>\n\nA short title"))
    result = await gateway.complete(HI, model="qwen3:8b")
    assert result.text == "A short title"


async def test_cached_answer_keeps_no_reasoning(fake_upstream, settings):
    settings.LLM_CACHE_TTL = 60
    context = CallContext(user_id=None, purpose="chat")
    fake_upstream.add(sample("deepseek_reasoner.sse"))
    first = await collect(model="deepseek-reasoner", context=context)
    again = await collect(model="deepseek-reasoner", context=context)
    assert len(fake_upstream.requests) == 1, "the second answer came from the cache"
    assert text_of(again) == text_of(first) == "9.9 is larger."
    assert reasoning_of(again) == ""


async def test_ollama_reasoning_field_is_apart(fake_upstream):
    fake_upstream.add(sample("ollama_reasoning.sse"))
    events = await collect(model="qwen3:8b")
    assert (reasoning_of(events), text_of(events)) == ("Two plus two is four.", "4")


async def test_deepseek_reasoning_content_and_cache_fields(fake_upstream):
    fake_upstream.add(sample("deepseek_reasoner.sse"))
    events = await collect(model="deepseek-reasoner")
    assert (reasoning_of(events), text_of(events)) == ("9.11 < 9.9", "9.9 is larger.")
    usage = only(events, Usage)
    assert (usage.cached_tokens, usage.reasoning_tokens, usage.estimated) == (64, 40, False)


async def test_deepseek_cache_hits_in_its_own_fields_count_as_cached(fake_upstream):
    fake_upstream.add(sample("deepseek_cache_only_fields.sse"))
    usage = only(await collect(model="deepseek-chat"), Usage)
    assert (usage.prompt_tokens, usage.cached_tokens) == (100, 96)


async def test_groq_usage_under_x_groq_is_reported_not_estimated(fake_upstream):
    fake_upstream.add(sample("groq_x_groq_usage.sse"))
    events = await collect(model="llama-3.3-70b-versatile")
    usage = only(events, Usage)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (40, 12, False)
    assert text_of(events) == "Fast answer."


async def test_openrouter_comment_keep_alives_are_skipped(fake_upstream):
    fake_upstream.add(sample("openrouter_keepalive.sse", write_size=11))
    events = await collect(model="openai/gpt-4o-mini")
    assert text_of(events) == "Routed reply."
    usage = only(events, Usage)
    assert (usage.prompt_tokens, usage.completion_tokens) == (9, 2)


async def test_relay_empty_data_events_do_not_break_the_reply(fake_upstream):
    fake_upstream.add(sample("relay_empty_data.sse"))
    events = await collect()
    assert text_of(events) == "Still here."
    assert events[-1].finish_reason == "stop"


@pytest.mark.parametrize(
    ("name", "text", "ending"),
    [
        ("openai_length.sse", "Once upon a time there", "length"),
        ("azure_content_filter.sse", "Here is how", "content_filter"),
    ],
)
async def test_cut_and_filtered_endings_are_told_apart(fake_upstream, name, text, ending):
    fake_upstream.add(sample(name))
    events = await collect()
    assert text_of(events) == text
    assert events[-1].finish_reason == ending


async def test_lmstudio_tool_call_arguments_in_pieces(fake_upstream):
    fake_upstream.add(sample("lmstudio_tool_call.sse"))
    calls = only(await collect(model="qwen2.5-7b-instruct", tools=TOOLS), ToolCalls).calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("365174485", "calculate", '{"expression":"6*7"}')
    ]


async def test_mistral_null_id_does_not_replace_the_real_one(fake_upstream):
    fake_upstream.add(sample("mistral_null_ids.sse"))
    calls = only(await collect(model="mistral-small-latest", tools=TOOLS), ToolCalls).calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("D681PevKs", "calculate", '{"expression": "2**10"}')
    ]


async def test_gemini_parallel_calls_run_and_their_signature_goes_back(fake_upstream, user):
    fake_upstream.add(sample("gemini_parallel_calls.sse"), Reply(text="391, and today."))
    events = [
        e
        async for e in loop.run_agent(
            HI,
            model="gemini-3-flash-preview",
            context=CallContext(user_id=user.pk),
            tool_context=ToolContext(user=user),
        )
    ]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(r.call.id, r.call.name) for r in results] == [
        ("function-call-9131", "calculate"),
        ("function-call-9132", "get_date"),
    ]
    assert results[0].content == "391"
    second = fake_upstream.requests[1]
    sent_back = next(m for m in second["messages"] if m["role"] == "assistant")["tool_calls"]
    assert sent_back[0]["extra_content"] == {
        "google": {"thought_signature": "CiQBcsjafKx9Qm3W0t+Yg=="}
    }
    assert "extra_content" not in sent_back[1]
    answered = [m["tool_call_id"] for m in second["messages"] if m["role"] == "tool"]
    assert answered == ["function-call-9131", "function-call-9132"]
    assert text_of(events) == "391, and today."


async def test_an_answer_that_only_thought_is_an_error_not_an_empty_reply(fake_upstream):
    fake_upstream.add(
        Reply(
            text="<think>nothing to add</think>", usage={"prompt_tokens": 5, "completion_tokens": 7}
        )
    )
    with pytest.raises(EmptyAnswer):
        await collect(model="qwen3:8b")
    record = await last_record()
    assert record.outcome == UsageRecord.Outcome.ERROR
    assert (record.completion_tokens, record.estimated) == (7, False)


async def test_a_failed_call_is_one_log_line_with_the_request_id(fake_upstream, caplog):
    headers = {"x-request-id": "req_abc123"}
    fake_upstream.add(Reply(status=400, error_message="bad thing", headers=headers))
    with caplog.at_level(logging.INFO, logger="agents.gateway"), pytest.raises(GatewayError):
        await collect()
    lines = [r.getMessage() for r in caplog.records if r.name == "agents.gateway"]
    assert len(lines) == 1
    assert "req_abc123" in lines[0] and "bad thing" in lines[0] and "400" in lines[0]


async def test_a_profile_without_parallel_tools_asks_for_one_call_at_a_time(fake_upstream):
    await ModelProfile.objects.acreate(name="gpt-4o-mini", parallel_tools=False)
    fake_upstream.add(Reply(text="ok"))
    await collect(tools=TOOLS)
    assert fake_upstream.requests[0]["parallel_tool_calls"] is False
