"""How a tool step reads in the chat: which small template shows a tool's result and
what it needs, parsed from the stored result text. The raw text stays one click away."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ERROR_PREFIX = "Error:"
LABELS = {
    "search": "Searched your conversations",
    "calculate": "Calculated",
    "get_date": "Checked the date",
    "delete_conversation": "Delete conversation",
    "send_email": "Send email",
    "make_payment": "Payment",
}


@dataclass(frozen=True)
class ToolView:
    label: str
    template: str
    data: Any = None


def tool_view(name: str, arguments: str, content: str) -> ToolView:
    """The view of one tool result; unknown tools and errors get a plain line."""
    label = LABELS.get(name, name)
    if content.startswith(ERROR_PREFIX):
        return ToolView(label, "conversations/tools/_error.html", content)
    reader = _READERS.get(name)
    data = reader(_arguments(arguments), content) if reader else None
    if data is None:
        return ToolView(label, "conversations/tools/_line.html", content)
    return ToolView(label, f"conversations/tools/_{name}.html", data)


def _arguments(arguments: str) -> dict[str, Any]:
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _search(arguments: dict, content: str) -> dict | None:
    try:
        hits = json.loads(content)
    except ValueError:
        return None
    if not isinstance(hits, list) or not all(isinstance(hit, dict) for hit in hits):
        return None
    return {"query": str(arguments.get("query", "")), "hits": [_hit(hit) for hit in hits]}


def _hit(hit: dict) -> dict[str, str]:
    link = str(hit.get("link", ""))
    # Only this site's own pages become links: a result is data, not a place to send people.
    internal = link.startswith("/") and not link.startswith("//")
    return {
        "title": str(hit.get("conversation", "")) or "Untitled",
        "snippet": str(hit.get("snippet", "")),
        "link": link if internal else "",
    }


def _calculate(arguments: dict, content: str) -> dict | None:
    expression = str(arguments.get("expression", "")).strip()
    return {"expression": expression, "value": content} if expression else None


def _get_date(arguments: dict, content: str) -> datetime | None:
    try:
        return datetime.fromisoformat(content.strip())
    except ValueError:
        return None


_READERS = {"search": _search, "calculate": _calculate, "get_date": _get_date}
