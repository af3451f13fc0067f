"""The turn service: a chat turn's whole life, the same for every door.

The websocket consumer, the SSE endpoint, the Confirm/Cancel buttons and a typed "yes"
or "no" all call these functions and nothing else to start, pause, resume, restart, stop
or recover a turn. A turn is what answers one user message: every round of tool calls,
a pause while a sensitive action waits for its owner, the resumed rounds after the
decision, and the final answer. Its id is the id of that user message, and every event
of the turn carries it, so a door can follow one turn from start to end.

    door -> turns -> replies (the running task) -> agents.loop -> agents.gateway
         <- channel-layer events (turn.*, message.appended, confirmation.*) <-
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from agents import tools
from agents.tools import ToolContext
from chatsite import db
from conversations import confirmations, editing, live, replies, services, tool_turns
from conversations.models import Conversation, Message, ToolConfirmation

logger = logging.getLogger(__name__)

CONTINUE_PROMPT = "Continue exactly where you stopped, without repeating anything."
YES = {"yes", "y", "confirm", "ok", "okay"}
NO = {"no", "n", "cancel"}


@dataclass(frozen=True, slots=True)
class TurnRef:
    """A turn a door can follow: its events carry `turn_id`. `running` is False when
    the turn still waits for other decisions (nothing streams until they are made)."""

    conversation_id: int
    turn_id: int
    running: bool = True


@dataclass(frozen=True, slots=True)
class Decision:
    """An owner's decision on a confirmation, and the turn it resumed (if it counted)."""

    confirmation: ToolConfirmation
    counted: bool  # False: decided (or expired) before; this decision changed nothing
    turn: TurnRef | None


# Starting turns.


class SignedOut(PermissionDenied):
    """The door's check of its caller failed: nothing was recorded."""


async def send(
    user, conversation_id: int, text: object, *, signed_in: Callable[[], bool] | None = None
) -> TurnRef:
    """A message from a composer (any door): a new turn, or, while an action waits for
    a decision, a typed "yes"/"no" deciding it. Anything else is refused then.

    `signed_in`, when given, is the door's own check that its caller still counts (a
    socket's session): called first in the turn's own trip to the database, one trip
    fewer before the first token; `SignedOut` when it says no.
    """
    text = services.validate_message_text(text)
    pending, started = await db.run(_pending_or_new_turn, user, conversation_id, text, signed_in)
    if started is not None:
        turn, history, tool_context = started
        await _launch(
            turn.conversation,
            turn.reply,
            history,
            turn_id=turn.user_message.pk,
            tool_context=tool_context,
            announce={
                "type": "turn.started",
                "title": turn.conversation.title,
                "user_message": turn.user_message.as_event(),
                "reply": turn.reply.as_event(),
            },
        )
        return TurnRef(conversation_id, turn.user_message.pk)
    return await _typed_decision(user, conversation_id, text, pending)


@transaction.atomic
def _pending_or_new_turn(
    user, conversation_id: int, text: str, signed_in: Callable[[], bool] | None = None
):
    """In one trip to the database: the actions still waiting for a decision, or, when
    none waits, the new turn recorded (with the history to send, and the tools' context
    with what the tool providers read for it)."""
    if signed_in is not None and not signed_in():
        raise SignedOut
    conversation = services.lock_conversation(user, conversation_id)
    pending = confirmations.expire_overdue(conversation)
    if pending:
        return pending, None
    turn, history = services.record_locked_turn(conversation, text)
    return [], (turn, history, tools.prepare(tool_turns.tool_context(conversation)))


async def _typed_decision(
    user, conversation_id: int, text: str, pending: list[ToolConfirmation]
) -> TurnRef:
    word = text.strip().strip(".!").lower()
    approve = True if word in YES else False if word in NO else None
    if approve is None or len(pending) > 1:
        raise ValidationError(
            "An action is waiting for your decision: press Confirm or Cancel"
            + (" (or type yes or no)." if len(pending) == 1 else " on each card.")
        )
    message = await db.run(
        Message.objects.create,
        conversation_id=conversation_id,
        role=Message.Role.USER,
        content=text,
    )
    turn_id = await db.run(_turn_of, pending[0])
    await tool_turns.broadcast_appended(conversation_id, message, turn_id=turn_id)
    decision = await decide(user, conversation_id, pending[0].pk, approve=approve)
    return decision.turn or TurnRef(conversation_id, turn_id, running=False)


async def regenerate(user, conversation_id: int, message_id: object = None) -> TurnRef:
    """Answer the last user message again, bypassing any response cache."""
    return await _restart(user, conversation_id, message_id, text=None)


async def edit(user, conversation_id: int, message_id: object, text: object) -> TurnRef:
    """Replace the last user message's text, then answer it afresh."""
    return await _restart(user, conversation_id, message_id, services.validate_message_text(text))


async def _restart(user, conversation_id: int, message_id: object, text: str | None) -> TurnRef:
    restart, history = await db.run(_record_restart, user, conversation_id, message_id, text)
    await _launch(
        restart.conversation,
        restart.reply,
        history,
        turn_id=restart.user_message.pk,
        announce={
            "type": "turn.restarted",
            "removed_ids": restart.removed_ids,
            "user_message": restart.user_message.as_event(),
            "reply": restart.reply.as_event(),
        },
        bypass_cache=text is None,
    )
    return TurnRef(conversation_id, restart.user_message.pk)


@transaction.atomic
def _record_restart(user, conversation_id: int, message_id: object, text: str | None):
    restart = editing.restart_turn(
        user, conversation_id, message_id=editing.optional_id(message_id), text=text
    )
    services.withdraw_cards(restart.conversation)
    history = services.prompt_messages(restart.conversation, before_id=restart.reply.pk)
    return restart, history


async def continue_reply(user, conversation_id: int, message_id: object) -> TurnRef:
    """Ask the model to go on where its length limit cut the last reply, in the same
    message (the tabs keep what it said and see the rest stream in after it)."""
    conversation, reply, history, turn_id = await db.run(
        _record_continuation, user, conversation_id, editing.optional_id(message_id)
    )
    announce = {"type": "turn.continued", "reply": reply.as_event()}
    await _launch(conversation, reply, history, turn_id=turn_id, announce=announce)
    return TurnRef(conversation_id, turn_id)


@transaction.atomic
def _record_continuation(user, conversation_id: int, message_id: int | None):
    conversation = services.lock_conversation(user, conversation_id)
    if conversation.replying:
        raise ValidationError("Wait for the current reply to finish, or stop it.")
    last = conversation.messages.order_by("-pk").first()
    if last is None or last.pk != message_id or not last.can_continue:
        raise ValidationError("Only the last reply, cut at the length limit, can go on.")
    history = services.prompt_messages(conversation, before_id=last.pk)
    history += [
        {"role": "assistant", "content": last.content},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]
    last.status, last.finish_reason, last.notice = Message.Status.STREAMING, "", ""
    last.updated_at = timezone.now()
    last.save(update_fields=["status", "finish_reason", "notice", "updated_at"])
    return conversation, last, history, _turn_before(conversation.pk, last.pk)


# Pausing and resuming: the owner's decision on a sensitive action.


# A decision as the doors receive it: (approve, allow for the rest of the conversation).
DECISIONS = {"confirm": (True, False), "cancel": (False, False), "allow": (True, True)}


async def decide_as(user, conversation_id: int, confirmation_id: object, choice: object):
    """`decide` with the word a door received: "confirm", "cancel" or "allow"."""
    if choice not in DECISIONS:
        raise ValidationError("The decision must be confirm, cancel or allow.")
    approve, allow = DECISIONS[choice]
    return await decide(
        user, conversation_id, confirmation_id, approve=approve, allow_in_conversation=allow
    )


async def decide(
    user,
    conversation_id: int,
    confirmation_id: object,
    *,
    approve: bool,
    allow_in_conversation: bool = False,
) -> Decision:
    """The owner's decision: run the tool (or not), tell the model, resume the turn once
    no call of its round waits any more. Deciding again changes nothing (`counted`).
    `allow_in_conversation` approves and lets the tool skip its card in this
    conversation from now on (where the card offers that)."""
    confirmation, counted, turn_id = await db.run(
        _decide, user, conversation_id, confirmation_id, approve, allow_in_conversation
    )
    await confirmations.broadcast(
        conversation_id, "confirmation.changed", confirmation, turn_id=turn_id
    )
    if not counted:
        return Decision(confirmation, False, None)
    await tool_turns.record_answer(
        conversation_id,
        confirmation.tool_call_id,
        confirmation.tool_name,
        json.dumps(confirmation.arguments),
        confirmation.result,
        turn_id=turn_id,
    )
    running = await _resume(conversation_id, confirmation.message_id, turn_id)
    return Decision(confirmation, True, TurnRef(conversation_id, turn_id, running))


def _decide(
    user, conversation_id: int, confirmation_id: object, approve: bool, allow: bool = False
):
    confirmation, counted = confirmations.decide_once(
        user, conversation_id, confirmation_id, approve, allow_in_conversation=allow
    )
    return confirmation, counted, _turn_of(confirmation)


def _turn_of(confirmation: ToolConfirmation) -> int:
    """The turn a card belongs to (0 when the message that asked is gone, as after
    clearing the history)."""
    if confirmation.message_id is None:
        return 0
    return _turn_before(confirmation.conversation_id, confirmation.message_id)


def _turn_before(conversation_id: int, message_id: int) -> int:
    """The turn a message belongs to: the last user message before it (0 if none)."""
    earlier = Message.objects.filter(
        conversation_id=conversation_id, role=Message.Role.USER, pk__lt=message_id
    )
    return earlier.order_by("-pk").values_list("pk", flat=True).first() or 0


async def _resume(conversation_id: int, message_id: int | None, turn_id: int) -> bool:
    """Continue the paused turn once none of its calls waits any more (once only)."""
    started = await db.run(_record_resumed_reply, conversation_id, message_id)
    if started is None:
        return False
    conversation, reply, history = started
    announce = {"type": "turn.resumed", "reply": reply.as_event()}
    await _launch(conversation, reply, history, turn_id=turn_id, announce=announce)
    return True


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
    reply = tool_turns.open_reply(conversation)
    return conversation, reply, services.prompt_messages(conversation, before_id=reply.pk)


# Running, stopping, catching up.


async def _launch(
    conversation: Conversation,
    reply: Message,
    history: list[dict],
    *,
    turn_id: int,
    announce: dict,
    bypass_cache: bool = False,
    tool_context: ToolContext | None = None,
) -> None:
    """Show a recorded reply in every open tab, then start generating it."""
    await live.broadcast(conversation.group_name, {**announce, "turn": turn_id})
    options = replies.ReplyOptions.from_settings(bypass_cache=bypass_cache)
    replies.start(
        conversation, reply, history, turn_id=turn_id, options=options, tool_context=tool_context
    )


async def stop(user, conversation_id: int) -> None:
    """Ask the running reply to stop, on whichever process it runs."""
    conversation = await db.run(services.get_conversation_for_user, user, conversation_id)
    if not await live.broadcast(conversation.control_group_name, {"type": "reply.stop"}):
        raise ValidationError("Stop did not reach the reply: live updates are unavailable.")


async def resync(conversation: Conversation, channel: str) -> None:
    """Ask the running reply to send its text so far to the socket `channel` alone (a
    tab has just connected)."""
    event = {"type": "reply.sync", "reply_to": channel}
    await live.broadcast(conversation.control_group_name, event)


# Recovering replies whose process died: one sweeper per process, nothing in the tabs.


def recover_dead_replies(
    conversation_id: int | None = None,
    *,
    stale_after: float | None = None,
    alive: frozenset[int] = frozenset(),
) -> list[Message]:
    """Mark replies left streaming by a dead process as interrupted, keeping their text.

    A reply is dead when its checkpoint is older than CHAT_STALE_AFTER seconds (a live
    reply writes one every CHAT_CHECKPOINT_INTERVAL); those in `alive` (written by this
    process right now) never are.
    """
    if stale_after is None:
        stale_after = settings.CHAT_STALE_AFTER
    stale = Message.objects.stale(stale_after).exclude(pk__in=alive)
    if conversation_id is not None:
        stale = stale.filter(conversation_id=conversation_id)
    recovered = []
    for message in stale:
        updated = Message.objects.streaming().filter(pk=message.pk, updated_at=message.updated_at)
        if updated.update(status=Message.Status.INTERRUPTED, updated_at=timezone.now()):
            message.status = Message.Status.INTERRUPTED
            message.error = ""
            recovered.append(message)
    return recovered


async def sweep(*, stale_after: float | None = None) -> list[Message]:
    """Recover dead replies and show them as interrupted in every open tab."""
    alive = replies.writing()
    recovered = await db.run(recover_dead_replies, stale_after=stale_after, alive=alive)
    for message in recovered:
        await live.broadcast(
            Conversation(pk=message.conversation_id).group_name,
            {"type": "turn.finished", "turn": None, "reply": message.as_event(), "state": "done"},
        )
    return recovered


_sweepers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def start_sweeper() -> None:
    """Run `sweep` every half CHAT_STALE_AFTER in this process (once per event loop).
    Called as the app serves its first connection, when CHAT_SWEEPER is on."""
    if not settings.CHAT_SWEEPER:
        return
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is None or task.done():
        _sweepers[loop] = replies.spawn(_sweep_forever(settings.CHAT_STALE_AFTER / 2))


async def _sweep_forever(interval: float) -> None:
    while True:
        try:
            await sweep()
        except Exception:
            logger.exception("Recovering dead replies failed; trying again later")
        await asyncio.sleep(interval)
