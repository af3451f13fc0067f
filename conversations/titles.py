"""After the first exchange, let the model title the conversation (unless renamed)."""

from __future__ import annotations

from accounts.sessions import user_group
from agents.errors import GatewayError
from agents.events import CallContext
from agents.titles import suggest_title
from chatsite import db
from conversations import live
from conversations.facts import ReplyFacts
from conversations.models import Conversation, Message
from conversations.services import automatic_title

PLAIN_ROLES = (Message.Role.USER, Message.Role.ASSISTANT)


async def title_after_first_reply(
    conversation_id: int, reply_id: int, facts: ReplyFacts | None = None
) -> None:
    """Title a conversation from its first complete exchange, once.

    Runs only while the title is still the automatic one (cut from the first message),
    and writes it with a conditional update, so a rename in the meantime wins.
    """
    if facts is not None and not facts.first_turn:
        return
    exchange = await db.run(_first_exchange, conversation_id, reply_id)
    if exchange is None:
        return
    conversation, question, reply = exchange
    context = CallContext(
        purpose="title", user_id=conversation.owner_id, conversation_id=conversation.pk
    )
    try:
        title = await suggest_title(
            question.content, reply.content, model=conversation.model, context=context
        )
    except GatewayError:
        return  # the automatic title stays; a title is not worth an error message
    if not title:
        return
    current = Conversation.objects.filter(pk=conversation.pk, title=conversation.title)
    updated = await db.run(current.update, title=title)
    if updated:  # every open tab of the owner: the page's header and every sidebar
        await live.broadcast(
            user_group(conversation.owner_id),
            {"type": "conversation.titled", "conversation_id": conversation.pk, "title": title},
        )


def _first_exchange(conversation_id: int, reply_id: int):
    """(conversation, question, reply) when `reply` completes the conversation's first
    plain exchange and the title is still the automatic one; else None. Most replies are
    not first ones: they cost one query here."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        return None
    questions = list(conversation.messages.filter(role=Message.Role.USER)[:2])
    if len(questions) != 1 or conversation.title != automatic_title(questions[0].content):
        return None
    reply = Message.objects.filter(pk=reply_id, status=Message.Status.COMPLETE).first()
    if reply is None or not reply.content:
        return None
    plain = conversation.messages.filter(role__in=PLAIN_ROLES, tool_calls=[])
    if conversation.messages.count() != plain.count():
        return None  # a first turn that used tools or paused for a confirmation is not titled
    return conversation, questions[0], reply
