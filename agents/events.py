"""Typed events that a model call yields, from the gateway up to the chat turn."""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who a model call is for and why: every gateway call takes one.

    `purpose` is one of chat, summary, classify, extract, title.
    """

    purpose: str = "chat"
    user_id: int | None = None
    conversation_id: int | None = None
    bypass_cache: bool = False
    # The assistant message a chat call answers, so its usage row can point at it.
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply's text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning: shown apart, never part of the answer, never
    stored as content nor sent back to the model."""

    text: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user may want to know about how the call ran (a capability the
    model turned out not to have), worded for them."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call the model asked for; `arguments` is the raw JSON text.

    `extra` holds what the provider added to the call (Gemini's `extra_content` with its
    thought signature); it goes back to the provider exactly as it came.
    """

    id: str
    name: str
    arguments: str
    extra: dict | None = None


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The tool calls of one response, all together, after its text."""

    calls: tuple[ToolCall, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one model call; `estimated` when the upstream sent none."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    estimated: bool = False
    # USD, filled in by the gateway; None means the model has no price (unpriced).
    cost: Decimal | None = None
    cache_hit: bool = False
    # Of the completion tokens, how many the model spent reasoning (when reported).
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Finished:
    """The call ended normally; `model` is the model that actually served it."""

    model: str
    finish_reason: str | None


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole non-streamed answer."""

    text: str
    usage: Usage
    model: str
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class Waiting:
    """The call is queued for upstream capacity (the global rate limit) for `seconds`."""

    seconds: float


Event = TextDelta | ReasoningDelta | Notice | ToolCalls | Usage | Finished | Waiting


@dataclass(frozen=True, slots=True)
class Parsed:
    """A structured answer: `value` is an instance of the schema the call asked for."""

    value: object
    usage: Usage
    model: str


# What the agent loop adds on top of a model call's events (see agents/loop.py).


@dataclass(frozen=True, slots=True)
class ToolRound:
    """A response ended in tool calls; `text` is what it said before them."""

    text: str
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool call's answer, as sent back to the model (`ok` is False for errors)."""

    call: ToolCall
    content: str
    ok: bool = True


@dataclass(frozen=True, slots=True)
class ConfirmationNeeded:
    """A sensitive call that must wait for the owner's decision; it has not run."""

    call: ToolCall
    arguments: dict


@dataclass(frozen=True, slots=True)
class RoundCapReached:
    """The model kept calling tools for `rounds` rounds without answering."""

    rounds: int


AgentEvent = Event | ToolRound | ToolResult | ConfirmationNeeded | RoundCapReached
