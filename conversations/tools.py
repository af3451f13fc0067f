"""The chat domain's tools: search the user's conversations, delete one of them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404

from agents.tools import ToolContext, ToolError, tool
from conversations import services
from conversations.models import Conversation
from conversations.search import MAX_TERMS, search_conversations, search_terms

MAX_QUERY_CHARS = 200


@tool()
def search(context: ToolContext, query: str) -> list[dict[str, Any]]:
    """Search the user's own conversations for words; returns the best matches.

    query: the words to look for (all must occur)
    """
    if len(query) > MAX_QUERY_CHARS or not search_terms(query):
        raise ToolError(
            f"Give between 1 and {MAX_TERMS} words, at most {MAX_QUERY_CHARS} characters."
        )
    hits = search_conversations(context.user, query, limit=settings.AGENT_SEARCH_RESULTS)
    return [
        {
            "conversation": hit.conversation.title,
            "snippet": hit.snippet,
            "link": hit.conversation.get_absolute_url(),
        }
        for hit in hits
    ]


def _describe_delete(context: ToolContext, arguments: dict[str, Any]) -> str:
    target = arguments.get("conversation_id") or context.conversation_id
    conversation = Conversation.objects.for_user(context.user).filter(pk=target).first()
    name = f"“{conversation.title}” (#{target})" if conversation else f"#{target}"
    return f"Delete conversation {name} for good."


@tool(sensitive=True, describe=_describe_delete)
def delete_conversation(context: ToolContext, conversation_id: int) -> str:
    """Delete one of the user's conversations and all its messages, for good.

    conversation_id: the id of the conversation to delete, or 0 for the current one
    """
    conversation_id = conversation_id or context.conversation_id or 0
    try:
        conversation = services.delete_conversation(context.user, conversation_id)
    except Http404:
        raise ToolError(f"There is no conversation {conversation_id} of yours.") from None
    return f"Deleted the conversation {conversation.title!r} ({conversation_id})."
