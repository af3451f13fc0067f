"""A long conversation a page at a time, latest first, by keyset on the message id.

Each page is one indexed range scan (`conversation_id = ? AND id < ?`, newest first),
so the time per page stays flat however long the conversation grows.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from conversations.models import Conversation, Message, stale_cutoff

PAGE_SIZE = 50


@dataclass(frozen=True)
class HistoryPage:
    messages: list[Message]  # oldest first, ready to render
    older_than: int | None  # the id to ask for the next (older) page, None at the start

    @property
    def streaming(self) -> bool:
        return any(m.is_streaming for m in self.messages)


def history_page(
    conversation: Conversation, *, before: int | None = None, size: int = PAGE_SIZE
) -> HistoryPage:
    """Up to `size` messages older than id `before` (or the latest), oldest first."""
    rows = conversation.messages.order_by("-id")
    if before is not None:
        rows = rows.filter(pk__lt=before)
    newest_first = list(rows[: size + 1])
    has_more = len(newest_first) > size
    page = newest_first[:size][::-1]
    _show_dead_as_interrupted(page)
    return HistoryPage(page, page[0].pk if has_more and page else None)


def _show_dead_as_interrupted(messages: list[Message]) -> None:
    """A reply whose process died shows as interrupted at once; the sweeper
    (`turns.sweep`) writes that status soon after. Reading a page writes nothing."""
    cutoff = stale_cutoff(settings.CHAT_STALE_AFTER)
    for message in messages:
        if message.is_streaming and message.updated_at < cutoff:
            message.status = Message.Status.INTERRUPTED
