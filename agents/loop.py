"""The agent loop: ask the model, run the tools it calls, ask again, until it answers.

`run_agent` is an async generator of typed events (agents/events.py). It never runs a
sensitive tool: such a call becomes `ConfirmationNeeded` and the turn pauses, to be
resumed by the owner's decision (conversations/confirmations.py). Unknown tools, bad
arguments and tool failures go back to the model as tool results; none ends the turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.conf import settings

from agents import gateway, tools
from agents.events import (
    AgentEvent,
    CallContext,
    ConfirmationNeeded,
    Notice,
    RoundCapReached,
    TextDelta,
    ToolCall,
    ToolCalls,
    ToolResult,
    ToolRound,
)
from agents.tools import ToolContext, ToolError, Toolset

CAP_RESULT = "Not run: the assistant reached its limit of tool rounds for this turn."


async def run_agent(
    messages: list[dict[str, Any]],
    *,
    model: str,
    context: CallContext,
    tool_context: ToolContext,
    max_rounds: int | None = None,
    next_round: Callable[[], Awaitable[CallContext]] | None = None,
) -> AsyncIterator[AgentEvent]:
    """Model, tools, model again, at most `max_rounds` model calls (AGENT_MAX_ROUNDS).

    Before each round after the first, `next_round` (when given) is awaited for the
    context of that round's call: the caller opens the round's message there, so each
    round's usage row points at its own message.
    """
    messages = list(messages)
    max_rounds = max_rounds or settings.AGENT_MAX_ROUNDS
    # Fixed for the whole run: a tool the model saw offered is the tool its call runs.
    offered = await tools.toolset(tool_context)
    for notice in offered.notices:
        yield Notice(notice)
    schemas = offered.schemas()
    for round_number in range(1, max_rounds + 1):
        text: list[str] = []
        calls: tuple[ToolCall, ...] = ()
        stream = gateway.stream_chat(messages, model=model, context=context, tools=schemas)
        async for event in stream:
            if isinstance(event, ToolCalls):
                calls = event.calls
                continue
            if isinstance(event, TextDelta):
                text.append(event.text)
            yield event
        if not calls:
            return
        yield ToolRound("".join(text), calls)
        messages.append(assistant_message("".join(text), [call_dict(c) for c in calls]))
        if round_number == max_rounds:
            for call in calls:
                yield ToolResult(call, CAP_RESULT, ok=False)
            yield RoundCapReached(max_rounds)
            return
        outcomes = await run_calls(calls, tool_context, offered)
        for outcome in outcomes:
            yield outcome
            if isinstance(outcome, ToolResult):
                messages.append(tool_message(outcome.call.id, outcome.content))
        if any(isinstance(o, ConfirmationNeeded) for o in outcomes):
            return  # the turn waits for the owner's decisions
        if next_round is not None:
            context = await next_round()


async def run_calls(
    calls: tuple[ToolCall, ...], context: ToolContext, offered: Toolset
) -> list[ToolResult | ConfirmationNeeded]:
    """Run a response's calls side by side; sensitive ones only become requests."""
    return list(await asyncio.gather(*(run_call(call, context, offered) for call in calls)))


async def run_call(
    call: ToolCall, context: ToolContext, offered: Toolset
) -> ToolResult | ConfirmationNeeded:
    """One call of a tool the turn offered; a tool not offered is an error for the model."""
    try:
        tool = offered.get(call.name)
        arguments = tool.parse_arguments(call.arguments)
    except ToolError as exc:
        return ToolResult(call, f"Error: {exc}", ok=False)
    if tool.is_sensitive:
        return ConfirmationNeeded(call, arguments)
    outcome = await tools.call(tool, arguments, context)
    return ToolResult(call, outcome.for_model, ok=outcome.ok)


def call_dict(call: ToolCall) -> dict[str, Any]:
    """A tool call as stored with its message: {"id", "name", "arguments"}, plus
    "extra" when the provider added fields it wants back (Gemini's thought signature)."""
    stored: dict[str, Any] = {"id": call.id, "name": call.name, "arguments": call.arguments}
    if call.extra:
        stored["extra"] = call.extra
    return stored


def assistant_message(text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """An assistant turn with tool calls (as `call_dict`s), as the chat API wants it;
    a call's provider extras go back beside its standard fields, exactly as they came."""
    wire = [
        {
            **(c.get("extra") or {}),
            "id": c["id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"]},
        }
        for c in calls
    ]
    return {"role": "assistant", "content": text or None, "tool_calls": wire}


def tool_message(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}
