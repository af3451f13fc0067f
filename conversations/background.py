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
from dataclasses import dataclass

from conversations import summaries

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplyFacts:
    """What a reply's run knows about its conversation when the reply ends."""

    model: str
    first_turn: bool  # the history held no earlier question (nor a summary)
    classified: bool  # classification was claimed or done when the turn started
    history_tokens: int  # estimated: the history sent with the question, and the reply
    history_messages: int


AfterReplyHook = Callable[[int, int, ReplyFacts | None], Awaitable[None]]


def after_reply_hooks() -> list[AfterReplyHook]:
    """The hooks, in the order they run."""
    from conversations.classification import classify_new_conversation
    from conversations.titles import title_after_first_reply

    return [summaries.update_summary, classify_new_conversation, title_after_first_reply]


async def after_reply(conversation_id: int, reply_id: int, facts: ReplyFacts | None = None) -> None:
    for hook in after_reply_hooks():
        try:
            await hook(conversation_id, reply_id, facts)
        except Exception:
            logger.exception("After-reply work %s failed", getattr(hook, "__name__", hook))
