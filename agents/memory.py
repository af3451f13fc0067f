"""Memory for long conversations: the history budget and the summarising call.

A prompt carries the system prompt, then the running summary of older messages, then
the recent messages verbatim. When the summary and the recent messages together pass
the history budget (or the recent messages pass the message cap), the older part of
the recent messages is folded into a new summary, off the hot path, after the reply.
This module knows nothing of the database: `conversations.summaries` does that part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from agents import gateway, tokens
from agents.events import CallContext, Completion
from agents.prompts import SUMMARY_HEADING, SUMMARY_INSTRUCTIONS

# Context windows of well-known models, by name prefix (longest prefix wins). Any other
# model (Ollama, vLLM, ...) is assumed to have DEFAULT_CONTEXT_WINDOW unless
# LLM_CONTEXT_WINDOW says otherwise.
CONTEXT_WINDOWS = {
    "gpt-4o": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
}
DEFAULT_CONTEXT_WINDOW = 8_192
# Past this, a longer history mostly costs money: the summary carries the rest.
MAX_DEFAULT_BUDGET = 8_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One message as the summariser sees it: any role (user, assistant, tool...)."""

    id: int
    role: str
    content: str

    @property
    def tokens(self) -> int:
        return tokens.estimate_tokens(self.content) + tokens.MESSAGE_OVERHEAD


def context_window(model: str) -> int:
    """The model's context window in tokens: the setting, else the known size."""
    if settings.LLM_CONTEXT_WINDOW:
        return settings.LLM_CONTEXT_WINDOW
    matches = [prefix for prefix in CONTEXT_WINDOWS if model.startswith(prefix)]
    return CONTEXT_WINDOWS[max(matches, key=len)] if matches else DEFAULT_CONTEXT_WINDOW


def history_budget(model: str) -> int:
    """Tokens of history (summary plus recent messages) a prompt may carry.

    By default a quarter of the context window, leaving the rest for the system
    prompt, the new message, tools and the reply, and at most MAX_DEFAULT_BUDGET.
    """
    if settings.CHAT_HISTORY_TOKENS:
        return settings.CHAT_HISTORY_TOKENS
    return min(context_window(model) // 4, MAX_DEFAULT_BUDGET)


def summary_words(model: str) -> int:
    """How long a summary may be: it takes at most a quarter of the history budget."""
    return max(50, history_budget(model) // 4 * 3 // 4)


def needs_folding(summary_tokens: int, recent: Sequence[Entry], *, model: str) -> bool:
    """Whether the history has outgrown its token budget or its message cap."""
    tokens = summary_tokens + sum(entry.tokens for entry in recent)
    return tokens > history_budget(model) or len(recent) > settings.CHAT_HISTORY_MAX_MESSAGES


def fold_count(recent: Sequence[Entry], *, model: str) -> int:
    """How many of the oldest recent messages to fold: at least the older half, and
    enough that what stays verbatim fits in half the budget and half the message cap."""
    keep_tokens = history_budget(model) // 2
    keep_messages = max(1, settings.CHAT_HISTORY_MAX_MESSAGES // 2)
    count = len(recent) // 2
    while count < len(recent) - 1 and (
        sum(entry.tokens for entry in recent[count:]) > keep_tokens
        or len(recent) - count > keep_messages
    ):
        count += 1
    return count


def newest_within(entries: Sequence[Entry], limit: int) -> list[Entry]:
    """The newest entries that fit in `limit` tokens (the newest one always).

    A safety net for when summarising falls behind (the summariser is down): the
    prompt stays bounded; folding later still covers what is left out here.
    """
    kept: list[Entry] = []
    total = 0
    for entry in reversed(entries):
        total += entry.tokens
        if kept and total > limit:
            break
        kept.append(entry)
    return kept[::-1]


def summary_request(previous: str, entries: Sequence[Entry], *, model: str) -> list[dict]:
    """The messages of a summarising call: instructions, then the text to fold."""
    transcript = "\n\n".join(f"{entry.role.title()}: {entry.content}" for entry in entries)
    text = (
        f"Previous summary:\n{previous or '(none yet)'}\n\n"
        f"New messages:\n{transcript}\n\nWrite the updated summary."
    )
    return [
        {"role": "system", "content": SUMMARY_INSTRUCTIONS.format(words=summary_words(model))},
        {"role": "user", "content": text},
    ]


async def summarise(
    previous: str, entries: Sequence[Entry], *, model: str, context: CallContext
) -> Completion:
    """Fold `entries` into `previous` with one model call. Raises `GatewayError`."""
    messages = summary_request(previous, entries, model=model)
    return await gateway.complete(messages, model=model, context=context)


def summary_message(text: str) -> dict:
    """The summary as it goes into a prompt: a second system message."""
    return {"role": "system", "content": f"{SUMMARY_HEADING}\n{text}"}
