"""Conversation classification: what a conversation is about, with a confidence.

A new conversation is classified once, in the background after its first reply (see
`conversations.background`), so it never delays a token; its owner can ask again at any
time, and staff can re-classify a selection in the admin. Every open tab sees the badge
change through the conversation's group.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from agents import structured
from agents.errors import GatewayError
from agents.events import CallContext
from chatsite import db
from conversations import live
from conversations.facts import ReplyFacts
from conversations.models import Conversation, Message
from conversations.services import get_conversation_for_user

State = Conversation.ClassificationState
# The classifier reads the start of the conversation; that is where its subject is.
TRANSCRIPT_CHARS = 6000


def transcript(conversation: Conversation) -> str:
    """The conversation as the classifier reads it: who said what, from the start."""
    lines = []
    for message in conversation.messages.exclude(content=""):
        speaker = "User" if message.role == Message.Role.USER else "Assistant"
        lines.append(f"{speaker}: {message.content}")
    return "\n\n".join(lines)[:TRANSCRIPT_CHARS]


async def classify_conversation(conversation_id: int) -> Conversation:
    """Classify the conversation now and store the result, or a failed state.

    Only a whole, schema-valid answer is stored; on failure the last good result stays
    and the state says it failed, with the reason.
    """
    conversation = await db.run(Conversation.objects.get, pk=conversation_id)
    if conversation.classification_state == State.PENDING:
        await _announce(conversation)  # claimed already, by the after-reply hook
    else:
        await _save(conversation, classification_state=State.PENDING)
    context = CallContext(
        purpose="classify", user_id=conversation.owner_id, conversation_id=conversation.pk
    )
    text = await db.run(transcript, conversation)
    try:
        result = await structured.classify(text, model=conversation.model, context=context)
    except GatewayError as exc:
        await _save(
            conversation, classification_state=State.FAILED, classification_error=exc.message
        )
        return conversation
    await _save(
        conversation,
        category=result.category.value,
        confidence=result.confidence,
        classification_reasoning=result.reasoning,
        classification_state=State.DONE,
        classification_error="",
        classified_at=timezone.now(),
    )
    return conversation


async def classify_new_conversation(
    conversation_id: int, reply_id: int, facts: ReplyFacts | None = None
) -> None:
    """After-reply hook: classify a conversation the first time it has a reply."""
    if not settings.CLASSIFY_CONVERSATIONS or (facts is not None and facts.classified):
        return
    # A conditional update claims the work, so two processes never both classify.
    unclaimed = Conversation.objects.filter(pk=conversation_id, classification_state=State.NONE)
    claimed = await db.run(unclaimed.update, classification_state=State.PENDING)
    if claimed:
        await classify_conversation(conversation_id)


def reclassify(user, conversation_id: int) -> Conversation:
    """The owner asks for the conversation to be classified again."""
    conversation = get_conversation_for_user(user, conversation_id)
    return async_to_sync(classify_conversation)(conversation.pk)


async def classify_many(conversation_ids: list[int]) -> list[Conversation]:
    """Classify each conversation in turn (staff's admin action)."""
    return [await classify_conversation(pk) for pk in conversation_ids]


async def _save(conversation: Conversation, **fields: object) -> None:
    """Write the fields (an update: the conversation may be gone) and tell open tabs."""
    for name, value in fields.items():
        setattr(conversation, name, value)
    await db.run(Conversation.objects.filter(pk=conversation.pk).update, **fields)
    await _announce(conversation)


async def _announce(conversation: Conversation) -> None:
    """Every open tab of the conversation redraws its badge."""
    await live.broadcast(
        conversation.group_name, {"type": "conversation.classified", **as_event(conversation)}
    )


def as_event(conversation: Conversation) -> dict:
    """The classification fields, small enough for the channel layer."""
    return {
        "category": conversation.category,
        "confidence": conversation.confidence,
        "reasoning": conversation.classification_reasoning,
        "state": conversation.classification_state,
        "error": conversation.classification_error,
    }


def apply_event(conversation: Conversation, event: dict) -> Conversation:
    """Put the classification from a group event onto a conversation object."""
    conversation.category = event["category"]
    conversation.confidence = event["confidence"]
    conversation.classification_reasoning = event["reasoning"]
    conversation.classification_state = event["state"]
    conversation.classification_error = event["error"]
    return conversation
