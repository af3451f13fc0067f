"""The usage ledger audited call by call against the wire fake's own log of what it
served: one scenario per purpose and per ending, then every row held against the
fake (count, tokens, model, cost to the cent fraction), the users' usage lines and
the admin's totals held against the rows, and `usage_check` run over it all.

The fake counts prompt tokens as a server does (`rendered_prompt_tokens`: the request
rendered as the model reads it, tool definitions as OpenAI's TypeScript namespace,
counted with o200k), so an estimate can be held against its count.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.template.loader import render_to_string
from django.test import Client

from agents import gateway, structured, tools
from agents.errors import GatewayError, InvalidOutput
from agents.events import CallContext, TextDelta
from agents.models import ModelPrice, UsageRecord
from conversations import export, replies
from conversations.models import Conversation, Message, ToolConfirmation
from conversations.services import create_conversation
from tests.fake_upstream import Reply, rendered_prompt_tokens
from tests.test_turn_doors import SseDoor, call

pytestmark = pytest.mark.django_db(transaction=True)

MILLION = Decimal(1_000_000)
# USD per 1M tokens: input, cached input, output.
PRICES = {
    "gpt-4o-mini": (Decimal("0.15"), Decimal("0.075"), Decimal("0.60")),
    "gpt-4o": (Decimal("2.50"), Decimal("1.25"), Decimal("10.00")),
}
LONG = [f"w{i} " for i in range(40)]


@pytest.fixture(autouse=True)
def prices(transactional_db):
    for model, (prompt, cached, completion) in PRICES.items():
        ModelPrice.objects.create(
            model=model,
            valid_from="2024-01-01",
            input_per_million=prompt,
            cached_input_per_million=cached,
            output_per_million=completion,
        )


@pytest.fixture
def fake(fake_upstream, settings):
    fake_upstream.count_prompt = rendered_prompt_tokens
    settings.LLM_FALLBACK_MODELS = []
    return fake_upstream


def expected_cost(model: str, prompt: int, cached: int, completion: int) -> Decimal:
    """The price list applied by hand, apart from the app's own pricing code."""
    unit, cached_unit, out = PRICES[model]
    return ((prompt - cached) * unit + cached * cached_unit + completion * out) / MILLION


class Audit:
    """Runs scenarios, noting which rows and which of the fake's requests each made."""

    def __init__(self, fake, user, conversation) -> None:
        self.fake, self.user, self.conversation = fake, user, conversation
        self.table: list[tuple[str, int, int]] = []  # scenario, requests served, rows

    def context(self, purpose: str = "chat") -> CallContext:
        return CallContext(purpose, self.user.pk, self.conversation.pk, bypass_cache=False)

    async def run(self, name: str, scenario) -> None:
        served, rows = len(self.fake.served), await UsageRecord.objects.acount()
        with contextlib.suppress(GatewayError):  # the ending; its row is what is audited
            await scenario()
        await _settle()
        self.table.append(
            (name, len(self.fake.served) - served, await UsageRecord.objects.acount() - rows)
        )


async def _settle() -> None:
    """Wait for replies and after-reply work (titles, classification, summaries)."""
    while running := replies.running_tasks():
        await asyncio.gather(*running, return_exceptions=True)


async def _stream(audit: Audit, stop_after_first: bool = False) -> None:
    events = gateway.stream_chat(
        HELLO, model="gpt-4o-mini", context=audit.context(), tools=tools.schemas()
    )
    async for event in events:
        if stop_after_first and isinstance(event, TextDelta):
            break
    await events.aclose()


HELLO = [
    {"role": "system", "content": "You are a helpful assistant. Use tools when they help."},
    {"role": "user", "content": "What is 17*23, and what is the date today?"},
]


async def test_every_accepted_call_is_one_row_with_the_servers_figures(fake, settings, user):
    conversation = await _conversation(user)
    audit = Audit(fake, user, conversation)

    fake.add(Reply(text="Hello there, how can I help?"))
    await audit.run("chat, complete", lambda: _stream(audit))

    fake.add(Reply(tokens=LONG, token_delay=0.05))
    await audit.run("chat, stopped", lambda: _stream(audit, stop_after_first=True))
    stopped = await UsageRecord.objects.order_by("-id").afirst()

    fake.add(Reply(text="never sent", cut_after=0))
    await audit.run("chat, cut before the first token", lambda: _stream(audit))

    fake.add(Reply(text="one two three", cut_after=1))
    await audit.run("chat, cut after the first token", lambda: _stream(audit))

    fake.add(Reply(text="one two three", garble_after=2))
    await audit.run("chat, failed mid-reply", lambda: _stream(audit))

    fake.add(Reply(status=400, error_message="Unsupported parameter"))
    await audit.run("chat, refused", lambda: _stream(audit))

    settings.LLM_FALLBACK_MODELS = ["gpt-4o"]
    fake.add(Reply(text="lost", cut_after=0), Reply(text="Served by the fallback."))
    await audit.run("chat, fallback after a cut", lambda: _stream(audit))
    settings.LLM_FALLBACK_MODELS = []

    settings.LLM_CACHE_TTL = 60
    fake.add(Reply(text="Cached answer."))

    async def twice() -> None:
        for _ in range(2):
            await gateway.complete(HELLO, model="gpt-4o-mini", context=audit.context())

    await audit.run("chat, then a cache hit", twice)
    settings.LLM_CACHE_TTL = 0

    invalid = {"category": "billing", "confidence": 1.7, "reasoning": "Invoice."}
    cached_usage = {
        "prompt_tokens": 290,
        "completion_tokens": 20,
        "total_tokens": 310,
        "prompt_tokens_details": {"cached_tokens": 233},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    fake.add_structured(Reply.structured(invalid, usage=cached_usage))

    async def classify() -> None:
        with pytest.raises(InvalidOutput):
            await structured.classify(
                "my invoice", model="gpt-4o-mini", context=audit.context("classify")
            )

    await audit.run("classify, invalid structured answer", classify)

    fake.add_structured(Reply.structured({"contacts": [{"name": "Ada", "email": "a@x.io"}]}))
    await audit.run(
        "extract",
        lambda: structured.extract_contacts(
            "Ada, a@x.io", model="gpt-4o-mini", context=audit.context("extract")
        ),
    )

    fake.add(Reply(text="A short title"))
    await audit.run(
        "title",
        lambda: gateway.complete(HELLO, model="gpt-4o-mini", context=audit.context("title")),
    )

    fake.add(Reply(text="They asked for arithmetic.", model="gpt-4o-mini-2024-07-18"))
    await audit.run(
        "summary (dated model served)",
        lambda: gateway.complete(HELLO, model="gpt-4o-mini", context=audit.context("summary")),
    )

    # A door: a two-round tool turn over SSE (the conversation's first: classified after).
    fake.add(
        Reply(text="Working it out.", tool_calls=[call("calculate", expression="17*23")]),
        Reply(text="It is 391."),
    )
    good = {"category": "technical", "confidence": 0.9, "reasoning": "Maths."}
    fake.add_structured(Reply.structured(good))
    sse = SseDoor(user, conversation)
    seen: dict = {}

    async def tool_turn() -> None:
        seen["tool turn"] = (await sse.send("what is 17*23", until="")).usage  # type: ignore[attr-defined]

    await audit.run("SSE turn, two tool rounds, then classify", tool_turn)

    # The same door: a turn paused for a confirmation, then resumed by the decision.
    pay = call("make_payment", recipient="Alice", amount="5", currency="EUR", memo="lunch")
    fake.add(Reply(text="I will pay Alice.", tool_calls=[pay]), Reply(text="Paid Alice."))

    async def paused() -> None:
        seen["paused"] = (await sse.send("pay Alice 5 EUR", until="")).usage  # type: ignore[attr-defined]

    await audit.run("SSE turn paused for a confirmation", paused)

    async def resumed() -> None:
        card = await ToolConfirmation.objects.aget(status="pending")
        seen["resumed"] = (await sse.decide(card.pk, True, until="")).usage  # type: ignore[attr-defined]

    await audit.run("resumed after confirmation", resumed)
    assert seen["paused"]["status"] == "waiting" and seen["resumed"]["status"] == "complete"
    # The resumed turn's line sums both its rounds: the one that asked and the one after.
    assert seen["resumed"]["rounds"] == 2

    rows = [r async for r in UsageRecord.objects.filter(cache_hit=False).order_by("id")]
    matches = _audit_rows(rows, fake.served)
    _print_table(audit.table, len(fake.served), len(rows), matches)
    assert matches == len(rows) == len(fake.served)
    for name, served, recorded in audit.table:
        extra = 1 if "cache hit" in name else 0  # the hit is a row the upstream never saw
        assert recorded == served + extra, name

    # The stopped call sent the tool schemas: its estimate is near the fake's count.
    stopped_served = fake.served[1]
    assert stopped.estimated and stopped.outcome == "stopped"
    assert abs(stopped.prompt_tokens - stopped_served.prompt_tokens) <= (
        stopped_served.prompt_tokens * 0.25
    )
    assert stopped.model_served == "gpt-4o-mini"

    hit = await UsageRecord.objects.aget(cache_hit=True)
    original = await UsageRecord.objects.filter(id__lt=hit.pk).order_by("-id").afirst()
    assert (hit.cost, hit.cost_saved) == (0, original.cost)

    await _assert_lines_equal_rows(conversation, seen["tool turn"])
    await asyncio.to_thread(_assert_admin_totals_equal, user, fake.served)
    await asyncio.to_thread(_assert_reconciled)


async def _conversation(user) -> Conversation:
    return await asyncio.to_thread(create_conversation, user, model="gpt-4o-mini")


def _audit_rows(rows: list[UsageRecord], served: list) -> int:
    """How many rows match the fake's entry for the same request, in order."""
    matches = 0
    for row, entry in zip(rows, served, strict=False):
        assert row.model_served == entry.model, (row.pk, row.model_served, entry.model)
        if entry.status != 200:
            assert (row.outcome, row.prompt_tokens, row.completion_tokens) == ("error", 0, 0)
            assert row.cost == 0
        elif entry.usage is not None:
            usage = entry.usage
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
            figures = (usage["prompt_tokens"], cached, usage["completion_tokens"])
            assert (row.prompt_tokens, row.cached_tokens, row.completion_tokens) == figures
            assert not row.estimated
            model = "gpt-4o" if row.model_sent == "gpt-4o" else "gpt-4o-mini"
            assert row.cost == expected_cost(model, *figures), row.pk
        else:
            assert row.estimated and row.outcome != "ok", row.pk
        matches += 1
    return matches


def _print_table(table, served: int, rows: int, matches: int) -> None:
    print("\nscenario | upstream requests | usage rows")
    for name, requests, recorded in table:
        print(f"{name} | {requests} | {recorded}")
    print(f"total: {served} requests served, {rows} rows (cache hits apart), {matches} match")


async def _assert_lines_equal_rows(conversation: Conversation, sse_usage: dict) -> None:
    """Each assistant message's line shows its rows' sums, marked estimated if any is."""
    messages = [m async for m in Message.objects.filter(role="assistant")]
    assert messages
    for message in messages:
        rows = [r async for r in UsageRecord.objects.filter(message=message)]
        assert rows, message.pk
        assert message.prompt_tokens == sum(r.prompt_tokens for r in rows)
        assert message.completion_tokens == sum(r.completion_tokens for r in rows)
        assert message.cost == sum(r.cost for r in rows)
        line = render_to_string("conversations/_usage.html", {"message": message})
        assert f"{message.prompt_tokens} + {message.completion_tokens} tokens" in line
        assert ("estimated" in line) == any(r.estimated for r in rows)
    chat_rows = UsageRecord.objects.filter(purpose="chat", message__isnull=False).order_by("id")
    tool_turn = [r async for r in chat_rows]
    first_two = tool_turn[:2]
    assert sse_usage["rounds"] == 2
    assert sse_usage["prompt_tokens"] == sum(r.prompt_tokens for r in first_two)
    assert Decimal(sse_usage["cost"]) == sum(r.cost for r in first_two)


def _assert_admin_totals_equal(user, served: list) -> None:
    staff = Client()
    staff.force_login(
        type(user).objects.create_user("boss", password="x", is_staff=True, is_superuser=True)
    )
    response = staff.get("/admin/agents/usagerecord/per-user/export.csv")
    text = b"".join(response.streaming_content).decode()
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert "E-" not in text
    rows = UsageRecord.objects.filter(user=user)
    served_tokens = sum(r.served_tokens for r in rows)
    upstream_tokens = sum(
        e.usage["prompt_tokens"] + e.usage["completion_tokens"] for e in served if e.usage
    )
    estimated = sum(r.served_tokens for r in rows if r.estimated)
    assert int(row["all_requests"]) == rows.count()
    assert int(row["all_tokens"]) == served_tokens == upstream_tokens + estimated
    assert int(row["cache_hit_tokens"]) == sum(r.cache_hit_tokens for r in rows)
    assert Decimal(row["all_cost"]) == sum(r.cost for r in rows)
    print(
        f"admin: {row['all_requests']} calls, {row['all_tokens']} tokens served "
        f"({upstream_tokens} reported by the fake + {estimated} estimated), "
        f"{row['cache_hit_tokens']} cache-hit tokens, ${row['all_cost']}"
    )


def _assert_reconciled() -> None:
    out = io.StringIO()
    call_command("usage_check", stdout=out)
    assert "0 cost difference(s), 0 daily total difference(s)." in out.getvalue()


def test_usage_check_reports_a_tampered_cost_and_day(user):
    UsageRecord.objects.create(
        user=user,
        model_requested="gpt-4o-mini",
        model_served="gpt-4o-mini",
        prompt_tokens=1000,
        completion_tokens=100,
        cost=expected_cost("gpt-4o-mini", 1000, 0, 100),
    )
    call_command("usage_check", stdout=io.StringIO())
    UsageRecord.objects.update(cost=Decimal("1"))
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("usage_check", stdout=out)
    assert "cost 1.000000000000, expected 0.00021" in out.getvalue()
    assert "1 daily total difference(s)" in out.getvalue()


def test_json_export_writes_costs_as_plain_numbers(conversation):
    Message.objects.create(
        conversation=conversation, role="assistant", content="hi", cost=Decimal("0E-8")
    )
    document = json.loads(export.as_json(conversation))
    assert document["messages"][-1]["cost"] == "0.000000000000"


@pytest.mark.django_db
@pytest.mark.parametrize("priced", [True, False])
def test_a_message_end_reads_what_the_ledger_functions_read(conversation, priced):
    """`message_end` (two queries) agrees with the figures read one by one, with the
    turn split by a typed "yes" and a background call among the rows."""
    from conversations import ledger

    def message(role: str) -> Message:
        return Message.objects.create(conversation=conversation, role=role, content="x")

    def row(on: Message, purpose: str = "chat", cost: str | None = "0.000100000001") -> None:
        UsageRecord.objects.create(
            user=conversation.owner,
            conversation=conversation,
            message=on,
            purpose=purpose,
            prompt_tokens=11,
            completion_tokens=7,
            cost=None if cost is None else Decimal(cost),
            estimated=purpose == "title",
        )

    earlier = message("user")
    row(message("assistant"))
    turn = message("user")
    first, second = message("assistant"), message("assistant")
    row(first)
    row(first, cost="0.5" if priced else None)
    row(second, purpose="title")
    typed_yes = message("user")
    resumed = message("assistant")
    row(resumed)
    assert earlier.pk < turn.pk < typed_yes.pk

    for reply, turn_id in ((first, turn.pk), (second, None), (resumed, turn.pk)):
        expected = Message.objects.get(pk=reply.pk)
        ledger.fill_message_usage(expected)
        got = Message.objects.get(pk=reply.pk)
        total, line = ledger.message_end(got, conversation.pk, turn_id)
        fields = ("prompt_tokens", "completion_tokens", "cost", "usage_estimated", "model")
        assert [getattr(got, f) for f in fields] == [getattr(expected, f) for f in fields]
        assert total == UsageRecord.objects.conversation_total(conversation.pk)
        if turn_id is None:
            assert line is None
        else:
            expected_line = ledger.turn_usage(conversation.pk, turn_id)
            # The same amount; SQLite's own SUM may write it with more trailing zeros.
            cost, expected_cost = line.pop("cost"), expected_line.pop("cost")
            assert (cost and Decimal(cost)) == (expected_cost and Decimal(expected_cost))
            assert line == expected_line
            assert line["calls"] == 2 and line["rounds"] == 1  # not the resumed round
