"""Regenerate the last reply, or edit the last user message and resend it: the database
side (`conversations.turns` runs the new reply).

Both replace what followed the user's last message: the old reply is deleted and a new
one streams in its place, so the history the model sees is the history the user sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services import get_conversation_for_user


@dataclass(frozen=True)
class Restart:
    """A turn started again: the user message it answers, the new reply, what went."""

    conversation: Conversation
    user_message: Message
    reply: Message
    removed_ids: list[int]


@transaction.atomic
def restart_turn(
    user, conversation_id: int, *, message_id: int | None, text: str | None
) -> Restart:
    """Drop everything after the user's last message and open a new streaming reply.

    With `text`, the last user message is edited first; `message_id` (when given) must
    be that message, so a stale page cannot edit an older one.
    """
    conversation = get_conversation_for_user(user, conversation_id)
    conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conversation.messages.streaming().exists():
        raise ValidationError("Wait for the current reply to finish, or stop it.")
    last = conversation.messages.filter(role=Message.Role.USER).last()
    if last is None or (message_id is not None and last.pk != message_id):
        raise ValidationError("Only the last message can be edited or answered again.")
    later = conversation.messages.filter(pk__gt=last.pk)
    removed_ids = list(later.values_list("pk", flat=True))
    later.delete()
    if text is not None:
        last.content = text
        last.save(update_fields=["content"])
    reply = conversation.messages.create(
        role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, model=conversation.model
    )
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["updated_at"])
    return Restart(conversation, last, reply, removed_ids)


def optional_id(value: object) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationError("Unknown message.") from None
