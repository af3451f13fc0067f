"""Usage lines as the ledger has them: a message's and a turn's figures are the sums of
their calls' usage rows, so what a user reads is what staff audit, however a reply
ended (stopped, cut and failed calls have rows too)."""

from __future__ import annotations

from typing import Any

from agents.models import UsageRecord
from chatsite.money import plain
from conversations.models import Message


def fill_message_usage(message: Message) -> None:
    """Set `message`'s tokens, cost and estimated flag from its calls' rows, and name
    the model that served it when no answer did; a message without calls is left be."""
    rows = UsageRecord.objects.filter(message_id=message.pk)
    totals = rows.totals()
    if not totals["calls"]:
        return
    message.prompt_tokens = totals["prompt_tokens"]
    message.completion_tokens = totals["completion_tokens"]
    message.cost, message.usage_estimated = totals["cost"], totals["estimated"]
    if not message.model:
        message.model = rows.order_by("-id").values_list("model_served", flat=True).first()


def turn_usage(conversation_id: int, turn_id: int) -> dict[str, Any]:
    """The whole turn's line: every round's chat calls, rounds resumed after a
    confirmation included; the cost as text (None when unpriced)."""
    rows = UsageRecord.objects.filter(
        conversation_id=conversation_id, purpose="chat", message_id__gt=turn_id
    )
    next_turn = (
        Message.objects.filter(
            conversation_id=conversation_id, role=Message.Role.USER, pk__gt=turn_id
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if next_turn is not None:
        rows = rows.filter(message_id__lt=next_turn)
    totals = rows.totals()
    totals["cost"] = plain(totals["cost"])
    return totals
