"""Long conversations: running summaries keep the prompt bounded, against the wire fake
and the real websocket, with the summary written after the reply."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async

# Built first: setting up the ASGI app configures logging, which would otherwise replace
# pytest's log capture in the middle of a test.
import chatsite.asgi  # noqa: F401
from agents.gateway import estimate_prompt_tokens
from agents.prompts import SUMMARY_HEADING, SUMMARY_MARKER
from conversations import replies
from conversations.models import Message, Summary
from tests.conftest import open_socket, receive_until
from tests.fake_upstream import Reply

pytestmark = pytest.mark.django_db(transaction=True)

COMPLETE = "message--assistant message--complete"
FILLER = " ".join(["Some more detail so that every message has a realistic length."] * 2)
FACT = "Please remember that my cat is called Pixel."


def is_summary_request(body: dict[str, Any]) -> bool:
    first = body.get("messages", [{}])[0]
    return str(first.get("content") or "").startswith(SUMMARY_MARKER)


def key_fact_summariser(body: dict[str, Any]) -> Reply | None:
    """A model that summarises like a careful one would: it keeps the facts the user asked
    it to remember (from the previous summary and the new messages) and drops the rest."""
    if not is_summary_request(body):
        return None
    request = body["messages"][-1]["content"]
    facts = re.findall(r"Please remember [^.]*\.", request)
    lines = [f"- {fact}" for fact in dict.fromkeys(facts)] or ["- Small talk only."]
    return Reply(text="Key facts:\n" + "\n".join(lines))


def chat_requests(fake) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r.get("stream")]


def summary_requests(fake) -> list[dict[str, Any]]:
    return [r for r in fake.requests if is_summary_request(r)]


async def background_done() -> None:
    """Wait for the replies and their after-reply work to end (no clock involved)."""
    me, loop = asyncio.current_task(), asyncio.get_running_loop()
    while pending := [t for t in replies.running_tasks() if t is not me and t.get_loop() is loop]:
        await asyncio.gather(*pending, return_exceptions=True)


async def chat(socket, text: str) -> list[str]:
    await socket.send_json_to({"message": text})
    frames = await receive_until(socket, COMPLETE)
    await background_done()
    return frames


def history_tokens(body: dict[str, Any]) -> int:
    """What a prompt carries besides the system prompt and the new message."""
    return estimate_prompt_tokens(body["messages"][1:-1])


async def test_sixty_turns_keep_the_prompt_under_budget_with_the_summary(
    fake_upstream, user, conversation, settings, capsys
):
    settings.CHAT_HISTORY_TOKENS = budget = 600
    fake_upstream.responders.append(key_fact_summariser)
    fake_upstream.default = Reply(text="Understood. " + FILLER)
    socket, _ = await open_socket(user, conversation.pk)
    sent = []
    for turn in range(1, 61):
        text = FACT if turn == 2 else f"Question {turn}: tell me about topic {turn}. {FILLER}"
        sent.append(text)
        await chat(socket, text)
    await socket.disconnect()

    requests = chat_requests(fake_upstream)
    assert len(requests) == 60
    for body, text in zip(requests, sent, strict=True):
        assert body["messages"][0] == {"role": "system", "content": conversation.system_prompt}
        assert body["messages"][-1] == {"role": "user", "content": text}
    summarised = [i for i, body in enumerate(requests) if body["messages"][1]["role"] == "system"]
    first = summarised[0]
    assert summarised == list(range(first, 60))  # once there is a summary, it stays
    for body in requests[first:]:
        assert body["messages"][1]["content"].startswith(SUMMARY_HEADING)
        assert "Key facts:" in body["messages"][1]["content"]
        assert history_tokens(body) <= budget
    last = requests[-1]["messages"]
    assert FACT not in [m["content"] for m in last[2:]]  # turn 2 is no longer verbatim ...
    assert FACT in last[1]["content"]  # ... yet turn 60 still carries it, in the summary
    summaries = [s async for s in Summary.objects.filter(conversation=conversation).complete()]
    assert len(summaries) >= 5
    assert all(s.text.count(FACT) == 1 for s in summaries)  # folded, not concatenated
    # Each fold sends the previous summary along with the new messages.
    assert (
        "Previous summary:\n(none yet)"
        in summary_requests(fake_upstream)[0]["messages"][1]["content"]
    )
    assert "Key facts:" in summary_requests(fake_upstream)[1]["messages"][1]["content"]

    sizes = [estimate_prompt_tokens(body["messages"]) for body in requests]
    unbounded = estimate_prompt_tokens(
        [requests[0]["messages"][0]]
        + [{"content": m.content} async for m in Message.objects.filter(conversation=conversation)]
    )
    assert max(sizes[first:]) < unbounded / 4
    with capsys.disabled():
        print(
            f"\nprompt tokens per turn (budget {budget}): first {sizes[0]}, "
            f"peak {max(sizes)} (turn {sizes.index(max(sizes)) + 1}), last {sizes[-1]}; "
            f"first summary sent on turn {first + 1}; {len(summaries)} summaries; "
            f"without summaries the last prompt would be {unbounded}"
        )


async def test_summary_failure_keeps_the_chat_going_and_is_retried(
    fake_upstream, user, conversation, settings, caplog
):
    settings.CHAT_HISTORY_MAX_MESSAGES = 4
    outcomes = [Reply(status=500, error_message="summariser down")]

    def flaky_summariser(body: dict[str, Any]) -> Reply | None:
        if not is_summary_request(body):
            return None
        return outcomes.pop(0) if outcomes else key_fact_summariser(body)

    fake_upstream.responders.append(flaky_summariser)
    socket, _ = await open_socket(user, conversation.pk)
    await chat(socket, FACT)
    await chat(socket, "Second message.")
    with caplog.at_level(logging.WARNING, logger="conversations.summaries"):
        await chat(socket, "Third message.")  # 6 messages: over the cap, the summary fails
    failed = await Summary.objects.aget(conversation=conversation)
    await chat(socket, "Fourth message.")  # goes on, without a summary; then retried
    await chat(socket, "Fifth message.")
    await socket.disconnect()

    assert failed.status == Summary.Status.FAILED
    assert "The model server had an error." in failed.error
    assert "failed" in caplog.text and str(conversation.pk) in caplog.text
    fourth, fifth = chat_requests(fake_upstream)[3:5]
    assert [m["role"] for m in fourth["messages"]].count("system") == 1
    statuses = [m.status async for m in Message.objects.filter(conversation=conversation)]
    assert statuses == [Message.Status.COMPLETE] * 10
    assert len(summary_requests(fake_upstream)) == 2
    current = await sync_to_async(conversation.summaries.current)()
    assert current is not None and FACT in current.text
    assert fifth["messages"][1]["content"].startswith(SUMMARY_HEADING)
    assert FACT in fifth["messages"][1]["content"]


async def test_summary_runs_after_the_final_frame_and_never_holds_up_the_next_turn(
    fake_upstream, user, conversation, settings
):
    settings.CHAT_HISTORY_MAX_MESSAGES = 1
    release = threading.Event()

    def held_summariser(body: dict[str, Any]) -> Reply | None:
        reply = key_fact_summariser(body)
        if reply is not None:
            reply.wait_for = release
        return reply

    fake_upstream.responders.append(held_summariser)
    socket, _ = await open_socket(user, conversation.pk)
    await socket.send_json_to({"message": FACT})
    frames = await receive_until(socket, COMPLETE)
    await socket.send_json_to({"message": "Next turn while the summary is being written."})
    frames += await receive_until(socket, COMPLETE)  # the whole next reply, summary held
    release.set()
    frames += await receive_until(socket, "summary-marker")
    await background_done()
    await socket.disconnect()

    kinds = [
        "summary" if "summary-marker" in f else "final" if COMPLETE in f else "" for f in frames
    ]
    kinds = [k for k in kinds if k]
    assert kinds == ["final", "final", "summary"]
    second_turn = chat_requests(fake_upstream)[1]
    assert [m["role"] for m in second_turn["messages"]].count("system") == 1
    assert FACT in frames[-1]
    # Two folds raced for the same range; only one summary was kept.
    assert await Summary.objects.filter(conversation=conversation).complete().acount() == 1


async def test_tool_messages_in_the_folded_range_are_summarised_too(
    fake_upstream, user, conversation, settings
):
    settings.CHAT_HISTORY_MAX_MESSAGES = 2
    fake_upstream.responders.append(key_fact_summariser)
    await conversation.messages.acreate(role="user", content="What is 17 times 23?")
    await conversation.messages.acreate(role="tool", content="calculate returned 391")
    socket, _ = await open_socket(user, conversation.pk)
    await chat(socket, "And the date?")
    await socket.disconnect()

    (request,) = summary_requests(fake_upstream)
    folded = request["messages"][1]["content"]
    assert "User: What is 17 times 23?" in folded
    assert "Tool: calculate returned 391" in folded


async def test_summary_call_is_made_with_the_conversations_model(
    fake_upstream, user, conversation, settings
):
    settings.CHAT_HISTORY_MAX_MESSAGES = 1
    fake_upstream.responders.append(key_fact_summariser)
    socket, _ = await open_socket(user, conversation.pk)
    await chat(socket, FACT)
    await socket.disconnect()

    (request,) = summary_requests(fake_upstream)
    summary = await Summary.objects.aget(conversation=conversation)
    assert request["model"] == conversation.model == summary.model
    assert not request.get("stream")
    assert summary.prompt_tokens and summary.completion_tokens and summary.tokens
    assert summary.up_to_message_id == (await conversation.messages.afirst()).pk
    assert summary.folded_messages == 1
