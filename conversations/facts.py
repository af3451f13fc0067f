"""What a reply's run knows when it ends, handed to the work that follows it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplyFacts:
    """What a reply's run knows about its conversation when the reply ends."""

    model: str
    first_turn: bool  # the history held no earlier question (nor a summary)
    classified: bool  # classification was claimed or done when the turn started
    history_tokens: int  # estimated: the history sent with the question, and the reply
    history_messages: int
