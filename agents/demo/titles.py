"""The demo model's titles: the first few words of the user's first message."""

from __future__ import annotations

from typing import Any

from agents.demo.answer import DemoAnswer
from agents.prompts import TITLE_INSTRUCTION


def respond(body: dict[str, Any]) -> DemoAnswer | None:
    """The demo model's titles: the first few words of the user's first message."""
    messages = body.get("messages") or []
    if not messages or messages[0].get("content") != TITLE_INSTRUCTION:
        return None
    exchange = str(messages[-1].get("content") or "")
    question = exchange.removeprefix("User: ").split("\n\nAssistant:")[0]
    words = question.split()[:5]
    return DemoAnswer(text=" ".join(words).title() if words else "Demo conversation")
