"""What people do with conversations. Views and consumers call these; each one looks
the conversation up through its owner first, so nobody reaches another user's data."""

from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.utils import timezone

from chatsite import db
from chatsite.text_limits import check_length
from conversations import limits, live, summaries
from conversations.models import TITLE_MAX_CHARS, Conversation, Message, ToolConfirmation

TITLE_LENGTH = 60


def get_conversation_for_user(user, conversation_id: int) -> Conversation:
    """The user's conversation, or 404 whether it is missing or someone else's."""
    try:
        return Conversation.objects.for_user(user).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


def create_conversation(
    user, *, system_prompt: str = "", model: str = "", title: str = ""
) -> Conversation:
    """Start an empty conversation; the model must be one of the models offered."""
    limits.check_conversation_rate(user.pk)
    model = model or settings.LLM_MODEL
    if model not in settings.LLM_MODELS:
        raise ValidationError(f"Unknown model: {model}.")
    return Conversation.objects.create(
        owner=user,
        model=model,
        system_prompt=_checked_prompt(system_prompt) or settings.CHAT_DEFAULT_SYSTEM_PROMPT,
        title=_checked_title(title) or Conversation.DEFAULT_TITLE,
    )


def _checked_prompt(prompt: str) -> str:
    limit = settings.CHAT_MAX_SYSTEM_PROMPT_CHARS
    return check_length(prompt.strip(), what="The system prompt", limit=limit)


def _checked_title(title: str) -> str:
    return check_length(" ".join(title.split()), what="The title", limit=TITLE_MAX_CHARS)


def rename_conversation(user, conversation_id: int, title: str) -> Conversation:
    conversation = get_conversation_for_user(user, conversation_id)
    title = _checked_title(title)
    if not title:
        raise ValidationError("A title cannot be empty.")
    conversation.title = title
    conversation.save(update_fields=["title"])
    return conversation


def delete_conversation(user, conversation_id: int) -> None:
    get_conversation_for_user(user, conversation_id).delete()


def clear_history(user, conversation_id: int) -> Conversation:
    """Delete every message and summary; the conversation and its system prompt stay."""
    conversation = get_conversation_for_user(user, conversation_id)
    if conversation.messages.streaming().exists():
        raise ValidationError("Stop the reply before clearing the history.")
    with transaction.atomic():
        conversation.summaries.all().delete()
        conversation.messages.all().delete()
    return conversation


@dataclass(frozen=True)
class Turn:
    conversation: Conversation
    user_message: Message
    reply: Message


def validate_message_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("Type a message first.")
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise ValidationError(
            f"That message is too long ({len(text):,} characters; the limit is {limit:,})."
        )
    return text.strip()


def lock_conversation(user, conversation_id: int) -> Conversation:
    """The user's conversation (else 404), its row locked until the transaction ends,
    so two sends at once cannot start two replies.

    Read in the same query: whether a reply is streaming (`replying`) and whether an
    action waits for a decision (`waiting`), which a new turn must check first.
    """
    pending = ToolConfirmation.objects.pending().filter(
        conversation=OuterRef("pk"), message__isnull=False
    )
    try:
        return (
            Conversation.objects.for_user(user)
            .select_for_update()
            .annotate(
                replying=Exists(Message.objects.streaming().filter(conversation=OuterRef("pk"))),
                waiting=Exists(pending),
            )
            .get(pk=conversation_id)
        )
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


@transaction.atomic
def record_turn(user, conversation_id: int, text: str) -> tuple[Turn, list[dict]]:
    """Save the user's message and an empty streaming reply, in one transaction; also
    return what the model will be sent."""
    return record_locked_turn(lock_conversation(user, conversation_id), text)


def record_locked_turn(conversation: Conversation, text: str) -> tuple[Turn, list[dict]]:
    """`record_turn` for a conversation `lock_conversation` returned."""
    if conversation.replying:
        raise ValidationError("Wait for the current reply to finish, or stop it.")
    limits.check_message_rate(conversation.owner_id)
    # One INSERT for both rows, in this order.
    user_message, reply = Message.objects.bulk_create(
        [
            Message(conversation=conversation, role=Message.Role.USER, content=text),
            Message(
                conversation=conversation,
                role=Message.Role.ASSISTANT,
                status=Message.Status.STREAMING,
                model=conversation.model,
            ),
        ]
    )
    conversation.updated_at = timezone.now()
    if conversation.title == Conversation.DEFAULT_TITLE:
        conversation.title = _title_from(text)
    conversation.save(update_fields=["updated_at", "title"])
    turn = Turn(conversation, user_message, reply)
    return turn, prompt_messages(conversation, before_id=reply.pk)


def automatic_title(text: str) -> str:
    """The title a conversation gets from its first message until something better comes."""
    return _title_from(text)


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def prompt_messages(conversation: Conversation, *, before_id: int) -> list[dict]:
    """What the model is sent: the system prompt first, then the running summary of older
    messages (if any), then the recent messages verbatim, ending with the new one."""
    messages = [{"role": "system", "content": conversation.system_prompt}]
    messages += summaries.history_messages(conversation, before_id=before_id)
    return messages


async def start_turn(user, conversation_id: int, text: object) -> Turn:
    """Save the user's message first, then start the reply as a task of its own.

    The task does not belong to any socket: it survives reloads and closed tabs.
    """
    turn, history = await db.run(record_turn, user, conversation_id, validate_message_text(text))
    await run_turn(turn, history)
    return turn


async def run_turn(turn: Turn, history: list[dict]) -> None:
    """Show a recorded turn in every open tab and start its reply."""
    from conversations import replies

    await live.broadcast(
        turn.conversation.group_name,
        {
            "type": "turn.started",
            "title": turn.conversation.title,
            "user_message": turn.user_message.as_event(),
            "reply": turn.reply.as_event(),
        },
    )
    replies.start_reply(turn.conversation, turn.reply, history)


async def request_stop(user, conversation_id: int) -> None:
    """Ask the running reply to stop, on whichever process it runs."""
    conversation = await sync_to_async(get_conversation_for_user)(user, conversation_id)
    if not await live.broadcast(conversation.control_group_name, {"type": "reply.stop"}):
        raise ValidationError("Stop did not reach the reply: live updates are unavailable.")


async def request_resync(conversation: Conversation) -> None:
    """Ask the running reply to send its text so far (a tab has just connected)."""
    await live.broadcast(conversation.control_group_name, {"type": "reply.sync"})


def recover_stale_replies(
    conversation_id: int | None = None, *, stale_after: float | None = None
) -> list[Message]:
    """Mark replies left streaming by a dead process as interrupted, keeping their text.

    A reply is dead when its checkpoint is older than CHAT_STALE_AFTER seconds.
    """
    if stale_after is None:
        stale_after = settings.CHAT_STALE_AFTER
    stale = Message.objects.stale(stale_after)
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
