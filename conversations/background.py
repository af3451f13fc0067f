"""Work that runs after a reply has finished, off the hot path.

Each hook is an async function taking (conversation_id, reply_id). Hooks run as tasks
of their own after the reply's final frame went out, one after another, and a failing
hook is logged without touching the reply or the next hook.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from conversations import summaries

logger = logging.getLogger(__name__)

AfterReplyHook = Callable[[int, int], Awaitable[None]]


def after_reply_hooks() -> list[AfterReplyHook]:
    """The hooks, in the order they run."""
    from conversations.classification import classify_new_conversation
    from conversations.titles import title_after_first_reply

    return [summaries.update_summary, classify_new_conversation, title_after_first_reply]


async def after_reply(conversation_id: int, reply_id: int) -> None:
    for hook in after_reply_hooks():
        try:
            await hook(conversation_id, reply_id)
        except Exception:
            logger.exception("After-reply work %s failed", getattr(hook, "__name__", hook))
