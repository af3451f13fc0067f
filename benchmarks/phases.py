"""The CPU of each phase of a turn, timed alone: where a reply's milliseconds go.

    .venv/bin/python -m benchmarks.phases                 # 200 repetitions each
    .venv/bin/python -m benchmarks.phases --repeat 500

Runs in one process against a fresh PostgreSQL database (`--database-url` for another),
with production settings, and times each step a streamed turn takes on the server, in
the order a turn takes them, with the thread's own CPU clock (`time.thread_time`, so
waiting for PostgreSQL does not count): the socket's session check, the turn's
transaction, the tool plan, the budget check, pricing, the usage row, the message's
end, the checkpoint, and the frames (the turn-started frame, a delta, the markdown of a
reply). Figures, not assertions: medians in microseconds, and the total per turn.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from benchmarks.upstream import token as _token

ROOT = Path(__file__).resolve().parent.parent


def timed(repeat: int, step: Callable[[int], object]) -> float:
    """Median thread CPU of `step(i)` over `repeat` calls, in microseconds."""
    samples = []
    for i in range(repeat):
        start = time.thread_time()
        step(i)
        samples.append(time.thread_time() - start)
    return statistics.median(samples) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--streams", type=int, default=50, help="streams read at once")
    args = parser.parse_args()

    from benchmarks.streaming import make_database

    database_url = args.database_url or make_database("chat_benchmark_phases")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="chatsite.settings",
        DEBUG="false",
        SECRET_KEY="benchmark-only-secret-key-0123456789-abcdefghijklmnop",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        OPENAI_API_KEY="bench",
        LLM_MODEL="bench",
        LLM_USER_RPM="0",
        LLM_GLOBAL_RPM="0",
        CHAT_MESSAGES_PER_MINUTE="0",
        CHAT_CONVERSATIONS_PER_MINUTE="0",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(args.repeat)
    reading(args.streams)


def reading(streams: int) -> None:
    """The CPU of reading one 100-token stream: the app's reader (the SDK's generic
    POST, then plain JSON events) against the SDK's own typed chunks, `streams` at once
    from the wire fake in another process."""
    import asyncio

    from benchmarks.streaming import free_port, wait_for_port

    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.upstream", "--port", str(port),
         "--ttft", "0.05", "--delay", "0.02", "--tokens", "100"],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}/v1"
        print(f"CPU per stream, {streams} streams at once, 100 tokens each (ms):")
        for name, reader in (
            ("raw SDK, typed chunks", _raw_reader),
            ("the app's reader", _app_reader),
        ):
            asyncio.run(reader(url, 1))  # warm up: imports, connections
            start = time.process_time()
            asyncio.run(reader(url, streams))
            cpu = (time.process_time() - start) / streams * 1000
            print(f"  {name:45s} {cpu:8.1f}")
    finally:
        upstream.terminate()
        upstream.wait(10)


MESSAGES = [{"role": "user", "content": "Benchmark"}]


async def _raw_reader(url: str, streams: int) -> None:
    """The streaming benchmark's own baseline: `streams` raw SDK streams at once."""
    from benchmarks.streaming import run_raw

    await run_raw(url, streams)


async def _app_reader(url: str, streams: int) -> None:
    import asyncio

    from django.test import override_settings

    from agents import gateway
    from agents.events import CallContext
    from agents.usage import Call

    async def one() -> None:
        request = gateway._Request(MESSAGES, "bench", None)
        async for _event in gateway._send(request, Call(CallContext(), "bench", MESSAGES)):
            pass

    with override_settings(OPENAI_BASE_URL=url, LLM_MAX_RETRIES=0):
        await asyncio.gather(*(one() for _ in range(streams)))
        await gateway.get_client().close()


def run(repeat: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.template.loader import render_to_string
    from django.utils.safestring import mark_safe

    from accounts.sessions import still_signed_in
    from agents import limits, prices, profiles
    from agents.events import Usage
    from agents.models import UsageRecord
    from agents.tools import ToolContext
    from conversations import fragments, replies, tool_turns, turns
    from conversations.blocks import StreamedMarkdown
    from conversations.models import Conversation, Message
    from conversations.services import create_conversation
    from mcp_servers import tools as mcp_tools

    user = get_user_model().objects.create_user("phases", password="phases-password")
    session = SessionStore()
    session.update(
        {
            "_auth_user_id": str(user.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": user.get_session_auth_hash(),
        }
    )
    session.create()
    conversations = []
    for _ in range(repeat):
        conversation = create_conversation(user, title="Phases")
        conversation.messages.create(role="user", content="Hello")
        conversation.messages.create(role="assistant", content="Hello! How can I help?")
        conversations.append(conversation)
    started: list = []
    # As the streaming benchmark's upstream writes it (benchmarks/upstream.py).
    reply_text = "".join(_token(i) for i in range(100))
    ended: list = []

    def signed_in() -> bool:
        return still_signed_in(session.session_key, user.pk)

    announced: list[tuple[dict, dict]] = []  # each turn's messages as its first frame has them

    def start_turn(i: int) -> None:
        started.append(
            turns._pending_or_new_turn(user, conversations[i].pk, "Benchmark", signed_in)
        )
        turn = started[-1][1][0]
        announced.append((turn.user_message.as_event(), turn.reply.as_event()))

    def usage_row(i: int) -> None:
        reply = started[i][1][0].reply
        reply.content, reply.status = reply_text, Message.Status.COMPLETE
        ended.append(reply)
        UsageRecord.objects.record(
            user_id=user.pk,
            conversation_id=conversations[i].pk,
            message_id=reply.pk,
            purpose="chat",
            model_requested="bench",
            model_served="bench",
            model_sent="bench",
            prompt_tokens=40,
            completion_tokens=100,
            cost=Decimal("0.0001"),
        )

    def message_end(i: int) -> None:
        turn, reply = started[i][1][0], ended[i]
        replies._save_final(reply, conversations[i].pk, turn.user_message.pk)

    streamed = StreamedMarkdown()  # the reply's blocks, as it rendered them streaming
    for start in range(0, len(reply_text), 60):
        streamed.feed(reply_text[start : start + 60])

    def turn_finished_frame(i: int, *, from_blocks: bool = True) -> None:
        reply = ended[i]
        message = Message.from_event(reply.as_event())
        if from_blocks:
            message.body_html = mark_safe(streamed.final_html(reply.content))
        render_to_string(
            "conversations/_turn_finished.html",
            {"message": message, "conversation": conversations[i], "streaming": False},
        )

    def turn_started_frame(i: int) -> None:
        user_message, reply = announced[i]
        fragments.turn_started(Message.from_event(user_message), Message.from_event(reply), "P")

    def turn_started_by_template(i: int) -> None:
        user_message, reply = announced[i]
        context = {"title": "P", "streaming": True}
        context |= {"user_message": Message.from_event(user_message)}
        context |= {"reply": Message.from_event(reply)}
        render_to_string("conversations/_turn_started.html", context)

    def markdown(i: int) -> None:
        streamed = StreamedMarkdown()
        for start in range(0, len(reply_text), 60):  # about 16 frames of a reply
            streamed.feed(reply_text[start : start + 60])

    usage = Usage(40, 100)
    # (name, step, on a message's path): the session check and the tool plan alone are
    # timed too, but a message runs both inside its turn's transaction.
    steps: list[tuple[str, Callable[[int], object], bool]] = [
        (
            "socket: session check (alone)",
            lambda i: still_signed_in(session.session_key, user.pk),
            False,
        ),
        (
            "turn: tool plan, no MCP server (alone)",
            lambda i: mcp_tools._plan(ToolContext(user=user, conversation_id=conversations[i].pk)),
            False,
        ),
        ("turn: transaction (session, lock, rows, history, tool plan)", start_turn, True),
        ("call: budget check", lambda i: limits.check(user.pk, model="bench", tokens=40), True),
        ("call: model profile", lambda i: profiles.capabilities("bench"), True),
        ("call: price", lambda i: prices.cost_on(usage, "bench", "bench"), True),
        ("call: usage row (and its day)", usage_row, True),
        (
            "reply: checkpoint",
            lambda i: Message.objects.filter(pk=started[i][1][0].reply.pk).update(
                content=reply_text
            ),
            True,
        ),
        ("reply: end (usage lines, costs)", message_end, True),
        ("frame: turn started (built from its template once)", turn_started_frame, True),
        ("frame: turn started, by its template (as before)", turn_started_by_template, False),
        (
            "frame: delta (16 per reply)",
            lambda i: [fragments.delta(i, "tok1 tok2 tok3 ", html="", tail="") for _ in range(16)],
            True,
        ),
        ("frame: markdown of a reply", markdown, True),
        ("frame: turn finished (template, body from the blocks)", turn_finished_frame, True),
        (
            "frame: turn finished, body rendered again (as before)",
            lambda i: turn_finished_frame(i, from_blocks=False),
            False,
        ),
        (
            "tool context (alone)",
            lambda i: tool_turns.tool_context(Conversation(pk=1, owner_id=user.pk)),
            False,
        ),
    ]
    print(f"Median thread CPU per step, {repeat} repetitions (microseconds):")
    total = 0.0
    for name, step, on_path in steps:
        figure = timed(repeat, step)
        total += figure if on_path else 0.0
        print(f"  {name:60s} {figure:8.0f}")
    print(f"  {'total per turn (the steps a message runs)':60s} {total:8.0f}")


if __name__ == "__main__":
    main()
