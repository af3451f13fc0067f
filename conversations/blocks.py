"""A reply's markdown while it streams: the blocks that are closed, rendered once each,
and the open block still being written, shown as plain text.

Each frame renders only the blocks closed since the previous one, so its work depends on
the size of the open block, not on the reply's length. Pure: text in, HTML out.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversations.rendering import closed_length, render_markdown


def split_streamed(text: str) -> tuple[str, str]:
    """`text` as shown while it streams: its closed blocks' HTML, and the open tail."""
    cut = closed_length(text)
    return (render_markdown(text[:cut]) if cut else ""), text[cut:]


@dataclass(slots=True)
class StreamedMarkdown:
    """The text sent so far, less the blocks already rendered for the tabs."""

    tail: str = ""  # the open block(s): shown as plain text
    rendered: int = 0  # characters of the reply's text rendered before `tail`

    @classmethod
    def resumed(cls, text: str) -> StreamedMarkdown:
        """The state of a reply that goes on from `text` (shown as `split_streamed`)."""
        cut = closed_length(text)
        return cls(text[cut:], cut)

    def feed(self, delta: str) -> str:
        """Add the next delta; return the HTML of the blocks it closed ("" for none)."""
        newline_seen = "\n" in delta or self.tail.endswith("\n")
        self.tail += delta
        if not newline_seen:
            return ""  # no block closes without a line ending
        cut = closed_length(self.tail)
        if not cut:
            return ""
        closed, self.tail = self.tail[:cut], self.tail[cut:]
        self.rendered += cut
        return render_markdown(closed)
