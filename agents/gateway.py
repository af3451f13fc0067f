"""The one door to the model: every call in the app goes through this module.

It owns one lazily built `AsyncOpenAI` client (or the offline demo model handed to the
same SDK as a transport), maps provider errors to `GatewayError`, and turns streams
into typed events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx2
import openai
import pydantic
from django.conf import settings

from agents.demo import DemoTransport
from agents.errors import GatewayError, InvalidOutput, Refused, StreamCut
from agents.events import (
    CallContext,
    Completion,
    Event,
    Finished,
    Parsed,
    TextDelta,
    ToolCall,
    ToolCalls,
    Usage,
)

DEMO_LABEL = "Demo model (offline)"

_client: openai.AsyncOpenAI | None = None


def get_client() -> openai.AsyncOpenAI:
    """The shared client, built on first use from settings."""
    global _client
    if _client is None:
        _client = _build_client()
    return _client


def _build_client() -> openai.AsyncOpenAI:
    options: dict[str, Any] = {
        "timeout": settings.LLM_TIMEOUT,
        "max_retries": settings.LLM_MAX_RETRIES,
    }
    if settings.LLM_DEMO:
        transport = DemoTransport(token_delay=settings.LLM_DEMO_TOKEN_DELAY)
        options["http_client"] = httpx2.AsyncClient(transport=transport)
        return openai.AsyncOpenAI(api_key="demo", base_url="http://demo.invalid/v1", **options)
    return openai.AsyncOpenAI(
        api_key=settings.OPENAI_API_KEY or "not-needed",
        base_url=settings.OPENAI_BASE_URL or None,
        **options,
    )


def reset_client_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    """Drop the client when a test or a reload changes the settings it was built from."""
    global _client
    if setting.startswith(("OPENAI_", "LLM_")):
        _client = None


def model_label(model: str) -> str:
    """How a model is named in the UI."""
    return DEMO_LABEL if settings.LLM_DEMO else model


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) for when none is reported."""
    return max(1, (len(text) + 3) // 4) if text else 0


def estimate_prompt_tokens(messages: Iterable[dict[str, Any]]) -> int:
    return sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in messages)


async def stream_chat(
    messages: list[dict[str, Any]],
    *,
    model: str,
    context: CallContext | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> AsyncIterator[Event]:
    """Stream one chat completion as events: deltas, tool calls, usage, then `Finished`.

    Raises `GatewayError` (whatever was already yielded is the caller's to keep).
    """
    client = get_client()
    extra = {"tools": tools} if tools else {}
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            **extra,
        )
    except openai.APIError as exc:
        raise map_error(exc) from exc
    try:
        async with stream:
            async for event in _events_from_stream(stream, messages, model):
                yield event
    except openai.APITimeoutError as exc:
        raise GatewayError("The model stopped sending mid-reply.", retryable=True) from exc
    except (openai.APIConnectionError, httpx2.HTTPError) as exc:
        raise StreamCut() from exc
    except openai.APIError as exc:
        raise map_error(exc) from exc


async def complete(
    messages: list[dict[str, Any]],
    *,
    model: str,
    context: CallContext | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> Completion:
    """One non-streamed chat completion (summaries, titles, background work)."""
    extra = {"tools": tools} if tools else {}
    try:
        response = await get_client().chat.completions.create(
            model=model, messages=messages, **extra
        )
    except openai.APIError as exc:
        raise map_error(exc) from exc
    message = response.choices[0].message
    calls = tuple(
        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "")
        for c in message.tool_calls or ()
    )
    text = message.content or ""
    usage = (
        _usage_from(response.usage)
        if response.usage
        else Usage(estimate_prompt_tokens(messages), estimate_tokens(text), estimated=True)
    )
    return Completion(text=text, usage=usage, model=response.model or model, tool_calls=calls)


async def parse(
    messages: list[dict[str, Any]],
    *,
    model: str,
    context: CallContext | None = None,
    schema: type[pydantic.BaseModel],
) -> Parsed:
    """One structured answer: the model's JSON validated into an instance of `schema`.

    Raises `Refused` when the model declines, `InvalidOutput` when its answer is not
    valid JSON or breaks the schema, and `GatewayError` for upstream errors; nothing
    half-valid is ever returned.
    """
    try:
        response = await get_client().chat.completions.parse(
            model=model, messages=messages, response_format=schema
        )
    except openai.APIError as exc:
        raise map_error(exc) from exc
    except pydantic.ValidationError as exc:
        raise InvalidOutput(str(exc)) from exc
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
        # A cut or filtered answer is not a usable result either.
        raise InvalidOutput(str(exc)) from exc
    message = response.choices[0].message
    if message.refusal:
        raise Refused(message.refusal)
    if message.parsed is None:
        raise InvalidOutput("The answer was empty.")
    usage = (
        _usage_from(response.usage)
        if response.usage
        else Usage(estimate_prompt_tokens(messages), estimate_tokens(message.content or ""), True)
    )
    return Parsed(value=message.parsed, usage=usage, model=response.model or model)


class _ToolCallBuffer:
    """Tool calls arrive in pieces across chunks, keyed by index; join them up."""

    def __init__(self) -> None:
        self.parts: dict[int, dict[str, Any]] = {}

    def add(self, delta: Any) -> None:
        entry = self.parts.setdefault(delta.index, {"id": "", "name": "", "arguments": []})
        entry["id"] = delta.id or entry["id"]
        if delta.function is not None:
            entry["name"] = delta.function.name or entry["name"]
            entry["arguments"].append(delta.function.arguments or "")

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(id=p["id"], name=p["name"], arguments="".join(p["arguments"]))
            for _, p in sorted(self.parts.items())
        )


async def _events_from_stream(
    stream: Any, messages: list[dict[str, Any]], model: str
) -> AsyncIterator[Event]:
    usage: Usage | None = None
    finish_reason: str | None = None
    served = model
    completion_chars = 0
    tool_calls = _ToolCallBuffer()
    async for chunk in stream:
        served = chunk.model or served
        if chunk.usage is not None:
            usage = _usage_from(chunk.usage)
        for choice in chunk.choices:
            delta = choice.delta
            if delta and delta.content:
                completion_chars += len(delta.content)
                yield TextDelta(delta.content)
            for call in (delta.tool_calls if delta else None) or ():
                tool_calls.add(call)
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    if finish_reason is None:
        raise StreamCut()
    if tool_calls.parts:
        yield ToolCalls(tool_calls.calls())
    if usage is None:
        usage = Usage(
            prompt_tokens=estimate_prompt_tokens(messages),
            completion_tokens=max(1, completion_chars // 4),
            estimated=True,
        )
    yield usage
    yield Finished(model=served, finish_reason=finish_reason)


def _usage_from(raw: Any) -> Usage:
    details = getattr(raw, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", 0) or 0
    return Usage(
        prompt_tokens=raw.prompt_tokens or 0,
        completion_tokens=raw.completion_tokens or 0,
        cached_tokens=cached,
    )


def map_error(exc: openai.APIError) -> GatewayError:
    """Turn an SDK error into a `GatewayError` with a message fit for the user."""
    if isinstance(exc, openai.APITimeoutError):
        return GatewayError("The model did not answer in time.", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return GatewayError("Could not reach the model server.", retryable=True)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.AuthenticationError):
        return GatewayError("The model server rejected the API key.", status=status)
    if isinstance(exc, openai.RateLimitError):
        return GatewayError(
            "The model server is rate limiting requests; try again shortly.",
            retryable=True,
            status=status,
        )
    if isinstance(exc, openai.NotFoundError):
        return GatewayError(
            "The model server does not know this model.", retryable=True, status=status
        )
    if isinstance(exc, openai.InternalServerError):
        return GatewayError("The model server had an error.", retryable=True, status=status)
    if isinstance(exc, openai.BadRequestError):
        return GatewayError("The model server refused the request as invalid.", status=status)
    return GatewayError("The model call failed.", status=status)
