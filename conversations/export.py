"""A conversation as a file: Markdown for reading, JSON for machines.

The JSON takes every stored field of each message (tool calls, usage and whatever the
Message model gains later come along without changes here); `EXCLUDED_FIELDS` names
the few that are internal.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.utils.text import slugify

from chatsite.money import plain
from conversations.models import Conversation, Message

EXCLUDED_FIELDS = {"conversation"}
CONVERSATION_FIELDS = ("id", "title", "model", "system_prompt", "created_at", "updated_at")


def message_record(message: Message) -> dict[str, Any]:
    """Every stored field of a message by name (foreign keys as their ids)."""
    return {
        field.name: getattr(message, field.attname)
        for field in message._meta.concrete_fields
        if field.name not in EXCLUDED_FIELDS
    }


def conversation_record(conversation: Conversation) -> dict[str, Any]:
    record: dict[str, Any] = {name: getattr(conversation, name) for name in CONVERSATION_FIELDS}
    record["messages"] = [message_record(m) for m in conversation.messages.order_by("id")]
    return record


class _Encoder(DjangoJSONEncoder):
    """Django's encoder, with amounts as plain decimal text (exact, never "0E-8")."""

    def default(self, o: Any) -> Any:
        return plain(o) if isinstance(o, Decimal) else super().default(o)


def as_json(conversation: Conversation) -> str:
    """The conversation and its messages as indented JSON."""
    return json.dumps(conversation_record(conversation), cls=_Encoder, indent=2, ensure_ascii=False)


def as_markdown(conversation: Conversation) -> str:
    """The conversation as a Markdown document, one section per message that says
    something: an assistant step that only called tools is told by the tool sections."""
    messages = [m for m in conversation.messages.order_by("id") if not _only_tool_calls(m)]
    return render_to_string(
        "conversations/export.md", {"conversation": conversation, "chat_messages": messages}
    )


def _only_tool_calls(message: Message) -> bool:
    return bool(
        message.role == Message.Role.ASSISTANT
        and message.tool_calls
        and not message.content.strip()
        and not message.error
    )


def filename(conversation: Conversation, extension: str) -> str:
    """A safe file name from the title, e.g. "trip-to-rome.md"."""
    return f"{slugify(conversation.title)[:60] or 'conversation'}.{extension}"
