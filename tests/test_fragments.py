"""Frames built without the template engine come out as their templates render them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from django.utils import timezone

from conversations import fragments
from conversations.models import Message

TEMPLATE = "conversations/_turn_started.html"
TEXTS = [
    "Hello",
    "Two\nlines & <b>tags</b> and {braces} {0} {user_id}",
    "Quotes \"double\" and 'single'\r\n\r\nand a blank line",
    "",
]


def turn(text: str, at: datetime, **changes) -> tuple[Message, Message]:
    user = Message(pk=41, role="user", content=text, created_at=at)
    reply = Message(pk=42, role="assistant", status="streaming", created_at=at)
    for name, value in changes.items():
        setattr(reply, name, value)
    return user, reply


def template(user: Message, reply: Message, title: str) -> str:
    context = {"user_message": user, "reply": reply, "title": title, "streaming": True}
    return render_to_string(TEMPLATE, context)


def test_the_turn_started_frame_is_its_template_in_every_zone():
    moment = datetime(2026, 3, 29, 0, 30, 5, 123, tzinfo=UTC)
    for zone in (UTC, ZoneInfo("Europe/Paris"), ZoneInfo("Pacific/Kiritimati")):
        with timezone.override(zone):
            for text in TEXTS:
                user, reply = turn(text, moment)
                title = f"About {text[:20]}"
                assert fragments.turn_started(user, reply, title) == template(user, reply, title)
    assert fragments.turn_started._format is not None  # built, not the template each time


def test_a_turn_that_is_not_plain_is_rendered_by_the_template():
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    user, reply = turn("Hi", moment, notice="Something to know")
    assert "Something to know" in fragments.turn_started(user, reply, "T")
    assert fragments.turn_started(user, reply, "T") == template(user, reply, "T")
