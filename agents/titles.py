"""Conversation titles written by the model from the first exchange."""

from __future__ import annotations

from typing import Any

from agents import gateway
from agents.demo import DemoAnswer
from agents.events import CallContext

TITLE_INSTRUCTION = (
    "Write a short title (at most six words) for the conversation below. "
    "Answer with the title only: no quotes, no full stop."
)
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


def demo_title(body: dict[str, Any]) -> DemoAnswer | None:
    """The demo model's titles: the first few words of the user's first message."""
    messages = body.get("messages") or []
    if not messages or messages[0].get("content") != TITLE_INSTRUCTION:
        return None
    exchange = str(messages[-1].get("content") or "")
    question = exchange.removeprefix("User: ").split("\n\nAssistant:")[0]
    words = question.split()[:5]
    return DemoAnswer(text=" ".join(words).title() if words else "Demo conversation")
