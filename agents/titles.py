"""Conversation titles written by the model from the first exchange."""

from __future__ import annotations

from agents import gateway
from agents.events import CallContext
from agents.prompts import TITLE_INSTRUCTION

TITLE_MAX_CHARS = 80
_EXCERPT_CHARS = 2000


async def suggest_title(question: str, answer: str, *, model: str, context: CallContext) -> str:
    """A title for a conversation that starts with `question` and `answer` ("" if none)."""
    messages = [
        {"role": "system", "content": TITLE_INSTRUCTION},
        {
            "role": "user",
            "content": f"User: {question[:_EXCERPT_CHARS]}\n\nAssistant: {answer[:_EXCERPT_CHARS]}",
        },
    ]
    completion = await gateway.complete(messages, model=model, context=context)
    return clean_title(completion.text)


def clean_title(text: str) -> str:
    """One line, no wrapping quotes or trailing full stop, a sane length."""
    line = " ".join(text.split()).strip("\"'“”‘’ ").rstrip(".")
    return line[:TITLE_MAX_CHARS].strip()
