"""The one door to the model: every call in the app goes through this module.

It owns one lazily built `AsyncOpenAI` client (or the offline demo model handed to the
same SDK as a transport), maps provider errors to `GatewayError`, and turns streams
into typed events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import weakref
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx2
import openai
import pydantic
from django.conf import settings

from agents import cache, fallback, limits, pacing, profiles, usage, wire
from agents.demo import DemoTransport, split_tokens
from agents.errors import (
    Blocked,
    EmptyAnswer,
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
    Notice,
    Parsed,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCalls,
    Usage,
)
from agents.models import UsageRecord
from agents.tokens import estimate_prompt_tokens
from agents.usage import Call
from chatsite import db

logger = logging.getLogger(__name__)
Outcome = UsageRecord.Outcome

DEMO_LABEL = "Demo model (offline)"


class _Client(openai.AsyncOpenAI):
    """The SDK client, except that a Retry-After above LLM_RETRY_AFTER_MAX is not
    waited out: the call fails fast and the fallback chain or the user decides.

    `_should_retry` and `_parse_retry_after_header` are private: the SDK has no public
    hook to cap the wait it honours, and retrying outside it (max_retries=0 plus our
    own loop) would lose its backoff, jitter and idempotency headers. The test
    test_the_private_retry_hooks_the_client_overrides_still_exist fails if they change.
    """

    def _should_retry(self, response: httpx2.Response) -> bool:
        wait = self._parse_retry_after_header(response.headers)
        if wait is not None and wait > settings.LLM_RETRY_AFTER_MAX:
            return False
        return super()._should_retry(response)


# One client per event loop: a connection pool (aiohttp's above all) belongs to the loop
# it was opened on. The server runs one loop; commands and tests open others. Beside
# each client, the async generator that closes it with its loop and the task that
# started it (see `_closing`; the loop itself keeps only weak references to them).
_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, tuple[openai.AsyncOpenAI, AsyncIterator[None], asyncio.Task]
] = weakref.WeakKeyDictionary()

# The SDK's own limits for its default client, kept with the aiohttp transport (whose
# default of 100 connections would queue the 101st stream).
CONNECTION_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


def get_client() -> openai.AsyncOpenAI:
    """The client of the running event loop, built on first use from settings."""
    loop = asyncio.get_running_loop()
    if loop not in _clients:
        client = _build_client()
        closer = _closing(client)
        # Started as a task: the loop learns of the generator on its first step, and
        # only a started generator runs its `finally` when closed.
        _clients[loop] = client, closer, loop.create_task(anext(closer))
    return _clients[loop][0]


async def _closing(client: openai.AsyncOpenAI) -> AsyncIterator[None]:
    """Close `client` when its loop shuts down, as a command's or a test's loop does
    right after a call: an aiohttp session left open logs an error when it is collected.
    asyncio.run (and asgiref's and pytest's runners with it) closes a loop's unfinished
    async generators before closing the loop; this one closes the client then."""
    try:
        yield
    finally:
        await client.close()


def _build_client() -> openai.AsyncOpenAI:
    options: dict[str, Any] = {
        "timeout": settings.LLM_TIMEOUT,
        "max_retries": settings.LLM_MAX_RETRIES,
    }
    if settings.LLM_DEMO:
        transport = DemoTransport(token_delay=settings.LLM_DEMO_TOKEN_DELAY)
        options["http_client"] = httpx2.AsyncClient(transport=transport)
        return _Client(api_key="demo", base_url="http://demo.invalid/v1", **options)
    if settings.LLM_HTTP_CLIENT == "aiohttp":
        # The SDK's documented aiohttp transport: its auth, retries and errors as
        # before, with aiohttp's parser reading the stream (half the CPU per token of
        # the default transport; docs/benchmarks.md).
        options["http_client"] = openai.DefaultAioHttpClient(
            timeout=settings.LLM_TIMEOUT, limits=CONNECTION_LIMITS
        )
    return _Client(
        api_key=settings.OPENAI_API_KEY or "not-needed",
        base_url=settings.OPENAI_BASE_URL or None,
        **options,
    )


def reset_client_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    """Drop the clients when a test or a reload changes the settings they were built from."""
    if setting.startswith(("OPENAI_", "LLM_")):
        _clients.clear()


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
    call = Call(context or CallContext(), model, messages, tools=tools)
    try:
        key = cache.key_for(call.context, model, messages, tools=tools, stream=True)
        tokens = _admission_estimate(messages, tools=tools)
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
    call = Call(context or CallContext(), model, messages, tools=tools)
    async with _recorded(call):
        key = cache.key_for(call.context, model, messages, tools=tools, stream=False)
        tokens = _admission_estimate(messages, tools=tools)
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


def _admission_estimate(messages: list[dict[str, Any]], **sent: Any) -> int:
    """Tokens a call is expected to use, for the limits before it goes: the estimator's
    character count, not its tokenizer, which costs milliseconds of CPU on every call.
    (Rows the upstream sent no usage for are counted with the tokenizer.)"""
    return estimate_prompt_tokens(messages, **sent)


def _before_call(call: Call, key: str | None, tokens: int) -> tuple[dict | None, float]:
    """The layers before the upstream, in one trip to a database thread: budget and
    per-user rate (raising `Blocked`), then the response cache, then the upstream's
    capacity. Returns a cached answer, or the seconds to wait for capacity (0: go)."""
    call.hold = limits.check(call.context.user_id, model=call.model_requested, tokens=tokens)
    cached = cache.get(key)
    if cached is not None:
        return cached, 0.0
    # What the first request may send, read now rather than in a trip of its own.
    call.known[call.model_requested] = profiles.capabilities(call.model_requested)
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
    call.server_message, call.server_status = exc.server_message, exc.status
    if not isinstance(exc, Blocked):
        logger.warning(
            "Model call failed: %s on %s, status %s, request id %s: %s | server: %s",
            call.context.purpose,
            call.model_sent or call.model_requested,
            exc.status,
            exc.request_id or "-",
            exc.message,
            exc.server_message or "-",
        )


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
            await _record_attempt(call, exc)


async def _record_attempt(call: Call, exc: GatewayError) -> None:
    """An attempt that another one replaces gets a row of its own: the upstream may
    bill an accepted one, and a refused one is counted as an error of no tokens."""
    attempt = call.end_attempt()
    _failed(attempt, exc)
    await usage.record(attempt)


async def _stream_priced(
    messages: list[dict[str, Any]],
    model: str,
    tools: list[dict[str, Any]] | None,
    call: Call,
    *,
    stream: bool = True,
) -> AsyncIterator[Event]:
    """One model's answer as events, its usage priced by the model it was sent to."""
    call.model_served = call.model_sent = model
    pending: Usage | None = None
    answered = False
    async for event in _adapted(_Request(messages, model, tools, stream=stream), call):
        if isinstance(event, Usage):
            pending = event  # priced once `Finished` names the serving model
            continue
        if isinstance(event, TextDelta):
            call.text.append(event.text)
            answered = answered or bool(event.text.strip())
        elif isinstance(event, ReasoningDelta):
            call.reasoning.append(event.text)
        elif isinstance(event, ToolCalls):
            answered = True
        elif isinstance(event, Finished):
            call.model_served = event.model
            yield await call.priced(pending or call.estimated_usage(), event.model)
            if not answered and event.finish_reason != "content_filter":
                raise EmptyAnswer()  # billed, so priced first; a filter ending says why
        yield event


@dataclasses.dataclass(frozen=True)
class _Request:
    """One request to one model, less the capabilities its server does not take."""

    messages: list[dict[str, Any]]
    model: str
    tools: list[dict[str, Any]] | None
    stream: bool = True
    dropped: frozenset[str] = frozenset()
    parallel_tools: bool | None = None

    def adapted_to(self, known: profiles.Capabilities) -> _Request:
        """This request without what the model's profile says it refuses."""
        refused = {name for name in CAPABILITIES if getattr(known, name) is False}
        return dataclasses.replace(
            self, dropped=self.dropped | refused, parallel_tools=known.parallel_tools
        )

    def without(self, capability: str) -> _Request:
        return dataclasses.replace(self, dropped=self.dropped | {capability})

    @property
    def streams(self) -> bool:
        return self.stream and profiles.STREAMING not in self.dropped

    def options(self) -> dict[str, Any]:
        """The keyword arguments of the SDK call."""
        options: dict[str, Any] = {"model": self.model, "messages": self.messages}
        if self.tools and profiles.TOOLS not in self.dropped:
            options["tools"] = self.tools
            if self.parallel_tools is False:
                options["parallel_tool_calls"] = False
        if self.streams:
            options["stream"] = True
            if profiles.STREAM_OPTIONS not in self.dropped:
                options["stream_options"] = {"include_usage": True}
        return options

    def sent(self) -> set[str]:
        """The capabilities this request uses, that a server may refuse."""
        options = self.options()
        return {name for name, key in CAPABILITY_KEYS.items() if key in options}


CAPABILITIES = (profiles.TOOLS, profiles.STREAMING, profiles.STREAM_OPTIONS)
CAPABILITY_KEYS = {
    profiles.TOOLS: "tools",
    profiles.STREAMING: "stream",
    profiles.STREAM_OPTIONS: "stream_options",
}


class _CapabilityRefused(Exception):
    """The server refused one capability of the request recognisably (a 400)."""

    def __init__(self, capability: str, error: GatewayError):
        super().__init__(capability)
        self.capability = capability
        self.error = error


async def _adapted(request: _Request, call: Call) -> AsyncIterator[Event]:
    """One model's answer, sent as its profile allows. A capability the server refuses
    is learned and the request sent once more without it; other 400s are not retried."""
    known = call.known.pop(request.model, None)
    if known is None:
        known = await db.run(profiles.capabilities, request.model)
    request = request.adapted_to(known)
    if request.tools and profiles.TOOLS in request.dropped:
        yield Notice(profiles.NOTICES[profiles.TOOLS])
    while True:
        try:
            async for event in _send(request, call):
                yield event
            return
        except _CapabilityRefused as refused:
            await _record_attempt(call, refused.error)
            capability, words = refused.capability, refused.error.server_message
            logger.info(
                "Model %s refused %s (%s); sending without it", request.model, capability, words
            )
            await db.run(profiles.learn, request.model, capability, words)
            request = request.without(capability)
            if request.tools and capability in profiles.NOTICES:
                yield Notice(profiles.NOTICES[capability])


# What the SDK's generic POST hands back for a streamed call: only its `response` is
# read (see `_posted`), never its typed chunks.
_RawStream = openai.AsyncStream[object]


@contextlib.asynccontextmanager
async def _posted(request: _Request) -> AsyncIterator[httpx2.Response]:
    """The server's open response to `request`, sent with the SDK's public generic
    `post`: its auth, retries, timeouts and status errors, without the per-call type
    transform `chat.completions.create` runs over a body that is plain JSON already."""
    stream = await get_client().post(
        "/chat/completions",
        body=request.options(),
        cast_to=object,
        stream=True,
        stream_cls=_RawStream,
    )
    try:
        yield stream.response
    finally:
        await stream.close()


async def _send(request: _Request, call: Call) -> AsyncIterator[Event]:
    """One request. The SDK sends it (auth, retries, status errors); the answer is
    read here as plain JSON, which costs a fraction of the SDK's typed chunk objects on
    every token, and streamed or not, it comes out as the same events."""
    limit = settings.LLM_FIRST_TOKEN_TIMEOUT
    reader = wire.ResponseReader(request.model)
    try:
        # The first event is due within `limit`, SDK retries included; after it only
        # the read timeout (LLM_TIMEOUT) applies.
        async with asyncio.timeout(limit or None) as first_event:
            async with _posted(request) as response:
                call.accepted = True
                paced = None
                if request.streams:
                    # Once the answer has begun and while it comes fast, read it at most
                    # once per interval (agents/pacing.py).
                    paced = pacing.PacedBytes(
                        response,
                        settings.LLM_STREAM_READ_INTERVAL,
                        ending=lambda: reader.finish_reason is not None,
                    )
                    chunks = wire.sse_payloads(paced)
                else:
                    await response.aread()
                    chunks = wire.one_chunk(response.json())
                async for event in wire.events_from_chunks(chunks, reader):
                    first_event.reschedule(None)
                    if paced is not None:
                        paced.start()
                    yield event
    except TimeoutError as exc:
        message = f"The model did not start answering within {limit:g} s."
        raise GatewayError(message, retryable=True) from exc
    except openai.BadRequestError as exc:
        error = map_error(exc)
        capability = profiles.refused_capability(
            error.server_message, _error_field(exc, "param"), request.sent()
        )
        if capability is not None:
            raise _CapabilityRefused(capability, error) from exc
        raise error from exc
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
    finally:
        # Kept when the answer breaks off too: its row names the model that served it
        # and keeps any usage the server did report.
        call.model_served, call.reported = reader.served, reader.usage


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
            await _record_attempt(call, exc)
    raise AssertionError("unreachable: the chain is never empty")


async def _complete_once(
    messages: list[dict[str, Any]], model: str, tools: list[dict[str, Any]] | None, call: Call
) -> Completion:
    """One non-streamed answer, read by the same reader as a stream (so reasoning stays
    out of its text), put together."""
    text: list[str] = []
    calls: tuple[ToolCall, ...] = ()
    usage, served = Usage(0, 0), model
    async for event in _stream_priced(messages, model, tools, call, stream=False):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, ToolCalls):
            calls = event.calls
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, Finished):
            served = event.model
    return Completion(text="".join(text), usage=usage, model=served, tool_calls=calls)


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
            self.tool_calls = [_stored_call(c) for c in event.calls]
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
    calls = [_stored_call(c) for c in result.tool_calls]
    return {"text": result.text, "tool_calls": calls, "finish_reason": None, **_stored_usage(call)}


def _stored_call(call: ToolCall) -> list[Any]:
    return [call.id, call.name, call.arguments, call.extra]


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
    call = Call(context or CallContext(), model, messages, schema=schema.model_json_schema())
    async with _recorded(call):
        tokens = _admission_estimate(messages, schema=call.schema)
        call.hold = await db.run(limits.check, call.context.user_id, model=model, tokens=tokens)
        return await _parse_once(messages, model, schema, call)


async def _parse_once(
    messages: list[dict[str, Any]], model: str, schema: type[pydantic.BaseModel], call: Call
) -> Parsed:
    call.model_served = call.model_sent = model
    try:
        raw = await get_client().chat.completions.with_raw_response.parse(
            model=model, messages=messages, response_format=schema
        )
    except openai.APIError as exc:
        raise map_error(exc) from exc
    call.accepted = True
    # Usage is read from the body before the SDK validates the answer: an answer that
    # breaks the schema, or was cut or filtered, is billed all the same.
    priced = await _priced_body(raw.content, call)
    try:
        response = raw.parse()
    except pydantic.ValidationError as exc:
        raise InvalidOutput(str(exc)) from exc
    except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
        raise InvalidOutput(str(exc)) from exc
    message = response.choices[0].message
    if message.refusal:
        raise Refused(message.refusal)
    if message.parsed is None:
        raise InvalidOutput("The answer was empty.")
    return Parsed(value=message.parsed, usage=priced, model=call.model_served)


async def _priced_body(content: bytes, call: Call) -> Usage:
    """The usage a non-streamed body reports (estimated when it reports none), priced,
    with the model the body names as the serving one."""
    body = _json_object(content)
    call.model_served = str(body.get("model") or call.model_sent)
    if reported := wire.chunk_usage(body):
        return await call.priced(wire.usage_from(reported), call.model_served)
    for choice in body.get("choices") or ():
        call.text.append(str((choice.get("message") or {}).get("content") or ""))
    return await call.priced(call.estimated_usage(), call.model_served)


def _json_object(content: bytes) -> dict[str, Any]:
    try:
        body = json.loads(content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def map_error(exc: openai.APIError) -> GatewayError:
    """Turn an SDK error into a `GatewayError`: our sentence for the user, with the
    server's own words, its status and the request id beside it."""
    if isinstance(exc, openai.APITimeoutError) and not _refused_connection(exc):
        return GatewayError("The model did not answer in time.", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return GatewayError("Could not reach the model server.", retryable=True)
    sentence, retryable = _sentence(exc)
    return GatewayError(
        sentence,
        retryable=retryable,
        status=getattr(exc, "status_code", None),
        server_message=_server_words(exc),
        request_id=getattr(exc, "request_id", None) or "",
    )


def _refused_connection(exc: BaseException) -> bool:
    """Whether a "timeout" was a connection that failed at once: the SDK's aiohttp
    transport reports every failed connect (refused, no route, DNS) as a connect
    timeout, with aiohttp's own error, an OSError that is no timeout, as its cause."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__
    return False


def _sentence(exc: openai.APIError) -> tuple[str, bool]:
    """Our own words for an HTTP error, and whether trying again may help."""
    if isinstance(exc, openai.AuthenticationError):
        return "The model server rejected the API key.", False
    if isinstance(exc, openai.RateLimitError):
        wait = _retry_after(exc)
        if wait is not None and wait > settings.LLM_RETRY_AFTER_MAX:
            return f"The model server is busy and asks to wait {wait:.0f} s; try again later.", True
        return "The model server is rate limiting requests; try again shortly.", True
    if isinstance(exc, openai.NotFoundError):
        return "The model server does not know this model.", True
    if isinstance(exc, openai.InternalServerError):
        return "The model server had an error.", True
    if isinstance(exc, openai.BadRequestError):
        return "The model server refused the request as invalid.", False
    return "The model call failed.", False


def _server_words(exc: openai.APIError) -> str:
    """The message the server put in its error body, in whichever shape it used
    (OpenAI's {"error": {"message"}}, Ollama's {"error": "..."}, vLLM's {"message"})."""
    body = exc.body
    if isinstance(body, str):
        return body
    message = _error_field(exc, "message")
    if message:
        return str(message)
    response = getattr(exc, "response", None)
    return response.text if response is not None and body is None else ""


def _error_field(exc: openai.APIError, name: str) -> Any:
    body = exc.body
    return body.get(name) if isinstance(body, dict) else None


def _retry_after(exc: openai.APIStatusError) -> float | None:
    try:
        return float(exc.response.headers.get("retry-after", ""))
    except ValueError:
        return None
