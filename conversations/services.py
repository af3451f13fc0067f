"""What people do with conversations. Views and consumers call these; each one looks
the conversation up through its owner first, so nobody reaches another user's data."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.http import Http404
from django.utils import timezone

from chatsite.compiled import Compiled, Insert, Update
from chatsite.text_limits import check_length
from conversations import limits, summaries
from conversations.models import (
    TITLE_MAX_CHARS,
    Conversation,
    Message,
    Summary,
    ToolConfirmation,
)

TITLE_LENGTH = 60
CARD_WITHDRAWN = "The conversation changed before anyone decided; it was not carried out."


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


@transaction.atomic
def delete_conversation(user, conversation_id: int) -> Conversation:
    """Delete the user's conversation (else 404) and return it as it was.

    Its row is locked first, so a usage row being written for one of its calls at that
    moment waits for the delete, then keeps the title without the link (see
    `UsageRecordQuerySet.record`), instead of breaking the delete on PostgreSQL.
    """
    try:
        conversation = (
            Conversation.objects.for_user(user).select_for_update().get(pk=conversation_id)
        )
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None
    conversation.delete()
    return conversation


def clear_history(user, conversation_id: int) -> Conversation:
    """Delete every message and summary; the conversation and its system prompt stay."""
    conversation = get_conversation_for_user(user, conversation_id)
    if conversation.messages.streaming().exists():
        raise ValidationError("Stop the reply before clearing the history.")
    with transaction.atomic():
        withdraw_cards(conversation)
        conversation.summaries.all().delete()
        conversation.messages.all().delete()
    return conversation


def withdraw_cards(conversation: Conversation) -> int:
    """Expire every card still waiting in the conversation: what it asked about is gone
    (an edit, a regenerate or a cleared history), so no click may run it any more."""
    return (
        ToolConfirmation.objects.pending()
        .filter(conversation=conversation)
        .update(status=ToolConfirmation.Status.EXPIRED, result=CARD_WITHDRAWN)
    )


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
    if transaction.get_autocommit():
        # The ORM refuses a row lock outside a transaction; the SQL built once would not.
        raise transaction.TransactionManagementError("Lock a conversation inside a transaction.")
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError):
        raise Http404("No such conversation.") from None
    conversation = _LOCKED.first(user.pk, conversation_id) if user.is_authenticated else None
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def _locked(owner_id: int, conversation_id: int):
    pending = ToolConfirmation.objects.pending().filter(
        conversation=OuterRef("pk"), message__isnull=False
    )
    summary = Summary.objects.filter(conversation=OuterRef("pk")).newest_complete()
    return (
        Conversation.objects.filter(owner_id=owner_id, pk=conversation_id)
        .select_for_update()
        .annotate(
            replying=Exists(Message.objects.streaming().filter(conversation=OuterRef("pk"))),
            waiting=Exists(pending),
            # The summary a new turn's prompt carries, read in the same statement.
            summary_up_to=Subquery(summary.values("up_to_message_id")[:1]),
            summary_text=Subquery(summary.values("text")[:1]),
        )
    )


# Every turn starts with this statement: its SQL is built once (chatsite/compiled.py).
_LOCKED = Compiled(_locked, ["int", "int"])


# Every turn writes these two statements: their SQL is built once (chatsite/compiled.py).
_NEW_TURN_ROWS = Insert(Message)
_TOUCHED = Update(Conversation, ["updated_at"])


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
    user_message = Message(conversation=conversation, role=Message.Role.USER, content=text)
    reply = Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=conversation.model,
    )
    _NEW_TURN_ROWS.save([user_message, reply])  # one INSERT for both rows, in this order
    conversation.updated_at = timezone.now()
    if conversation.title == Conversation.DEFAULT_TITLE:
        conversation.title = automatic_title(text)
        # Saved, not only updated: the open sidebars hear of a new title from its signal.
        conversation.save(update_fields=["updated_at", "title"])
    else:
        _TOUCHED.run(conversation.pk, conversation.updated_at)
    turn = Turn(conversation, user_message, reply)
    # Nothing changed the summaries since the lock read the current one.
    summary = None
    if conversation.summary_up_to is not None:
        summary = Summary(
            up_to_message_id=conversation.summary_up_to, text=conversation.summary_text
        )
    return turn, prompt_messages(conversation, before_id=reply.pk, summary=summary)


def automatic_title(text: str) -> str:
    """The title a conversation gets from its first message until something better comes."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def prompt_messages(
    conversation: Conversation,
    *,
    before_id: int,
    summary: Summary | object | None = summaries.UNREAD,
) -> list[dict]:
    """What the model is sent: the system prompt first, then the running summary of older
    messages (if any), then the recent messages verbatim, ending with the new one.
    `summary`: the current summary (or None), when the caller has just read it."""
    messages = [{"role": "system", "content": conversation.system_prompt}]
    messages += summaries.history_messages(conversation, before_id=before_id, summary=summary)
    return messages
