"""The demo model's tool use: it calls a tool on a clear intent, then answers in words.

"what is 17*23", "what's the date", "search for X", "delete this conversation",
"email bob@example.com about …", "pay 5 EUR to Alice for lunch" each become a tool call
when the request offers tools; so does "use <tool> <text or JSON arguments>" for any tool
offered (an MCP server's `notes__search_notes`, or just `search_notes`). Once the tools
have answered, it reports their results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from agents.demo.answer import DemoAnswer

Call = dict[str, str]

_CALCULATION = re.compile(
    r"\b(?:what(?:'s| is)|calculate|compute)\s+([-+*/().%^\d\s]*\d[-+*/().%^\d\s]*?)\s*\??\s*$",
    re.IGNORECASE,
)
_DATE = re.compile(r"\bwhat(?:'s| is)\b.*\b(?:date|time|day)\b", re.IGNORECASE)
_SEARCH = re.compile(
    r"^\s*(?:please\s+)?search\s+(?:my conversations\s+)?(?:for\s+)?(.+?)[.?!]*\s*$",
    re.IGNORECASE,
)
_DELETE = re.compile(
    r"\bdelete\s+(?:this conversation|the current conversation|conversation\s+#?(\d+))",
    re.IGNORECASE,
)
_EMAIL = re.compile(
    r"\bemail\s+([\w.+-]+@[\w-]+(?:\.[\w-]+)+)[\s:,-]*(?:about\s+)?(.*)$",
    re.IGNORECASE | re.DOTALL,
)
_USE = re.compile(
    r"^\s*(?:please\s+)?use\s+(?:the\s+tool\s+)?([\w-]+)\s*:?\s*(.*?)\s*$", re.I | re.S
)
_PAYMENT = re.compile(
    r"\bpay\s+(\d+(?:\.\d{1,2})?)\s*([A-Za-z]{3})\s+to\s+(.+?)(?:\s+for\s+(.+?))?[.!]?\s*$",
    re.IGNORECASE,
)


def respond(body: dict[str, Any]) -> DemoAnswer | None:
    """Answer with a tool call or with the tools' results; None if there is neither."""
    messages = body.get("messages") or []
    if not body.get("tools") or not messages:
        return None
    last = messages[-1]
    if last.get("role") == "tool":
        return DemoAnswer(text=report(messages))
    if last.get("role") != "user":
        return None
    text = str(last.get("content") or "")
    # "use <tool>" names its tool outright, so it comes before guessing from the words.
    found = [_use(text, body["tools"])] + [intent(text, messages) for intent in _INTENTS]
    call = next((c for c in found if c is not None), None)
    if call is None:
        return None
    call["id"] = f"call_demo_{len(messages)}_{call['name']}"
    return DemoAnswer(tool_calls=[call])


def _call(name: str, **arguments: Any) -> Call:
    return {"name": name, "arguments": json.dumps(arguments)}


def _calculate(text: str, messages: list[dict]) -> Call | None:
    match = _CALCULATION.search(text)
    return _call("calculate", expression=match.group(1).strip()) if match else None


def _date(text: str, messages: list[dict]) -> Call | None:
    return _call("get_date") if _DATE.search(text) else None


def _search(text: str, messages: list[dict]) -> Call | None:
    match = _SEARCH.match(text)
    return _call("search", query=match.group(1).strip("\"'")) if match else None


def _delete(text: str, messages: list[dict]) -> Call | None:
    match = _DELETE.search(text)
    if not match:
        return None
    # 0 is "the current conversation": the tool knows which one that is.
    return _call("delete_conversation", conversation_id=int(match.group(1) or 0))


def _use(text: str, offered: list[dict]) -> Call | None:
    """ "use <tool> …": the rest is the JSON arguments, or the text of its first string
    argument."""
    match = _USE.match(text)
    functions = [t.get("function") or {} for t in offered]
    wanted = match.group(1) if match else ""
    named = [f for f in functions if wanted and wanted in (f.get("name"), _short_name(f))]
    if len(named) != 1:
        return None
    rest = match.group(2)
    if rest.startswith("{"):
        return {"name": named[0]["name"], "arguments": rest}
    field = _first_text_argument(named[0].get("parameters") or {})
    return _call(named[0]["name"], **({field: rest} if field and rest else {}))


def _short_name(function: dict) -> str:
    return str(function.get("name", "")).partition("__")[2]


def _first_text_argument(schema: dict) -> str | None:
    properties = schema.get("properties") or {}
    required = [name for name in schema.get("required") or () if name in properties]
    texts = [n for n in [*required, *properties] if properties[n].get("type") == "string"]
    return texts[0] if texts else None


def _email(text: str, messages: list[dict]) -> Call | None:
    match = _EMAIL.search(text)
    if not match:
        return None
    body = match.group(2).strip() or "Hello from the chat."
    subject = " ".join(body.split()[:6])
    return _call("send_email", to=match.group(1), subject=subject, body=body)


def _payment(text: str, messages: list[dict]) -> Call | None:
    match = _PAYMENT.search(text)
    if not match:
        return None
    amount, currency, recipient, memo = match.groups()
    return _call(
        "make_payment",
        recipient=recipient.strip(),
        amount=amount,
        currency=currency.upper(),
        memo=(memo or "").strip(),
    )


_INTENTS: list[Callable[[str, list[dict]], Call | None]] = [
    _delete,
    _email,
    _payment,
    _search,
    _date,
    _calculate,
]


def report(messages: list[dict[str, Any]]) -> str:
    """Say in words what the tools of the last round returned."""
    start = max((i for i, m in enumerate(messages) if m.get("tool_calls")), default=-1)
    calls = {c["id"]: c["function"] for c in messages[start].get("tool_calls") or ()}
    lines = [
        f"- `{calls.get(m.get('tool_call_id'), {}).get('name', 'tool')}`: {m.get('content')}"
        for m in messages[start + 1 :]
        if m.get("role") == "tool"
    ]
    return "**Demo model (offline).** Here is what the tools said:\n\n" + "\n".join(lines)
