"""Typed events that a model call yields, from the gateway up to the chat turn."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply's text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one model call; `estimated` when the upstream sent none."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Finished:
    """The call ended normally; `model` is the model that actually served it."""

    model: str
    finish_reason: str | None


Event = TextDelta | Usage | Finished
