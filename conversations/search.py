"""Search across one user's conversations: titles and message text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Q
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from conversations.models import Conversation, Message

MAX_RESULTS = 20
MAX_TERMS = 8
SNIPPET_CONTEXT = 40  # characters either side of the match


@dataclass(frozen=True)
class SearchHit:
    conversation: Conversation
    snippet: str  # plain text around the first matching message's match, or ""


def search_terms(query: str) -> list[str]:
    """The words of a query that are searched for (at most MAX_TERMS)."""
    return query.split()[:MAX_TERMS]


def search_conversations(user, query: str, *, limit: int = MAX_RESULTS) -> list[SearchHit]:
    """The user's conversations in which every word of `query` occurs (in the title or a
    message), newest first. The page's search box and the model's search tool both
    use this."""
    terms = search_terms(query)
    if not terms:
        return []
    matches = Conversation.objects.for_user(user)
    for term in terms:
        matches = matches.filter(Q(title__icontains=term) | Q(messages__content__icontains=term))
    return [SearchHit(c, _snippet(c, terms[0])) for c in matches.distinct()[:limit]]


def _snippet(conversation: Conversation, query: str) -> str:
    message = (
        Message.objects.filter(conversation=conversation, content__icontains=query)
        .exclude(role=Message.Role.TOOL)
        .only("content")
        .first()
    )
    if message is None:
        return ""
    text = " ".join(message.content.split())
    start = text.lower().find(query.lower())
    if start < 0:  # the database matched case-insensitively in a way Python does not
        return text[: 2 * SNIPPET_CONTEXT]
    left, right = max(0, start - SNIPPET_CONTEXT), start + len(query) + SNIPPET_CONTEXT
    return ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")


def highlight_matches(text: str, query: str) -> SafeString:
    """`text` escaped, with each case-insensitive match of a word of `query` in <mark>."""
    terms = search_terms(query)
    if not terms:
        return conditional_escape(text)
    pattern = "|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True))
    pieces = re.split(f"({pattern})", text, flags=re.IGNORECASE)
    # Odd pieces are the matches; every piece is escaped by format_html/conditional_escape.
    html = [
        format_html("<mark>{}</mark>", piece) if index % 2 else conditional_escape(piece)
        for index, piece in enumerate(pieces)
    ]
    return mark_safe("".join(html))  # noqa: S308 - built only from escaped pieces
