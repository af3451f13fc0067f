"""The frames sent on every delta of a streaming reply, built with `format_html`.

They go to every open tab dozens of times per reply, so they skip the template engine;
`format_html` escapes every value as the templates' autoescaping does. Rarer frames
come from templates (see consumers).
"""

from __future__ import annotations

from django.utils.formats import localize
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def delta(message_id: int, text: str, *, html: str = "", tail: str = "") -> SafeString:
    """New text at the end of a streaming message. With `html` (blocks the text closed,
    already sanitized), those go in before the open block, which becomes `tail`."""
    if not html:
        return format_html(
            '<div id="msg-{}-text" hx-swap-oob="beforeend">{}</div>', message_id, text
        )
    return format_html(
        '<div id="msg-{}-text" hx-swap-oob="beforebegin">{}</div>'
        '<div id="msg-{}-text" class="message__tail" hx-swap-oob="outerHTML">{}</div>',
        message_id,
        mark_safe(html),  # noqa: S308 - rendered by conversations.rendering (nh3)
        message_id,
        tail,
    )


def progress(message_id: int, tokens: int, elapsed: float) -> SafeString:
    """The live token count under a streaming message (as `_progress.html` shows it)."""
    return format_html(
        '<p id="msg-{}-progress" class="message__progress muted" hx-swap-oob="outerHTML" '
        'aria-live="off">{} token{} · {} s</p>',
        message_id,
        tokens,
        "" if tokens == 1 else "s",
        localize(elapsed),
    )
