"""Model output to safe HTML: markdown rendered, then sanitized with an allow-list.

Fenced code is highlighted on the server by Pygments, which escapes the code text and
marks tokens with short CSS classes; only those classes survive the sanitizer.
"""

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# Raw HTML in model output is escaped by the parser and then anything left that is not
# on these lists is dropped, so no script, handler, hx-* attribute or id survives.
_ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr",
    "ul", "span", "div",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "td": {"style"},
    "th": {"style"},
}
# Classes are allowed one by one: Pygments' token classes on spans, our marker on code.
_ALLOWED_CLASSES = {
    "span": {name for name in STANDARD_TYPES.values() if name},
    "code": {"highlight"},
}
_FORMATTER = HtmlFormatter(nowrap=True)


def _highlight(code: str, lang: str, attrs: str) -> str:
    """Highlighted HTML for a fenced block, or "" to let the parser escape it plainly."""
    if not lang:
        return ""
    try:
        lexer = get_lexer_by_name(lang.split()[0])
    except ClassNotFound:
        return ""
    # Pygments escapes the code text itself; the sanitizer still runs over the result.
    return '<pre><code class="highlight">' + highlight(code, lexer, _FORMATTER) + "</code></pre>"


def _parser() -> MarkdownIt:
    return MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "highlight": _highlight}
    ).enable(["table", "strikethrough"])


_markdown = _parser()
# The same parser without the inline pass (emphasis, links, code spans inside blocks):
# where blocks start and end is settled before it runs, and finding them is all
# `closed_length` asks, on every frame that ends a line (the inline pass was about
# four fifths of its cost).
_block_structure = _parser().disable("inline")


def render_markdown(text: str) -> str:
    """Render model output as sanitized HTML, safe to put in the page."""
    return nh3.clean(
        _markdown.render(text or ""),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )


# Blocks that nothing after a blank line can extend (a list or an indented code block
# can still go on past one).
_ENDED_BY_BLANK_LINE = {"paragraph_open", "heading_open", "blockquote_open", "table_open", "hr"}


def closed_length(text: str) -> int:
    """How much of `text`, from its start, is made of markdown blocks that later text
    can no longer change: rendered alone, they come out as in the whole text (reference
    link definitions aside)."""
    if "\r" in text:
        return 0  # the parser counts lines after folding "\r\n"; hold such text whole
    # Whole lines only: a line being written may turn out to continue the block above
    # it ("2" becoming "2. second" of a list).
    text = text[: text.rfind("\n") + 1]
    blocks = [t for t in _block_structure.parse(text) if t.level == 0 and t.map]
    if not blocks:
        return 0
    lines = text.split("\n")
    last = blocks[-1]
    closed_lines = last.map[0]
    if _block_ended(last, lines):
        closed_lines = len(lines) - 1  # up to the last newline
    return sum(len(line) + 1 for line in lines[:closed_lines])


def _block_ended(block, lines: list[str]) -> bool:
    """Whether the text's last block is over though nothing follows it yet."""
    start, end = block.map
    if block.type == "fence":  # its closing fence is a whole line
        closing = lines[end - 1].strip() if end - 1 > start and end < len(lines) else ""
        return closing.startswith(block.markup) and not closing.strip(block.markup[0])
    after = lines[end:-1]  # whole lines after the block
    return block.type in _ENDED_BY_BLANK_LINE and any(not line.strip() for line in after)
