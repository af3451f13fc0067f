"""The agent loop in a real chat turn: the websocket, the real SDK and the wire fake."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from accounts.models import Profile
from conversations.models import Message
from conversations.services import create_conversation
from tests.conftest import open_socket
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)


def call(name: str, call_id: str = "", **arguments) -> dict[str, str]:
    return {"id": call_id or f"call_{name}", "name": name, "arguments": json.dumps(arguments)}


async def receive_until_done(socket, text: str, timeout: float = 10) -> list[str]:
    """Frames until the final frame of a complete reply containing `text`."""
    frames: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            frames.append(await socket.receive_from(timeout=timeout))
            if "message--complete" in frames[-1] and text in frames[-1]:
                return frames


async def chat(user, conversation, text: str, until: str) -> list[str]:
    socket, connected = await open_socket(user, conversation.pk)
    assert connected
    await socket.send_json_to({"message": text})
    frames = await receive_until_done(socket, until)
    await socket.disconnect()
    return frames


def tool_answers(request: dict) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in request["messages"] if m["role"] == "tool"}


async def saved(conversation) -> list[Message]:
    return [m async for m in Message.objects.filter(conversation=conversation)]


async def test_model_calls_a_tool_then_answers_with_its_result(fake_upstream, user, conversation):
    fake_upstream.add(
        Reply(text="Let me work that out.", tool_calls=[call("calculate", expression="17*23")]),
        Reply(text="17 times 23 is 391.", token_delay=0.01),
    )
    frames = await chat(user, conversation, "what is 17*23", until="391.")

    assert len(fake_upstream.requests) == 2
    first, second = fake_upstream.requests
    assert sorted(t["function"]["name"] for t in first["tools"]) == [
        "calculate",
        "delete_conversation",
        "get_date",
        "make_payment",
        "search",
        "send_email",
    ]
    asked = second["messages"][-2]
    assert asked["role"] == "assistant" and asked["content"] == "Let me work that out."
    assert asked["tool_calls"][0]["function"]["name"] == "calculate"
    assert tool_answers(second) == {"call_calculate": "391"}
    # Text streamed before and after the tool round; the tool shows as its own item.
    assert any("Let" in f and "beforeend" in f for f in frames)
    assert any("message--tool" in f and "calculate" in f and "391" in f for f in frames)
    rows = await saved(conversation)
    assert [(m.role, m.content) for m in rows] == [
        ("user", "what is 17*23"),
        ("assistant", "Let me work that out."),
        ("tool", "391"),
        ("assistant", "17 times 23 is 391."),
    ]
    assert rows[1].tool_calls == [call("calculate", expression="17*23")]
    assert (rows[2].tool_name, rows[2].tool_call_id) == ("calculate", "call_calculate")
    assert all(m.status == Message.Status.COMPLETE for m in rows)


async def test_parallel_tool_calls_in_one_response_are_all_answered(
    fake_upstream, user, conversation
):
    fake_upstream.add(
        Reply(
            text="",
            tool_calls=[
                call("calculate", "a", expression="2**10"),
                call("get_date", "b"),
                call("calculate", "c", expression="(2+3)*4"),
            ],
        ),
        Reply(text="All three done."),
    )
    await chat(user, conversation, "several things", until="All three done.")

    answers = tool_answers(fake_upstream.requests[1])
    assert answers["a"] == "1024" and answers["c"] == "20"
    assert answers["b"].startswith(str((await Message.objects.afirst()).created_at.year))
    tools = [m async for m in Message.objects.filter(role="tool").order_by("id")]
    assert sorted(m.tool_call_id for m in tools) == ["a", "b", "c"]


async def test_loop_runs_several_rounds_until_the_model_answers(fake_upstream, user, conversation):
    fake_upstream.add(
        Reply(text="First.", tool_calls=[call("calculate", "r1", expression="1+1")]),
        Reply(text="Second.", tool_calls=[call("calculate", "r2", expression="2+2")]),
        Reply(text="Third.", tool_calls=[call("calculate", "r3", expression="3+3")]),
        Reply(text="Final answer: 2, 4, 6."),
    )
    await chat(user, conversation, "count up", until="Final answer")

    assert len(fake_upstream.requests) == 4
    assert tool_answers(fake_upstream.requests[3]) == {"r1": "2", "r2": "4", "r3": "6"}
    roles = [m.role for m in await saved(conversation)]
    assert roles == ["user", "assistant", "tool"] * 1 + ["assistant", "tool"] * 2 + ["assistant"]


async def test_round_cap_stops_the_turn_with_a_clear_message(
    fake_upstream, user, conversation, settings
):
    settings.AGENT_MAX_ROUNDS = 3
    fake_upstream.default = Reply(text="Again.", tool_calls=[call("calculate", expression="1")])
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": "loop forever"})
    frames = []
    async with asyncio.timeout(10):
        while "Stopped after 3 rounds" not in "".join(frames[-1:]):
            frames.append(await socket.receive_from())
    await socket.disconnect()

    assert len(fake_upstream.requests) == 3
    rows = await saved(conversation)
    last_reply = [m for m in rows if m.role == "assistant"][-1]
    assert last_reply.error == "Stopped after 3 rounds of tool calls without an answer."
    assert last_reply.status == Message.Status.COMPLETE
    # Even the last round's calls are answered, so the history stays valid for the API.
    assert rows[-1].role == "tool" and "limit of tool rounds" in rows[-1].content


async def test_bad_arguments_and_unknown_tools_go_back_to_the_model(
    fake_upstream, user, conversation
):
    fake_upstream.add(
        Reply(
            text="",
            tool_calls=[
                call("calculate", "missing"),
                {"id": "badjson", "name": "calculate", "arguments": "{not json"},
                call("calculate", "wrongtype", expression=12),
                call("calculate", "extra", expression="1", power="max"),
                call("launch_rockets", "unknown", target="moon"),
                call("calculate", "zero", expression="1/0"),
            ],
        ),
        Reply(text="Sorry about those."),
    )
    await chat(user, conversation, "break things", until="Sorry about those.")

    answers = tool_answers(fake_upstream.requests[1])
    assert answers == {
        "missing": "Error: Missing argument: expression.",
        "badjson": answers["badjson"],
        "wrongtype": "Error: Argument 'expression': Input should be a valid string.",
        "extra": "Error: Unknown argument: power.",
        "unknown": "Error: There is no tool named 'launch_rockets'.",
        "zero": "Error: Division by zero.",
    }
    assert answers["badjson"].startswith("Error: The arguments are not valid JSON")


async def test_a_tool_that_raises_is_reported_to_the_model_not_a_crash(
    fake_upstream, user, conversation
):
    # A time zone that no longer exists makes get_date raise inside the tool.
    await Profile.objects.aupdate_or_create(user=user, defaults={"time_zone": "Mars/Olympus"})
    fake_upstream.add(
        Reply(text="", tool_calls=[call("get_date")]), Reply(text="I could not tell the date.")
    )
    await chat(user, conversation, "what's the date", until="could not tell")

    assert tool_answers(fake_upstream.requests[1]) == {
        "call_get_date": "Error: the tool get_date failed (ZoneInfoNotFoundError)."
    }


async def test_next_turn_sends_earlier_tool_calls_and_results_in_order(
    fake_upstream, user, conversation
):
    fake_upstream.add(
        Reply(text="Checking.", tool_calls=[call("calculate", expression="6*7")]),
        Reply(text="It is 42."),
        Reply(text="You are welcome."),
    )
    await chat(user, conversation, "6*7?", until="It is 42.")
    await chat(user, conversation, "thanks", until="You are welcome.")

    sent = fake_upstream.requests[2]["messages"]
    shape = [(m["role"], m.get("content")) for m in sent[1:]]
    assert shape == [
        ("user", "6*7?"),
        ("assistant", "Checking."),
        ("tool", "42"),
        ("assistant", "It is 42."),
        ("user", "thanks"),
    ]
    assert sent[2]["tool_calls"][0]["id"] == sent[3]["tool_call_id"] == "call_calculate"


async def test_tool_items_are_shown_expandable_on_page_load(fake_upstream, user, conversation):
    fake_upstream.add(
        Reply(text="", tool_calls=[call("calculate", expression="17*23")]), Reply(text="It is 391.")
    )
    await chat(user, conversation, "what is 17*23", until="It is 391.")
    client = await sync_to_async(_client_for)(user)
    page = (await sync_to_async(client.get)(conversation.get_absolute_url())).content.decode()

    assert '<details class="tool-item">' in page
    assert '<code class="tool-item__name">calculate</code>' in page
    assert "&quot;expression&quot;: &quot;17*23&quot;" in page


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


async def test_demo_model_calls_calculate_and_answers_in_words(user, settings):
    assert settings.LLM_DEMO
    conversation = await sync_to_async(create_conversation)(user)
    frames = await chat(user, conversation, "what is 17*23", until="391")

    assert any("message--tool" in f and "391" in f for f in frames)
    final = await Message.objects.filter(role="assistant").alast()
    assert "`calculate`: 391" in final.content


async def test_history_cut_mid_round_still_pairs_every_call_with_an_answer(user, conversation):
    """A summary or the budget may cut a round in two; the API still gets valid pairs."""
    from agents.memory import Entry
    from conversations.tool_turns import UNANSWERED, entries_to_prompt

    create = Message.objects.acreate
    orphan = await create(conversation=conversation, role="tool", tool_call_id="old", content="x")
    asked = await create(
        conversation=conversation,
        role="assistant",
        content="",
        tool_calls=[call("calculate", "new", expression="1+1")],
    )
    entries = [Entry(m.pk, m.role, m.content) for m in (orphan, asked)]
    prompt = await sync_to_async(entries_to_prompt)(entries)

    assert [m["role"] for m in prompt] == ["assistant", "tool"]
    assert prompt[1] == {"role": "tool", "tool_call_id": "new", "content": UNANSWERED}
