"""Running summaries of long conversations: what the prompt carries, and folding the
older messages into a new summary after a reply (an after-reply hook, off the hot path).

A failed summary call leaves the previous summary in use; it is logged, kept as a
failed row for the admin, and tried again after the next reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from agents import memory, tokens
from agents.errors import GatewayError
from agents.events import CallContext
from chatsite import db
from chatsite.compiled import Compiled
from conversations import live, tool_turns
from conversations.facts import ReplyFacts
from conversations.models import Conversation, Message, Summary, ToolConfirmation

logger = logging.getLogger(__name__)


def recent_messages(conversation: Conversation, summary: Summary | None):
    """The messages after the summary: sent verbatim. Empty replies carry nothing."""
    after = summary.up_to_message_id if summary else 0
    return (
        conversation.messages.filter(pk__gt=after)
        .exclude(role=Message.Role.ASSISTANT, content="", tool_calls=[])
        .order_by("pk")
    )


def _history(conversation_id: int, after: int, before_id: int):
    rows = recent_messages(Conversation(pk=conversation_id), None).filter(
        pk__gt=after, pk__lt=before_id
    )
    return rows.only("pk", "role", "content", "tool_calls", "tool_call_id")


# Every turn reads these two: their SQL is built once (chatsite/compiled.py).
_CURRENT_SUMMARY = Compiled(
    lambda conversation_id: Summary.objects.filter(
        conversation_id=conversation_id
    ).newest_complete()[:1],
    ["int"],
)
_HISTORY = Compiled(_history, ["int", "int", "int"])


UNREAD = object()  # the current summary is to be read


def history_messages(
    conversation: Conversation, *, before_id: int, summary: Summary | object | None = UNREAD
) -> list[dict]:
    """The running summary (as a second system message) and the recent messages.
    `summary`: the current summary (or None), when the caller has just read it."""
    if summary is UNREAD:
        summary = _CURRENT_SUMMARY.first(conversation.pk)
    messages = [memory.summary_message(summary.text)] if summary else []
    after = summary.up_to_message_id if summary else 0
    # Tool calls and their answers go back with the text (see conversations.tool_turns),
    # read in the same query.
    calls = {}
    recent = []
    for row in _HISTORY.all(conversation.pk, after, before_id):
        recent.append(memory.Entry(row.pk, row.role, row.content))
        calls[row.pk] = (row.tool_calls, row.tool_call_id)
    # Folding normally keeps this under the budget; twice the budget is the hard stop.
    recent = memory.newest_within(recent, 2 * memory.history_budget(conversation.model))
    return messages + tool_turns.entries_to_prompt(recent, calls)


def _entries(messages) -> list[memory.Entry]:
    # Plain tuples: no model instances on the way to the first token.
    return [memory.Entry(*row) for row in messages.values_list("pk", "role", "content")]


def first_protected_message_id(conversation: Conversation) -> int | None:
    """The first message that must stay verbatim, with everything after it.

    Never summarised away: a reply still being written and, once tools ask for
    confirmation, the message a pending confirmation belongs to.
    """
    streaming = conversation.messages.streaming().order_by("pk").first()
    waiting = (
        ToolConfirmation.objects.pending()
        .filter(conversation=conversation, message__isnull=False)
        .order_by("message_id")
        .values_list("message_id", flat=True)
        .first()
    )
    protected = [pk for pk in (streaming.pk if streaming else None, waiting) if pk is not None]
    return min(protected, default=None)


@dataclass(frozen=True)
class FoldPlan:
    """What one summarising step folds: `entries` into the `previous` summary text."""

    conversation: Conversation
    previous: str
    entries: list[memory.Entry]
    after: int  # where the summary being replaced ends (0: there is none)

    @property
    def up_to(self) -> int:
        return self.entries[-1].id


def plan_fold(conversation: Conversation, *, through: int | None = None) -> FoldPlan | None:
    """The messages to fold now (none after message `through`, when given: a turn
    started meanwhile stays whole), or None while the history fits its budget."""
    summary = conversation.summaries.current()
    messages = recent_messages(conversation, summary)
    if through is not None:
        messages = messages.filter(pk__lte=through)
    recent = _entries(messages)
    summary_tokens = summary.tokens if summary else 0
    if not memory.needs_folding(summary_tokens, recent, model=conversation.model):
        return None
    entries = recent[: memory.fold_count(recent, model=conversation.model)]
    protected = first_protected_message_id(conversation)
    if protected is not None:
        entries = [entry for entry in entries if entry.id < protected]
    if not entries:
        return None
    if summary is None:
        return FoldPlan(conversation, "", entries, after=0)
    return FoldPlan(conversation, summary.text, entries, after=summary.up_to_message_id)


def _plan_for(conversation_id: int, reply_id: int) -> FoldPlan | None:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    return plan_fold(conversation, through=reply_id) if conversation else None


@transaction.atomic
def _save_if_current(plan: FoldPlan, **fields: Any) -> Summary | None:
    """Save the new summary unless another fold (or Clear history) changed things
    meanwhile: two replies' hooks may fold the same range at once."""
    # Lock the conversation row so two folds (or a fold and a clear) take turns.
    locked = Conversation.objects.select_for_update().filter(pk=plan.conversation.pk).first()
    if locked is None or not Message.objects.filter(pk=plan.up_to).exists():
        return None
    summary = plan.conversation.summaries.current()
    if (summary.up_to_message_id if summary else 0) != plan.after:
        return None
    return Summary.objects.create(
        conversation=plan.conversation,
        up_to_message_id=plan.up_to,
        folded_messages=len(plan.entries),
        **fields,
    )


async def update_summary(
    conversation_id: int, reply_id: int, facts: ReplyFacts | None = None
) -> None:
    """After-reply hook: fold older messages into the summary when the history is over
    budget. On failure the previous summary stays in use; the next reply retries."""
    if facts is not None and _far_under_budget(facts):
        return
    plan = await db.run(_plan_for, conversation_id, reply_id)
    if plan is None:
        return
    conversation = plan.conversation
    context = CallContext(
        purpose="summary", user_id=conversation.owner_id, conversation_id=conversation.pk
    )
    try:
        result = await memory.summarise(
            plan.previous, plan.entries, model=conversation.model, context=context
        )
    except GatewayError as exc:
        await _record_failure(plan, exc.message)
        return
    if not result.text.strip():
        await _record_failure(plan, "The model returned an empty summary.")
        return
    text = result.text.strip()
    summary = await db.run(
        _save_if_current,
        plan,
        text=text,
        tokens=tokens.estimate_tokens(text),
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
        model=result.model,
    )
    if summary is not None:
        await _announce(conversation, summary)


async def _record_failure(plan: FoldPlan, error: str) -> None:
    logger.warning(
        "Summary of conversation %s up to message %s failed: %s",
        plan.conversation.pk,
        plan.up_to,
        error,
    )
    await db.run(
        Summary.objects.create,
        conversation=plan.conversation,
        status=Summary.Status.FAILED,
        up_to_message_id=plan.up_to,
        folded_messages=len(plan.entries),
        error=error[:500],
    )


async def _announce(conversation: Conversation, summary: Summary) -> None:
    """Move the marker in every open tab to where the new summary ends."""
    event = {"id": summary.pk, "up_to_message_id": summary.up_to_message_id, "text": summary.text}
    await live.broadcast(conversation.group_name, {"type": "summary.updated", "summary": event})


def _far_under_budget(facts: ReplyFacts) -> bool:
    """Whether the history, as the reply's run estimated it, is under half its token
    budget and half its message cap: no need to look at the database to know it fits."""
    return (
        2 * facts.history_tokens < memory.history_budget(facts.model)
        and 2 * facts.history_messages < settings.CHAT_HISTORY_MAX_MESSAGES
    )
