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


_markdown = MarkdownIt(
    "commonmark", {"html": False, "linkify": False, "highlight": _highlight}
).enable(["table", "strikethrough"])


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
