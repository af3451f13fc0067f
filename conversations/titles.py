"""After the first exchange, let the model title the conversation (unless renamed)."""

from __future__ import annotations

from agents.errors import GatewayError
from agents.events import CallContext
from agents.titles import suggest_title
from conversations import live
from conversations.models import Conversation, Message
from conversations.services import automatic_title

PLAIN_ROLES = (Message.Role.USER, Message.Role.ASSISTANT)


async def title_after_first_reply(conversation_id: int, reply_id: int) -> None:
    """Title a conversation from its first complete exchange, once.

    Runs only while the title is still the automatic one (cut from the first message),
    and writes it with a conditional update, so a rename in the meantime wins.
    """
    conversation = await Conversation.objects.filter(pk=conversation_id).afirst()
    reply = await Message.objects.filter(pk=reply_id, status=Message.Status.COMPLETE).afirst()
    if conversation is None or reply is None or not reply.content:
        return
    plain = conversation.messages.filter(role__in=PLAIN_ROLES, tool_calls=[])
    if await conversation.messages.acount() != await plain.acount():
        return  # a first turn that used tools or paused for a confirmation is not titled
    questions = [m async for m in conversation.messages.filter(role=Message.Role.USER)[:2]]
    if len(questions) != 1 or conversation.title != automatic_title(questions[0].content):
        return
    context = CallContext(
        purpose="title", user_id=conversation.owner_id, conversation_id=conversation.pk
    )
    try:
        title = await suggest_title(
            questions[0].content, reply.content, model=conversation.model, context=context
        )
    except GatewayError:
        return  # the automatic title stays; a title is not worth an error message
    if not title:
        return
    updated = await Conversation.objects.filter(
        pk=conversation.pk, title=conversation.title
    ).aupdate(title=title)
    if updated:
        await live.broadcast(
            conversation.group_name,
            {"type": "conversation.titled", "conversation_id": conversation.pk, "title": title},
        )
