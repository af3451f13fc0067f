"""The demo model's structured answers: contacts by simple patterns, categories by keywords.

A request with a `json_schema` response format names its schema (the SDK sends the
Pydantic class name); these responders answer the two schemas the app asks for with
schema-valid JSON. Deterministic, so new users and tests see the same thing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agents.demo.answer import DemoAnswer

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")
NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b")
COMPANY = re.compile(r"\b(?:at|from|of|with)\s+([A-Z][\w&]*(?:\s+[A-Z][\w&]*)*)")
# Where a turn starts in a classification transcript ("User: …", "Assistant: …").
TURN = re.compile(r"\n\n(?=(?:User|Assistant): )")
# Capitalised words that start sentences rather than names.
NOT_NAMES = {
    "Ask", "Call", "Contact", "Dear", "Email", "Hello", "Hi", "Meet", "Phone", "Please",
    "Regards", "Reach", "Talk", "Thanks", "Write",
}  # fmt: skip
# A contact is read from one piece of text: a line, or a sentence, or a list item.
PIECE = re.compile(r"[^\n;.]+(?:\.(?=\w)[^\n;.]*)*")

KEYWORDS = {
    "complaint": (
        "unacceptable", "terrible", "awful", "worst", "angry", "disappointed", "complain",
        "furious", "useless", "rude",
    ),
    "billing": (
        "invoice", "refund", "charge", "charged", "payment", "price", "pricing", "bill",
        "billing", "subscription", "paid", "pay",
    ),
    "technical": (
        "error", "bug", "crash", "install", "code", "server", "api", "python", "exception",
        "broken", "timeout", "database", "configure", "login",
    ),
}  # fmt: skip


def respond(body: dict[str, Any]) -> DemoAnswer | None:
    """Answer `ContactList` and `Classification` requests; pass on everything else."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "json_schema":
        return None
    name = (response_format.get("json_schema") or {}).get("name")
    text = _last_user_text(body.get("messages") or [])
    if name == "ContactList":
        return DemoAnswer(text=json.dumps({"contacts": find_contacts(text)}))
    if name == "Classification":
        return DemoAnswer(text=json.dumps(classify_text(_said_by_user(text))))
    return None


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    return str((last or {}).get("content") or "")


def _said_by_user(transcript: str) -> str:
    """Leave out the assistant's turns: the demo's own sample reply is not the subject."""
    turns = TURN.split(transcript)
    return "\n\n".join(t for t in turns if not t.startswith("Assistant:"))


def find_contacts(text: str) -> list[dict[str, str | None]]:
    """One contact per piece of text that holds an email or a phone number."""
    found = []
    for piece in PIECE.findall(text):
        email, phone = EMAIL.search(piece), PHONE.search(piece)
        if not (email or phone):
            continue
        rest = EMAIL.sub(" ", piece)
        company = COMPANY.search(rest)
        if company:
            rest = rest.replace(company.group(1), " ")
        found.append(
            {
                "name": _name_in(rest),
                "email": email.group(0) if email else None,
                "phone": phone.group(0).strip() if phone else None,
                "company": company.group(1) if company else None,
            }
        )
    return found


def _name_in(text: str) -> str | None:
    """The first run of two or more capitalised words, sentence starters left out."""
    for match in NAME.finditer(text):
        words = match.group(0).split()
        while words and words[0] in NOT_NAMES:
            words.pop(0)
        if len(words) >= 2:
            return " ".join(words)
    return None


def classify_text(text: str) -> dict[str, Any]:
    """The category whose keywords occur most (general when none do), with a confidence."""
    words = re.findall(r"[a-z]+", text.lower())
    hits = {category: [w for w in words if w in keys] for category, keys in KEYWORDS.items()}
    category, matched = max(hits.items(), key=lambda item: len(item[1]))
    if not matched:
        return {
            "category": "general",
            "confidence": 0.6,
            "reasoning": "No support keywords found, so it reads as a general question.",
        }
    confidence = min(0.95, 0.55 + 0.15 * len(matched))
    said = ", ".join(sorted(set(matched)))
    return {
        "category": category,
        "confidence": round(confidence, 2),
        "reasoning": f"Mentions {said}.",
    }
