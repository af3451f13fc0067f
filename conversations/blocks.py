"""A reply's markdown while it streams: the blocks that are closed, rendered once each,
and the open block still being written, shown as plain text.

Each frame renders only the blocks closed since the previous one, so its work depends on
the size of the open block, not on the reply's length. Pure: text in, HTML out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from conversations.rendering import closed_length, render_markdown

# Text that may hold a link reference definition ("[label]: url"), which can change how
# blocks rendered before it read: the whole text is rendered again then.
_MAY_DEFINE_REFERENCES = "]:"


def split_streamed(text: str) -> tuple[str, str]:
    """`text` as shown while it streams: its closed blocks' HTML, and the open tail."""
    cut = closed_length(text)
    return (render_markdown(text[:cut]) if cut else ""), text[cut:]


@dataclass(slots=True)
class StreamedMarkdown:
    """The text sent so far, less the blocks already rendered for the tabs."""

    tail: str = ""  # the open block(s): shown as plain text
    rendered: int = 0  # characters of the reply's text rendered before `tail`
    # The HTML of the closed blocks, in order, while it covers the text from its start.
    closed: list[str] | None = field(default_factory=list)

    @classmethod
    def resumed(cls, text: str) -> StreamedMarkdown:
        """The state of a reply that goes on from `text` (shown as `split_streamed`)."""
        cut = closed_length(text)
        return cls(text[cut:], cut, None)  # what came before was rendered elsewhere

    def final_html(self, text: str) -> str:
        """`render_markdown(text)` for the whole `text` fed: the closed blocks' HTML as
        already rendered, and the open rest, rendered now (closed blocks come out alone
        as in the whole text; see `rendering.closed_length`)."""
        fed = self.closed is not None and len(text) == self.rendered + len(self.tail)
        unusual = _MAY_DEFINE_REFERENCES in text or "\r" in text
        if not fed or unusual or not text.endswith(self.tail):
            return render_markdown(text)
        return "".join(self.closed) + render_markdown(self.tail)

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
        html = render_markdown(closed)
        if self.closed is not None:
            self.closed.append(html)
        return html
