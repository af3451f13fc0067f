"""The frames sent on every delta of a streaming reply, built with `format_html`, and
the frame that starts every turn, built once per process from its template.

They go to every open tab dozens of times per reply, so they skip the template engine;
`format_html` escapes every value as the templates' autoescaping does. Rarer frames
come from templates (see consumers).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import linebreaksbr
from django.template.defaultfilters import time as time_filter
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from conversations.models import Message

logger = logging.getLogger(__name__)


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


class _TurnStarted:
    """`conversations/_turn_started.html` for a new turn (a user's message as sent, its
    reply about to stream), without the template engine on each turn.

    Built once per process: the template is rendered with stand-in values whose text
    marks where each value goes (the message as its body shows it, with line breaks,
    and as its edit box holds it; the ids; both times; the title), and those places
    become slots. The result is checked against a render with other stand-ins; should
    the template take a value in a way not foreseen here, the check fails and every
    turn renders the template. A turn that is not plain (a notice, an error, tool
    calls) renders the template too.
    """

    TEMPLATE = "conversations/_turn_started.html"
    # A value's stand-in and the slot it becomes, per stand-in set (built, checked).
    STAND_INS = (
        {"user_id": 918273645, "reply_id": 918273646, "content": "Standin\nfirst <&>",
         "title": "Title <standin>", "user_at": datetime(1999, 1, 2, 3, 4, 5, 678901, UTC),
         "reply_at": datetime(1998, 6, 7, 8, 9, 10, 111213, UTC)},
        {"user_id": 7, "reply_id": 8, "content": "Other\n\n\"quoted\" 'text'",
         "title": "Other title", "user_at": datetime(2026, 12, 2, 23, 59, 59, 1, UTC),
         "reply_at": datetime(2026, 12, 3, 0, 0, 0, 0, UTC)},
    )  # fmt: skip

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._format: str | None = None
        self._built = False

    @staticmethod
    def _slots(values: dict) -> dict[str, str]:
        """The text each slot holds for these values, as the template writes it."""
        content = values["content"]
        return {
            "user_id": str(values["user_id"]),
            "reply_id": str(values["reply_id"]),
            "body": linebreaksbr(content, autoescape=True),
            "text": escape(content),
            "title": escape(values["title"]),
            "user_iso": escape(date_filter(timezone.template_localtime(values["user_at"]), "c")),
            "user_time": escape(time_filter(timezone.template_localtime(values["user_at"]), "H:i")),
            "reply_iso": escape(date_filter(timezone.template_localtime(values["reply_at"]), "c")),
            "reply_time": escape(
                time_filter(timezone.template_localtime(values["reply_at"]), "H:i")
            ),
        }

    def _render(self, values: dict) -> str:
        user = Message(
            pk=values["user_id"],
            role=Message.Role.USER,
            content=values["content"],
            created_at=values["user_at"],
        )
        reply = Message(
            pk=values["reply_id"],
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            created_at=values["reply_at"],
        )
        return render_to_string(self.TEMPLATE, self._context(user, reply, values["title"]))

    @staticmethod
    def _context(user: Message, reply: Message, title: str) -> dict:
        return {"user_message": user, "reply": reply, "title": title, "streaming": True}

    def _build(self) -> str | None:
        with timezone.override(UTC):
            built, other = self.STAND_INS
            html = self._render(built).replace("{", "{{").replace("}", "}}")
            # Longest first: a slot's text may hold a shorter one's (an id in a time).
            for name, text in sorted(self._slots(built).items(), key=lambda i: -len(i[1])):
                if text not in html:
                    logger.warning("The turn-started frame has no place for %s", name)
                    return None
                html = html.replace(text, "{" + name + "}")
            if html.format(**self._slots(other)) != self._render(other):
                logger.warning("The turn-started frame is rendered by its template on each turn")
                return None
        return html

    def __call__(self, user: Message, reply: Message, title: str) -> str:
        """The frame's HTML, in the current time zone."""
        if not self._built:
            with self._lock:
                self._format, self._built = self._build(), True
        if self._format is None or not (_plain_sent(user) and _plain_start(reply)):
            return render_to_string(self.TEMPLATE, self._context(user, reply, title))
        values = {
            "user_id": user.pk,
            "reply_id": reply.pk,
            "content": user.content,
            "title": title,
            "user_at": user.created_at,
            "reply_at": reply.created_at,
        }
        return self._format.format(**self._slots(values))


def _plain_sent(message: Message) -> bool:
    return (
        message.role == Message.Role.USER
        and message.status == Message.Status.COMPLETE
        and bool(message.content)  # (an empty one has fewer actions)
        and not (message.tool_calls or message.error or message.notice or message.reasoning)
    )


def _plain_start(message: Message) -> bool:
    return (
        message.role == Message.Role.ASSISTANT
        and message.status == Message.Status.STREAMING
        and not (message.content or message.tool_calls or message.error or message.notice)
        and not (message.reasoning or message.reasoning_seconds)
    )


turn_started = _TurnStarted()
