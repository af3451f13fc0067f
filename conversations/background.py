"""Work that runs after a reply has finished, off the hot path.

Each hook is an async function taking (conversation_id, reply_id, facts). Hooks run as
tasks of their own after the reply's final frame went out, one after another, and a
failing hook is logged without touching the reply or the next hook. `facts` is what the
reply's own run knew (None when unknown): with it, a hook skips its queries when the
answer is plain, as it is for most replies.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from conversations import summaries
from conversations.classification import classify_new_conversation
from conversations.facts import ReplyFacts
from conversations.titles import title_after_first_reply

logger = logging.getLogger(__name__)


AfterReplyHook = Callable[[int, int, ReplyFacts | None], Awaitable[None]]


def after_reply_hooks() -> list[AfterReplyHook]:
    """The hooks, in the order they run."""
    return [summaries.update_summary, classify_new_conversation, title_after_first_reply]


async def after_reply(conversation_id: int, reply_id: int, facts: ReplyFacts | None = None) -> None:
    for hook in after_reply_hooks():
        try:
            await hook(conversation_id, reply_id, facts)
        except Exception:
            logger.exception("After-reply work %s failed", getattr(hook, "__name__", hook))
