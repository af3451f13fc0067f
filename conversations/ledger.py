"""Usage lines as the ledger has them: a message's and a turn's figures are the sums of
their calls' usage rows, so what a user reads is what staff audit, however a reply
ended (stopped, cut and failed calls have rows too)."""

from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, Subquery, Value
from django.db.models.functions import Coalesce

from agents.models import CONVERSATION_TOTAL, LINE_FIELDS, UsageRecord, line_of
from chatsite.compiled import Compiled
from chatsite.money import plain
from conversations.models import Message


def fill_message_usage(message: Message) -> None:
    """Set `message`'s tokens, cost and estimated flag from its calls' rows, and name
    the model that served it when no answer did; a message without calls is left be."""
    _fill(message, UsageRecord.objects.filter(message_id=message.pk).totals())


def _fill(message: Message, totals: dict[str, Any]) -> None:
    if not totals["calls"]:
        return
    message.prompt_tokens = totals["prompt_tokens"]
    message.completion_tokens = totals["completion_tokens"]
    message.cost, message.usage_estimated = totals["cost"], totals["estimated"]
    if not message.model:
        rows = UsageRecord.objects.filter(message_id=message.pk)
        message.model = rows.order_by("-id").values_list("model_served", flat=True).first()


def turn_usage(conversation_id: int, turn_id: int) -> dict[str, Any]:
    """The whole turn's line: every round's chat calls, rounds resumed after a
    confirmation included; the cost as text (None when unpriced)."""
    rows = UsageRecord.objects.filter(conversation_id=conversation_id)
    return _turn_line(rows.filter(_turn_rows(conversation_id, turn_id)).totals())


def _turn_rows(conversation_id: int, turn_id: int) -> Q:
    """A turn's chat calls: after its user message, before the next user message."""
    next_turn = Message.objects.filter(
        conversation_id=conversation_id, role=Message.Role.USER, pk__gt=turn_id
    ).order_by("pk")
    before_next = Coalesce(Subquery(next_turn.values("pk")[:1]), Value(2**62))
    return Q(purpose="chat", message_id__gt=turn_id, message_id__lt=before_next)


def _turn_line(totals: dict[str, Any]) -> dict[str, Any]:
    totals["cost"] = plain(totals["cost"])
    return totals


def message_end(
    message: Message, conversation_id: int, turn_id: int | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """At the end of a message, in two plain queries: its usage filled in from its rows
    (as `fill_message_usage`), the conversation's cost so far (as
    `UsageRecord.objects.conversation_total`) and, when `turn_id` is given (the turn
    ends), the turn's line (as `turn_usage`). The few rows of the message and the turn
    are added up here: an aggregate with a filter per figure cost more to build in the
    ORM than the query took."""
    if turn_id is None:
        found = _MESSAGE_ROWS.all(conversation_id, message.pk)
    else:
        found = _MESSAGE_AND_TURN_ROWS.all(conversation_id, message.pk, turn_id)
    _fill(message, line_of([_line_fields(row) for row in found if row.message_id == message.pk]))
    turn = None
    if turn_id is not None:
        turn = _turn_line(line_of([_line_fields(row) for row in found if row.in_turn]))
    total = UsageRecord.objects.filter(conversation_id=conversation_id).aggregate(
        **CONVERSATION_TOTAL
    )
    return total, turn


def _line_fields(row: UsageRecord) -> tuple:
    return tuple(getattr(row, name) for name in LINE_FIELDS)


def _rows_of_message(conversation_id: int, message_id: int):
    rows = UsageRecord.objects.filter(conversation_id=conversation_id, message_id=message_id)
    return rows.annotate(in_turn=Value(False)).only(*LINE_FIELDS)


def _rows_of_message_and_turn(conversation_id: int, message_id: int, turn_id: int):
    in_turn = _turn_rows(conversation_id, turn_id)
    rows = UsageRecord.objects.filter(conversation_id=conversation_id)
    rows = rows.filter(Q(message_id=message_id) | in_turn)
    return rows.annotate(in_turn=ExpressionWrapper(in_turn, output_field=BooleanField())).only(
        *LINE_FIELDS
    )


# Read at the end of every message: their SQL is built once (chatsite/compiled.py).
_MESSAGE_ROWS = Compiled(_rows_of_message, ["int", "int"])
_MESSAGE_AND_TURN_ROWS = Compiled(_rows_of_message_and_turn, ["int", "int", "int"])
