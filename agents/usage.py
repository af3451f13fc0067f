"""One usage row per model call, whatever way the call ends.

The gateway fills a `Call` as the call goes and hands it to `record` in a `finally`,
so errors, stops and cut streams are counted as surely as answers.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.dispatch import Signal

from agents import limits, prices
from agents.events import CallContext, Usage
from agents.models import UsageRecord
from agents.tokens import estimate_prompt_tokens, estimate_tokens
from chatsite import db

logger = logging.getLogger(__name__)

# Sent (with `row`) once a call's usage row is written: the app that owns the row's
# conversation may show its new cost, which `agents` cannot do, knowing no such app.
recorded = Signal()


@dataclass
class Call:
    """What is known about one call so far."""

    context: CallContext
    model_requested: str
    messages: list[dict[str, Any]]
    model_served: str = ""
    # The model the current attempt was sent to: what it is priced by.
    model_sent: str = ""
    usage: Usage | None = None
    outcome: str = UsageRecord.Outcome.OK
    error: str = ""
    server_message: str = ""
    server_status: int | None = None
    # The upstream took the request (HTTP 200): from here on it may bill for it.
    accepted: bool = False
    cache_hit: bool = False
    cost_saved: Decimal | None = None
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    # What the call took from budgets and upstream capacity, given back once recorded.
    hold: limits.Hold | None = None
    # What the request sends besides its messages, counted in an estimate.
    tools: list[dict[str, Any]] | None = None
    schema: dict[str, Any] | None = None
    # Usage the server reported for an answer that then failed (not yet priced).
    reported: Usage | None = None
    # Model profiles read ahead in the trip that checked the call's limits, by model
    # name: each used once, by the first request to that model.
    known: dict[str, Any] = field(default_factory=dict)

    @property
    def reached_user(self) -> bool:
        """Whether any of the answer has been handed on (fallback stops here)."""
        return bool(self.text)

    def estimated_usage(self) -> Usage:
        """Tokens for a call that ended before the upstream reported them."""
        if not self.accepted:
            return Usage(0, 0)
        if self.reported is not None:
            return self.reported
        model = self.model_sent or self.model_requested
        prompt = estimate_prompt_tokens(self.messages, model, tools=self.tools, schema=self.schema)
        completion = estimate_tokens("".join(self.reasoning + self.text), model)
        return Usage(prompt, completion, estimated=True)

    def end_attempt(self) -> Call:
        """This attempt as a call of its own, to record once the next model of the
        chain takes over; this call starts afresh for that model."""
        attempt = dataclasses.replace(self, hold=None)
        self.usage = self.reported = None
        self.accepted, self.model_served, self.started = False, "", time.monotonic()
        self.text, self.reasoning = [], []
        return attempt

    async def priced(self, usage: Usage, reported: str = "") -> Usage:
        """`usage` with its cost for the model the request was sent to (see
        agents/prices.py for when the `reported` name counts), kept as this call's."""
        sent = self.model_sent or self.model_requested
        cost = await prices.cost_of(usage, sent, reported)
        self.usage = dataclasses.replace(usage, cost=cost)
        return self.usage


async def record(call: Call) -> UsageRecord | None:
    """Write the call's usage row; a failure to write is logged, never raised."""
    try:
        if call.usage is None and not call.accepted:
            call.usage = Usage(0, 0, cost=Decimal(0))
        elif call.usage is None:
            await call.priced(call.estimated_usage(), call.model_served)
        # The row and its day in one trip to the database thread.
        row = await db.run(UsageRecord.objects.record, **_fields(call))
    except Exception:
        logger.exception("Could not record usage for a %s call", call.context.purpose)
        row = None
    await db.run(limits.release_after, call.hold, row, call.accepted)
    if row is not None:
        await _announce(row)
    return row


async def _announce(row: UsageRecord) -> None:
    for receiver, result in await recorded.asend_robust(sender=UsageRecord, row=row):
        if isinstance(result, Exception):
            logger.warning("A receiver of a usage row failed: %s: %r", receiver, result)


def _fields(call: Call) -> dict[str, Any]:
    usage = call.usage or Usage(0, 0)
    context = call.context
    return {
        "user_id": context.user_id,
        "conversation_id": context.conversation_id,
        "message_id": context.message_id,
        "purpose": context.purpose,
        "model_requested": call.model_requested,
        "model_served": call.model_served,
        "model_sent": call.model_sent or call.model_requested,
        "prompt_tokens": usage.prompt_tokens,
        "cached_tokens": usage.cached_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost": usage.cost,
        "cost_saved": call.cost_saved,
        "latency_ms": int((time.monotonic() - call.started) * 1000),
        "cache_hit": call.cache_hit,
        "estimated": usage.estimated,
        "outcome": call.outcome,
        "error": call.error[:300],
        "server_message": call.server_message[:300],
        "server_status": call.server_status,
        "reasoning_tokens": usage.reasoning_tokens,
    }
