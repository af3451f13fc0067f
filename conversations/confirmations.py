"""Confirming sensitive tool calls: request, decide exactly once, resume the turn.

Everything lives in the database, so a pending confirmation survives a restart and
any process can decide it. A decision counts once: only the UPDATE that moves the row
out of `pending` wins; every other click, tab or replayed message sees its result.
"""

from __future__ import annotations

import json
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from agents import tools
from agents.builtin_tools import describe
from agents.events import ConfirmationNeeded
from agents.tools import ToolContext
from chatsite import db
from conversations import live, services, tool_turns
from conversations.models import Conversation, Message, ToolConfirmation

REJECTED_RESULT = "The user cancelled this action; it was not carried out."
EXPIRED_RESULT = "Nobody confirmed this action in time; it was not carried out."
YES = {"yes", "y", "confirm", "ok", "okay"}
NO = {"no", "n", "cancel"}

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
    conversation: Conversation, message: Message, needed: ConfirmationNeeded
) -> ToolConfirmation:
    """Record a sensitive call as pending and show its card in every open tab."""
    confirmation = await sync_to_async(_create)(conversation, message, needed)
    await _broadcast(conversation.pk, "confirmation.requested", confirmation)
    return confirmation


def _create(conversation: Conversation, message: Message, needed: ConfirmationNeeded):
    now = timezone.now()
    return ToolConfirmation.objects.create(
        owner_id=conversation.owner_id,
        conversation=conversation,
        message=message,
        tool_call_id=needed.call.id,
        tool_name=needed.call.name,
        arguments=needed.arguments,
        summary=describe(
            conversation.owner,
            needed.call.name,
            needed.arguments,
            conversation_id=conversation.pk,
        )[:500],
        requested_at=now,
        expires_at=now + timedelta(seconds=settings.AGENT_CONFIRMATION_TTL),
    )


async def decide(
    user, conversation_id: int, confirmation_id: object, *, approve: bool
) -> ToolConfirmation:
    """The owner's decision: run the tool (or not), tell the model, resume the turn.

    Deciding again, from any tab or process, changes nothing and returns the outcome.
    """
    confirmation, won = await sync_to_async(_decide)(
        user, conversation_id, confirmation_id, approve
    )
    await _broadcast(conversation_id, "confirmation.changed", confirmation)
    if won:
        await _answer_the_call(conversation_id, confirmation)
        await resume(conversation_id, confirmation.message_id)
    return confirmation


def _decide(user, conversation_id: int, confirmation_id: object, approve: bool):
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
        _execute(confirmation)
    elif not won:
        won = _expire(pending.filter(expires_at__lte=now))
    confirmation.refresh_from_db()
    return confirmation, bool(won)


def _execute(confirmation: ToolConfirmation) -> None:
    """Run an approved call; only the one decision that approved it gets here."""
    tool = tools.get_tool(confirmation.tool_name)
    context = ToolContext(user=confirmation.owner, conversation_id=confirmation.conversation_id)
    result = tools.call_sync(tool, confirmation.arguments, context)
    ToolConfirmation.objects.filter(pk=confirmation.pk, status=Status.APPROVED).update(
        status=Status.FAILED if result.startswith("Error:") else Status.EXECUTED,
        executed_at=timezone.now(),
        result=result,
    )


def _expire(overdue) -> int:
    return overdue.update(status=Status.EXPIRED, result=EXPIRED_RESULT)


async def _answer_the_call(conversation_id: int, confirmation: ToolConfirmation) -> None:
    await tool_turns.record_answer(
        conversation_id,
        confirmation.tool_call_id,
        confirmation.tool_name,
        json.dumps(confirmation.arguments),
        confirmation.result,
    )


async def resume(conversation_id: int, message_id: int | None) -> None:
    """Continue the paused turn once none of its calls waits any more (once only)."""
    from conversations import replies

    started = await sync_to_async(_record_resumed_reply)(conversation_id, message_id)
    if started is None:
        return
    conversation, reply, history = started
    await live.broadcast(
        conversation.group_name, {"type": "turn.resumed", "reply": reply.as_event()}
    )
    replies.start_reply(conversation, reply, history)


@transaction.atomic
def _record_resumed_reply(conversation_id: int, message_id: int | None):
    # The row lock makes two last decisions at once start one continuation, not two.
    conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
    if conversation is None or message_id is None:
        return None
    waiting = ToolConfirmation.objects.pending().filter(message_id=message_id).exists()
    answered = conversation.messages.filter(role=Message.Role.ASSISTANT, pk__gt=message_id)
    if waiting or answered.exists() or conversation.messages.streaming().exists():
        return None
    reply = conversation.messages.create(
        role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, model=conversation.model
    )
    return conversation, reply, services.prompt_messages(conversation, before_id=reply.pk)


async def send_message(user, conversation_id: int, text: object) -> None:
    """A message from the composer: a decision while one action waits, else a new turn."""
    text = services.validate_message_text(text)
    pending, started = await db.run(_pending_or_new_turn, user, conversation_id, text)
    if started is not None:
        await services.run_turn(*started)
        return
    approve = _typed_decision(text)
    if approve is None or len(pending) > 1:
        raise ValidationError(
            "An action is waiting for your decision: press Confirm or Cancel"
            + (" (or type yes or no)." if len(pending) == 1 else " on each card.")
        )
    message = await Message.objects.acreate(
        conversation_id=conversation_id, role=Message.Role.USER, content=text
    )
    await tool_turns.broadcast_appended(conversation_id, message)
    await decide(user, conversation_id, pending[0].pk, approve=approve)


def _typed_decision(text: str) -> bool | None:
    word = text.strip().strip(".!").lower()
    return True if word in YES else False if word in NO else None


@transaction.atomic
def _pending_or_new_turn(user, conversation_id: int, text: str):
    """In one trip to the database: the actions still waiting for a decision, or, when
    none waits, the new turn recorded (with the history to send)."""
    conversation = services.lock_conversation(user, conversation_id)
    pending = expire_overdue(conversation)
    if pending:
        return pending, None
    return [], services.record_locked_turn(conversation, text)


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


async def _broadcast(conversation_id: int, event_type: str, confirmation: ToolConfirmation):
    await live.broadcast(
        Conversation(pk=conversation_id).group_name,
        {"type": event_type, "confirmation": confirmation.as_event()},
    )
