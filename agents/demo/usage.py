"""The demo model's answer about usage: where tokens, cost, limits and the API show."""

from __future__ import annotations

import re
from typing import Any

from agents.demo.answer import DemoAnswer

ASKS_ABOUT_USAGE = re.compile(r"\b(cost|costs|usage|budget|tokens?|api)\b", re.IGNORECASE)

USAGE_TEXT = (
    "**Usage and cost.** Under each reply you see its tokens (prompt + completion), "
    "its cost and the model that served it; the header shows what this conversation "
    "has cost so far. The demo model costs $0.\n\n"
    "- Staff see every call per user in the admin: *Usage records → Usage per user*.\n"
    "- A monthly budget and a per-minute limit protect each account; over them you are "
    "told why, and nothing is sent to the model.\n"
    "- Programs can stream replies too: create a token under */settings/tokens/*, then\n\n"
    "```sh\n"
    "curl -N -H 'Authorization: Bearer <token>' \\\n"
    "     -d message=Hello http://127.0.0.1:8000/conversations/<id>/stream/\n"
    "```"
)


def respond(body: dict[str, Any]) -> DemoAnswer | None:
    """Answers questions about cost, usage, budgets, tokens or the API."""
    messages = body.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if last is None or not ASKS_ABOUT_USAGE.search(str(last.get("content") or "")):
        return None
    return DemoAnswer(text=USAGE_TEXT)
