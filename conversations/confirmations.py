"""Confirming sensitive tool calls: request, decide exactly once, run the approved call.

Everything lives in the database, so a pending confirmation survives a restart and
any process can decide it. A decision counts once: only the UPDATE that moves the row
out of `pending` wins; every other click, tab or replayed message sees its result.
Resuming the turn afterwards is the turn service's part (`conversations.turns`).
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.http import Http404
from django.utils import timezone

from agents import tools
from agents.events import ConfirmationNeeded
from agents.tools import ToolContext
from chatsite import db
from conversations import live, services, tool_turns
from conversations.models import Conversation, Message, ToolConfirmation

REJECTED_RESULT = "The user cancelled this action; it was not carried out."
EXPIRED_RESULT = "Nobody confirmed this action in time; it was not carried out."

Status = ToolConfirmation.Status


def get_confirmation_for_user(
    user, conversation_id: int, confirmation_id: object
) -> ToolConfirmation:
    """The user's confirmation in this conversation, or 404 (missing or someone else's)."""
    conversation = services.get_conversation_for_user(user, conversation_id)
    try:
        return ToolConfirmation.objects.for_user(user).get(
            pk=int(confirmation_id), conversation=conversation
        )
    except (ToolConfirmation.DoesNotExist, TypeError, ValueError):
        raise Http404("No such confirmation.") from None


async def request(
    conversation: Conversation, message: Message, needed: ConfirmationNeeded, *, turn_id: int
) -> ToolConfirmation:
    """Record a sensitive call as pending and show its card in every open tab."""
    confirmation = await db.run(_create, conversation, message, needed)
    await broadcast(conversation.pk, "confirmation.requested", confirmation, turn_id=turn_id)
    return confirmation


def _create(conversation: Conversation, message: Message, needed: ConfirmationNeeded):
    now = timezone.now()
    context = tool_turns.tool_context(conversation)
    tool = _tool_or_none(needed.call.name, context)
    return ToolConfirmation.objects.create(
        owner_id=conversation.owner_id,
        conversation=conversation,
        message=message,
        tool_call_id=needed.call.id,
        tool_name=needed.call.name,
        arguments=needed.arguments,
        summary=_summary(context, needed)[:500],
        server=tool.origin if tool else "",
        may_allow_in_conversation=bool(tool and tool.allow_in_conversation),
        requested_at=now,
        expires_at=now + timedelta(seconds=settings.AGENT_CONFIRMATION_TTL),
    )


def _tool_or_none(name: str, context: ToolContext) -> tools.Tool | None:
    try:
        return tools.resolve(name, context)
    except tools.ToolError:
        return None


def _summary(context: ToolContext, needed: ConfirmationNeeded) -> str:
    tool = _tool_or_none(needed.call.name, context)
    if tool is None:
        return f"Run the tool {needed.call.name}."
    return tool.summary(context, needed.arguments)


def decide_once(
    user,
    conversation_id: int,
    confirmation_id: object,
    approve: bool,
    *,
    allow_in_conversation: bool = False,
) -> tuple[ToolConfirmation, bool]:
    """The owner's decision, counted once: the approved call runs here, exactly once.

    With `allow_in_conversation` (offered only on cards that say so), the winning
    approval also lets the tool run without a card for the rest of this conversation.
    Returns the confirmation as it now stands and whether this decision was the one
    that counted (False: it was decided, or expired, before).
    """
    confirmation = get_confirmation_for_user(user, conversation_id, confirmation_id)
    now = timezone.now()
    pending = ToolConfirmation.objects.pending().filter(pk=confirmation.pk)
    if approve:
        won = pending.filter(expires_at__gt=now).update(
            status=Status.APPROVED, decided_by=user, decided_at=now
        )
    else:
        won = pending.update(
            status=Status.REJECTED, decided_by=user, decided_at=now, result=REJECTED_RESULT
        )
    if won and approve:
        if allow_in_conversation and confirmation.may_allow_in_conversation:
            _allow_in_conversation(confirmation)
        _execute(confirmation)
    elif not won:
        won = _expire(pending.filter(expires_at__lte=now))
    confirmation.refresh_from_db()
    return confirmation, bool(won)


def _allow_in_conversation(confirmation: ToolConfirmation) -> None:
    """The owner's standing permission for this tool in this conversation (their own
    click on their own card: nothing a tool returns can reach here)."""
    context = ToolContext(user=confirmation.owner, conversation_id=confirmation.conversation_id)
    tool = _tool_or_none(confirmation.tool_name, context)
    if tool is not None and tool.allow_in_conversation is not None:
        tool.allow_in_conversation(context)


def _execute(confirmation: ToolConfirmation) -> None:
    """Run an approved call; only the one decision that approved it gets here."""
    context = ToolContext(user=confirmation.owner, conversation_id=confirmation.conversation_id)
    try:
        tool = tools.resolve(confirmation.tool_name, context)
    except tools.ToolError as exc:
        outcome = tools.ToolOutcome(error=str(exc))
    else:
        outcome = tools.call_sync(tool, confirmation.arguments, context)
    ToolConfirmation.objects.filter(pk=confirmation.pk, status=Status.APPROVED).update(
        status=Status.EXECUTED if outcome.ok else Status.FAILED,
        executed_at=timezone.now(),
        result=outcome.for_model,
    )


def _expire(overdue) -> int:
    return overdue.update(status=Status.EXPIRED, result=EXPIRED_RESULT)


def expire_overdue(conversation: Conversation) -> list[ToolConfirmation]:
    """Expire the conversation's overdue confirmations; return those still open. (For a
    conversation `lock_conversation` returned: none waits when it says so.)"""
    if not conversation.waiting:
        return []
    # A card whose message was cleared from the history no longer holds up the chat.
    waiting = list(
        ToolConfirmation.objects.pending().filter(conversation=conversation, message__isnull=False)
    )
    now = timezone.now()
    for confirmation in [c for c in waiting if c.expires_at <= now]:
        waiting.remove(confirmation)  # expired now, or decided elsewhere a moment ago
        if _expire(ToolConfirmation.objects.pending().filter(pk=confirmation.pk)):
            confirmation.refresh_from_db()
            Message.objects.create(
                conversation=conversation,
                role=Message.Role.TOOL,
                tool_call_id=confirmation.tool_call_id,
                tool_name=confirmation.tool_name,
                tool_arguments=json.dumps(confirmation.arguments),
                content=confirmation.result,
            )
    return waiting


async def broadcast(
    conversation_id: int, event_type: str, confirmation: ToolConfirmation, *, turn_id: int | None
) -> None:
    """Show a card (`confirmation.requested`) or its new state (`confirmation.changed`)."""
    await live.broadcast(
        Conversation(pk=conversation_id).group_name,
        {"type": event_type, "turn": turn_id, "confirmation": confirmation.as_event()},
    )
