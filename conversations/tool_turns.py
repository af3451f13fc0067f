"""Tool calls and results in a conversation: how they are stored, shown and sent back.

An assistant message that called tools keeps the calls in `tool_calls`; each answer is
a Message with role "tool" (tool name, arguments, result). A summariser can read both
like any other message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.functional import SimpleLazyObject

from agents.events import ToolResult
from agents.loop import assistant_message, tool_message
from agents.tools import ToolContext
from chatsite import db
from conversations import live
from conversations.models import Conversation, Message

# Sent for a call that has no stored answer (a confirmation still open, or a crash
# mid-round): the API refuses an assistant tool call without an answer.
UNANSWERED = "No result is available for this call."


def history_to_prompt(rows: Iterable[Message]) -> list[dict[str, Any]]:
    """Messages as the model is sent them; each tool answer right after its call."""
    rows = list(rows)
    answers = {m.tool_call_id: m.content for m in rows if m.role == Message.Role.TOOL}
    prompt: list[dict[str, Any]] = []
    for message in rows:
        if message.role == Message.Role.TOOL:
            continue
        if message.role == Message.Role.ASSISTANT and message.tool_calls:
            prompt.append(assistant_message(message.content, message.tool_calls))
            prompt += [
                tool_message(c["id"], answers.get(c["id"], UNANSWERED)) for c in message.tool_calls
            ]
        elif message.content or message.role != Message.Role.ASSISTANT:
            prompt.append({"role": message.role, "content": message.content})
    return prompt


def entries_to_prompt(
    entries: Sequence[Any], calls: dict[int, tuple[list, str]] | None = None
) -> list[dict[str, Any]]:
    """History entries (id, role, content) as prompt messages, with their tool calls
    (`calls`: id -> (tool_calls, tool_call_id), read from the database when not given).

    The entries may start or end mid-round (a summary or the budget cut them); a call
    without its answer gets a placeholder and an answer without its call is dropped.
    """
    extra = calls
    if extra is None:
        ids = [e.id for e in entries if e.role != Message.Role.USER]
        rows = Message.objects.filter(pk__in=ids).values_list("pk", "tool_calls", "tool_call_id")
        extra = {pk: (tool_calls, call_id) for pk, tool_calls, call_id in rows}
    rows = [
        Message(
            pk=e.id,
            role=e.role,
            content=e.content,
            tool_calls=extra.get(e.id, ([], ""))[0],
            tool_call_id=extra.get(e.id, ([], ""))[1],
        )
        for e in entries
    ]
    return history_to_prompt(rows)


def tool_context(conversation: Conversation) -> ToolContext:
    """The context tools get: the conversation's owner, never anything from the model.

    The owner is loaded only when a tool runs (tools run on Django's sync thread), so
    a turn without tools costs no extra query.
    """
    owner_id = conversation.owner_id
    owner = SimpleLazyObject(lambda: get_user_model().objects.get(pk=owner_id))
    return ToolContext(user=owner, conversation_id=conversation.pk)


async def record_result(conversation: Conversation, result: ToolResult, *, turn_id: int) -> None:
    """Store a tool's answer and show it in every open tab."""
    call = result.call
    await record_answer(
        conversation.pk, call.id, call.name, call.arguments, result.content, turn_id=turn_id
    )


async def record_answer(
    conversation_id: int, call_id: str, name: str, arguments: str, content: str, *, turn_id: int
) -> Message | None:
    """A tool message, saved and broadcast; None when the conversation is gone."""
    message = await db.run(_save_answer, conversation_id, call_id, name, arguments, content)
    if message is not None:
        await broadcast_appended(conversation_id, message, turn_id=turn_id)
    return message


def _save_answer(
    conversation_id: int, call_id: str, name: str, arguments: str, content: str
) -> Message | None:
    if not Conversation.objects.filter(pk=conversation_id).exists():
        return None
    return Message.objects.create(
        conversation_id=conversation_id,
        role=Message.Role.TOOL,
        tool_call_id=call_id,
        tool_name=name,
        tool_arguments=arguments,
        content=content,
    )


async def broadcast_appended(conversation_id: int, message: Message, *, turn_id: int) -> None:
    await live.broadcast(
        Conversation(pk=conversation_id).group_name,
        {"type": "message.appended", "turn": turn_id, "message": message.as_event()},
    )


def open_reply(conversation: Conversation) -> Message:
    """A new streaming assistant message for the next round of the same turn."""
    return conversation.messages.create(
        role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, model=conversation.model
    )


def pretty_arguments(raw: str) -> str:
    """Arguments as indented JSON for the expandable item (raw text if not JSON)."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return raw
