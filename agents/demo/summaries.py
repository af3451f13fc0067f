"""The demo model's summaries: deterministic, keeping the first sentence of each thing
the user said, so long conversations show their summary offline."""

from __future__ import annotations

import re
from typing import Any

from agents.demo.answer import DemoAnswer
from agents.prompts import SUMMARY_MARKER

_FIRST_SENTENCE = re.compile(r"^.*?[.!?](?=\s|$)")
_USER_LINE = re.compile(r"^User: (.+)$", re.MULTILINE)
_WORD_LIMIT = re.compile(r"at most (\d+) words")
_PREVIOUS = re.compile(r"Previous summary:\n(.*?)\n\nNew messages:", re.DOTALL)


def respond(body: dict[str, Any]) -> DemoAnswer | None:
    """Answer a summarising request (recognised by its marker) with a summary."""
    messages = body.get("messages") or []
    if not messages or not str(messages[0].get("content") or "").startswith(SUMMARY_MARKER):
        return None
    request = str(messages[-1].get("content") or "")
    facts = _previous_facts(request) + [
        _first_sentence(said) for said in _USER_LINE.findall(request)
    ]
    limit = _WORD_LIMIT.search(str(messages[0].get("content")))
    facts = _within_words(list(dict.fromkeys(facts)), int(limit.group(1)) if limit else 300)
    lines = "\n".join(f"- {fact}" for fact in facts)
    return DemoAnswer(text=f"The user said:\n{lines}")


def _within_words(facts: list[str], words: int) -> list[str]:
    """Follow the length instruction like a model would: keep the newest facts."""
    kept: list[str] = []
    for fact in reversed(facts):
        words -= len(fact.split())
        if kept and words < 0:
            break
        kept.append(fact)
    return kept[::-1]


def _previous_facts(request: str) -> list[str]:
    found = _PREVIOUS.search(request)
    text = found.group(1) if found else ""
    return [line[2:] for line in text.splitlines() if line.startswith("- ")]


def _first_sentence(text: str) -> str:
    text = text.strip()
    match = _FIRST_SENTENCE.match(text)
    sentence = match.group(0) if match else text
    return sentence if len(sentence) <= 200 else sentence[:199] + "…"
