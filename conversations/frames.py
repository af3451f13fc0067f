"""When a streaming reply sends its text to the open tabs: a pure batching policy.

The first delta goes out at once. After that a frame is due once `max_tokens` deltas
wait, or once the oldest waiting delta is `max_wait` seconds old; frames are at least
`interval` apart (the sender sleeps that long after each). A fast stream thus costs a
frame per few tokens, a slow one stays live. Time is passed in, so tests need no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FramePolicy:
    interval: float  # seconds between two frames, at least
    max_tokens: int  # deltas that make a frame due at once
    max_wait: float  # seconds a delta may wait for its frame


@dataclass(slots=True)
class FrameBatcher:
    """The reply's text as deltas, and how much of it the tabs have been sent."""

    policy: FramePolicy
    parts: list[str] = field(default_factory=list)
    sent: int = 0  # how many of `parts` have gone out
    oldest_waiting: float = 0.0  # when the oldest delta not yet sent arrived
    # Sockets that (re)connected mid-reply: each gets the whole text once, alone.
    snapshot_to: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def waiting(self) -> int:
        return len(self.parts) - self.sent

    def add(self, text: str, now: float) -> bool:
        """Keep a delta; True when it makes a frame due at once (wake the sender)."""
        self.parts.append(text)
        if self.waiting == 1:
            self.oldest_waiting = now
        return len(self.parts) == 1 or self.waiting >= self.policy.max_tokens

    def due(self, now: float) -> bool:
        """Whether a frame should go out now."""
        if self.snapshot_to:
            return True
        if not self.waiting:
            return False
        # A little early rather than a timer's tick late.
        old = now - self.oldest_waiting >= self.policy.max_wait * 0.9
        return self.sent == 0 or self.waiting >= self.policy.max_tokens or old

    def take(self) -> str:
        """The text not yet sent, now counted as sent."""
        delta = "".join(self.parts[self.sent :])
        self.sent = len(self.parts)
        return delta

    def take_snapshot(self) -> tuple[set[str], str]:
        """The sockets waiting for the whole text, and that text. Send the group what it
        has not been sent (`take`) first, so that no socket gets a piece twice."""
        channels, self.snapshot_to = self.snapshot_to, set()
        return channels, self.text

    def restart(self) -> None:
        """A new message of the same turn starts empty."""
        self.parts, self.sent, self.snapshot_to = [], 0, set()
