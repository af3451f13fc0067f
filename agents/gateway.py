"""The one door to the model: every call in the app goes through this module.

It owns one lazily built `AsyncOpenAI` client (or the offline demo model handed to the
same SDK as a transport), maps provider errors to `GatewayError`, and turns streams
into typed events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx2
import openai
import pydantic
from django.conf import settings

from agents import cache, fallback, limits, usage
from agents.demo import DemoTransport, split_tokens
from agents.errors import (
    Blocked,
    GatewayError,
    InvalidOutput,
    Refused,
    StreamCut,
    StructuredOutputError,
)
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
from agents.models import UsageRecord
from agents.usage import Call, estimate_prompt_tokens, estimate_tokens
from chatsite import db

logger = logging.getLogger(__name__)
Outcome = UsageRecord.Outcome

DEMO_LABEL = "Demo model (offline)"


class _Client(openai.AsyncOpenAI):
    """The SDK client, except that a Retry-After above LLM_RETRY_AFTER_MAX is not
    waited out: the call fails fast and the fallback chain or the user decides."""

    def _should_retry(self, response: httpx2.Response) -> bool:
        wait = self._parse_retry_after_header(response.headers)
        if wait is not None and wait > settings.LLM_RETRY_AFTER_MAX:
            return False
        return super()._should_retry(response)


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
        return _Client(api_key="demo", base_url="http://demo.invalid/v1", **options)
    return _Client(
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


async def stream_chat(
    messages: list[dict[str, Any]],
    *,
    model: str,
    context: CallContext | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> AsyncIterator[Event]:
    """Stream one chat completion as events: deltas, tool calls, usage, then `Finished`.

    Layers, in order: budget, per-user rate limit, response cache, upstream capacity
    (yielding `Waiting`), fallback chain, upstream; one usage row is written however
    the call ends. Raises `GatewayError` (whatever was yielded is the caller's to keep).
    """
    call = Call(context or CallContext(), model, messages)
    try:
        key = cache.key_for(call.context, model, messages, tools=tools, stream=True)
        tokens = estimate_prompt_tokens(messages)
        cached, wait = await db.run(_before_call, call, key, tokens)
        if cached is not None:
            async for event in _replay(cached, call):
                yield event
            return
        async for event in limits.wait_for_capacity(tokens, wait, call.hold):
            yield event
        answer = _Answer()
        async for event in _stream_with_fallback(messages, tools, call):
            answer.add(event)
            yield event
        if key is not None:
            await db.run(cache.put, key, answer.stored(call))
    except GatewayError as exc:
        _failed(call, exc)
        raise
    except (asyncio.CancelledError, GeneratorExit):
        call.outcome = Outcome.STOPPED
        raise
    finally:
        await usage.record(call)


async def complete(
    messages: list[dict[str, Any]],
    *,
    model: str,
    context: CallContext | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> Completion:
    """One non-streamed chat completion (summaries, titles, background work), through
    the same layers as `stream_chat`."""
    call = Call(context or CallContext(), model, messages)
    async with _recorded(call):
        key = cache.key_for(call.context, model, messages, tools=tools, stream=False)
        tokens = estimate_prompt_tokens(messages)
        cached, wait = await db.run(_before_call, call, key, tokens)
        if cached is not None:
            return await _completion_from_cache(cached, call)
        async for _waiting in limits.wait_for_capacity(tokens, wait, call.hold):
            pass
        result = await _complete_with_fallback(messages, tools, call)
        if key is not None:
            await db.run(cache.put, key, _stored_completion(result, call))
        return result


@contextlib.asynccontextmanager
async def _recorded(call: Call) -> AsyncIterator[Call]:
    """Note how a non-streamed call ended, and always write its usage row."""
    try:
        yield call
    except GatewayError as exc:
        _failed(call, exc)
        raise
    except asyncio.CancelledError:
        call.outcome = Outcome.STOPPED
        raise
    finally:
        await usage.record(call)


def _before_call(call: Call, key: str | None, tokens: int) -> tuple[dict | None, float]:
    """The layers before the upstream, in one trip to a database thread: budget and
    per-user rate (raising `Blocked`), then the response cache, then the upstream's
    capacity. Returns a cached answer, or the seconds to wait for capacity (0: go)."""
    call.hold = limits.check(call.context.user_id, model=call.model_requested, tokens=tokens)
    cached = cache.get(key)
    if cached is not None:
        return cached, 0.0
    return None, limits.admit(tokens, call.hold)


def _failed(call: Call, exc: GatewayError) -> None:
    if isinstance(exc, Blocked):
        call.outcome = Outcome.BLOCKED
    elif isinstance(exc, StreamCut):
        call.outcome = Outcome.CUT
    elif isinstance(exc, StructuredOutputError):
        call.outcome = exc.outcome  # refused, or an invalid answer
    else:
        call.outcome = Outcome.ERROR
    call.error = exc.message


async def _stream_with_fallback(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, call: Call
) -> AsyncIterator[Event]:
    """Try each model of the chain until one answers; never after text reached the user."""
    chain = fallback.chain(call.model_requested)
    for position, model in enumerate(chain, start=1):
        try:
            async for event in _stream_priced(messages, model, tools, call):
                yield event
            return
        except GatewayError as exc:
            if call.reached_user or position == len(chain) or not fallback.worth_trying_next(exc):
                raise
            logger.warning("Model %s failed (%s); trying %s", model, exc.message, chain[position])


async def _stream_priced(
    messages: list[dict[str, Any]], model: str, tools: list[dict[str, Any]] | None, call: Call
) -> AsyncIterator[Event]:
    """One model's stream, with the usage priced for the model that served it."""
    call.model_served = model
    pending: Usage | None = None
    async for event in _stream_once(messages, model, tools, call):
        if isinstance(event, Usage):
            pending = event  # priced once `Finished` names the serving model
            continue
        if isinstance(event, TextDelta):
            call.text.append(event.text)
        elif isinstance(event, Finished):
            call.model_served = event.model
            if pending is not None:
                yield await call.priced(pending, event.model)
        yield event


async def _stream_once(
    messages: list[dict[str, Any]], model: str, tools: list[dict[str, Any]] | None, call: Call
) -> AsyncIterator[Event]:
    """One streamed request. The SDK builds and sends it (auth, retries, status errors);
    the server-sent events are read here as plain JSON, which costs a fraction of the
    SDK's typed chunk objects on every token."""
    extra = {"tools": tools} if tools else {}
    limit = settings.LLM_FIRST_TOKEN_TIMEOUT
    try:
        # The first event is due within `limit`, SDK retries included; after it only
        # the read timeout (LLM_TIMEOUT) applies.
        async with asyncio.timeout(limit or None) as first_event:
            async with get_client().chat.completions.with_streaming_response.create(
                model=model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **extra,
            ) as response:
                call.accepted = True
                async for event in _events_from_stream(_sse_payloads(response), messages, model):
                    first_event.reschedule(None)
                    yield event
    except TimeoutError as exc:
        message = f"The model did not start answering within {limit:g} s."
        raise GatewayError(message, retryable=True) from exc
    except openai.APITimeoutError as exc:
        if call.accepted:
            raise GatewayError("The model stopped sending mid-reply.", retryable=True) from exc
        raise map_error(exc) from exc
    except httpx2.TimeoutException as exc:
        raise GatewayError("The model stopped sending mid-reply.", retryable=True) from exc
    except openai.APIError as exc:
        if call.accepted and isinstance(exc, openai.APIConnectionError):
            raise StreamCut() from exc
        raise map_error(exc) from exc
    except httpx2.HTTPError as exc:
        raise StreamCut() from exc


async def _sse_payloads(response: Any) -> AsyncIterator[dict[str, Any]]:
    """The JSON payload of each server-sent event, until `[DONE]`.

    Lines are split on the raw bytes and the JSON is parsed from bytes: per token, that
    costs a fraction of decoding the stream to text and splitting it line by line.
    """
    data: list[bytes] = []
    rest = b""
    async for chunk in response.iter_bytes():
        lines = (rest + chunk).splitlines(keepends=True)
        # The last line may be cut (or be the "\r" of a "\r\n" cut in two): keep it.
        rest = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            line = line.rstrip(b"\r\n")
            if line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
                continue
            if line or not data:
                continue  # comments, other fields, keep-alive blank lines
            payload, data = b"\n".join(data), []
            if payload == b"[DONE]":
                return
            yield _decode_event(payload)


def _decode_event(text: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError:
        raise GatewayError("The model server sent a malformed reply.", retryable=True) from None
    if not isinstance(payload, dict):
        raise GatewayError("The model server sent a malformed reply.", retryable=True)
    if payload.get("error"):
        raise GatewayError("The model server had an error mid-reply.", retryable=True)
    return payload


async def _complete_with_fallback(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, call: Call
) -> Completion:
    chain = fallback.chain(call.model_requested)
    for position, model in enumerate(chain, start=1):
        try:
            return await _complete_once(messages, model, tools, call)
        except GatewayError as exc:
            if position == len(chain) or not fallback.worth_trying_next(exc):
                raise
            logger.warning("Model %s failed (%s); trying %s", model, exc.message, chain[position])
    raise AssertionError("unreachable: the chain is never empty")


async def _complete_once(
    messages: list[dict[str, Any]], model: str, tools: list[dict[str, Any]] | None, call: Call
) -> Completion:
    call.model_served = model
    extra = {"tools": tools} if tools else {}
    try:
        response = await get_client().chat.completions.create(
            model=model, messages=messages, **extra
        )
    except openai.APIError as exc:
        raise map_error(exc) from exc
    call.accepted = True
    message = response.choices[0].message
    calls = tuple(
        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "")
        for c in message.tool_calls or ()
    )
    text = message.content or ""
    reported = (
        _usage_from(response.usage)
        if response.usage
        else Usage(estimate_prompt_tokens(messages), estimate_tokens(text), estimated=True)
    )
    call.model_served = response.model or model
    priced = await call.priced(reported, call.model_served)
    return Completion(text=text, usage=priced, model=call.model_served, tool_calls=calls)


class _Answer:
    """A streamed answer put back together, to store in the response cache."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_calls: list[list[str]] = []
        self.finish_reason: str | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ToolCalls):
            self.tool_calls = [[c.id, c.name, c.arguments] for c in event.calls]
        elif isinstance(event, Finished):
            self.finish_reason = event.finish_reason

    def stored(self, call: Call) -> dict[str, Any]:
        return {
            "text": "".join(self.text),
            "tool_calls": self.tool_calls,
            "finish_reason": self.finish_reason,
            **_stored_usage(call),
        }


def _stored_completion(result: Completion, call: Call) -> dict[str, Any]:
    calls = [[c.id, c.name, c.arguments] for c in result.tool_calls]
    return {"text": result.text, "tool_calls": calls, "finish_reason": None, **_stored_usage(call)}


def _stored_usage(call: Call) -> dict[str, Any]:
    used = call.usage or Usage(0, 0)
    return {
        "model": call.model_served,
        "usage": [used.prompt_tokens, used.completion_tokens, used.cached_tokens],
        "cost": None if used.cost is None else str(used.cost),
    }


def _cache_hit(cached: dict[str, Any], call: Call) -> Usage:
    """Mark `call` as served from the cache: it costs nothing and saved the original."""
    prompt, completion, cached_tokens = cached["usage"]
    call.cache_hit, call.model_served = True, cached["model"]
    call.cost_saved = None if cached["cost"] is None else Decimal(cached["cost"])
    call.usage = Usage(prompt, completion, cached_tokens, cost=Decimal(0), cache_hit=True)
    return call.usage


async def _replay(cached: dict[str, Any], call: Call) -> AsyncIterator[Event]:
    """A cached streamed answer, streamed again token by token."""
    hit = _cache_hit(cached, call)
    for token in split_tokens(cached["text"]):
        call.text.append(token)
        yield TextDelta(token)
    if cached["tool_calls"]:
        yield ToolCalls(tuple(ToolCall(*c) for c in cached["tool_calls"]))
    yield hit
    yield Finished(model=cached["model"], finish_reason=cached["finish_reason"] or "stop")


async def _completion_from_cache(cached: dict[str, Any], call: Call) -> Completion:
    hit = _cache_hit(cached, call)
    calls = tuple(ToolCall(*c) for c in cached["tool_calls"])
    return Completion(text=cached["text"], usage=hit, model=cached["model"], tool_calls=calls)


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
    half-valid is ever returned. Budget, rate limit and the usage record apply as to
    every other call.
    """
    call = Call(context or CallContext(), model, messages)
    async with _recorded(call):
        tokens = estimate_prompt_tokens(messages)
        call.hold = await db.run(limits.check, call.context.user_id, model=model, tokens=tokens)
        return await _parse_once(messages, model, schema, call)


async def _parse_once(
    messages: list[dict[str, Any]], model: str, schema: type[pydantic.BaseModel], call: Call
) -> Parsed:
    call.model_served = model
    try:
        response = await get_client().chat.completions.parse(
            model=model, messages=messages, response_format=schema
        )
    except openai.APIError as exc:
        raise map_error(exc) from exc
    except pydantic.ValidationError as exc:
        call.accepted = True  # answered, and billed, but unusable
        raise InvalidOutput(str(exc)) from exc
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
        call.accepted = True  # a cut or filtered answer is not a usable result either
        raise InvalidOutput(str(exc)) from exc
    call.accepted = True
    message = response.choices[0].message
    reported = (
        _usage_from(response.usage)
        if response.usage
        else Usage(estimate_prompt_tokens(messages), estimate_tokens(message.content or ""), True)
    )
    call.model_served = response.model or model
    priced = await call.priced(reported, call.model_served)
    if message.refusal:
        raise Refused(message.refusal)
    if message.parsed is None:
        raise InvalidOutput("The answer was empty.")
    return Parsed(value=message.parsed, usage=priced, model=call.model_served)


class _ToolCallBuffer:
    """Tool calls arrive in pieces across chunks, keyed by index; join them up."""

    def __init__(self) -> None:
        self.parts: dict[int, dict[str, Any]] = {}

    def add(self, delta: dict[str, Any]) -> None:
        entry = self.parts.setdefault(
            delta.get("index", 0), {"id": "", "name": "", "arguments": []}
        )
        entry["id"] = delta.get("id") or entry["id"]
        function = delta.get("function") or {}
        entry["name"] = function.get("name") or entry["name"]
        entry["arguments"].append(function.get("arguments") or "")

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(id=p["id"], name=p["name"], arguments="".join(p["arguments"]))
            for _, p in sorted(self.parts.items())
        )


async def _events_from_stream(
    chunks: AsyncIterator[dict[str, Any]], messages: list[dict[str, Any]], model: str
) -> AsyncIterator[Event]:
    usage: Usage | None = None
    finish_reason: str | None = None
    served = model
    completion_chars = 0
    tool_calls = _ToolCallBuffer()
    async for chunk in chunks:
        served = chunk.get("model") or served
        if chunk.get("usage"):
            usage = _usage_from(chunk["usage"])
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if content := delta.get("content"):
                completion_chars += len(content)
                yield TextDelta(content)
            for part in delta.get("tool_calls") or ():
                tool_calls.add(part)
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
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
    """Usage from the wire (a dict) or from an SDK object (non-streamed calls)."""
    if not isinstance(raw, dict):
        raw = raw.model_dump()
    details = raw.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=raw.get("prompt_tokens") or 0,
        completion_tokens=raw.get("completion_tokens") or 0,
        cached_tokens=details.get("cached_tokens") or 0,
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
        wait = _retry_after(exc)
        if wait is not None and wait > settings.LLM_RETRY_AFTER_MAX:
            return GatewayError(
                f"The model server is busy and asks to wait {wait:.0f} s; try again later.",
                retryable=True,
                status=status,
            )
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


def _retry_after(exc: openai.APIStatusError) -> float | None:
    try:
        return float(exc.response.headers.get("retry-after", ""))
    except ValueError:
        return None
