"""Reading what OpenAI-compatible servers actually send, tolerantly.

Pure pieces, each tested alone: server-sent events from raw bytes, tool calls put back
together from their pieces, reasoning split from the answer, usage in its several
shapes, and the events of one response. Real servers differ from OpenAI's own wire in
small ways (docs/servers.md lists them); every tolerance here names the one it is for.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from agents.errors import HINT_CONTEXT, GatewayError, StreamCut, hint_for
from agents.events import Event, Finished, ReasoningDelta, TextDelta, ToolCall, ToolCalls, Usage

MALFORMED = "The model server sent a malformed reply."
MID_REPLY = "The model server had an error mid-reply."

# Ids some servers send on a call's later pieces (Mistral: "null"); never a real id.
PLACEHOLDER_IDS = frozenset({"", "null", "None", "undefined"})
# The fields of a streamed tool call the reader understands; anything else a provider
# adds (Gemini's "extra_content") is kept and sent back as it came.
_KNOWN_CALL_FIELDS = frozenset({"index", "id", "type", "function"})


async def sse_payloads(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """The JSON payload of each server-sent event, until `[DONE]` or the end.

    Lines are split on the raw bytes and the JSON is parsed from bytes: per token, that
    costs a fraction of decoding the stream to text first. Comment lines (OpenRouter's
    ": OPENROUTER PROCESSING") and events without data (relays' keep-alive "data:") are
    skipped; an error event (llama.cpp's "error: {...}" line, or "event: error") and
    an error object in the data raise `GatewayError` with the server's message.
    """
    events = _EventSplitter()
    async for chunk in chunks:
        for is_error, payload in events.feed(chunk):
            if payload == b"[DONE]":
                return
            yield decode_event(payload, is_error=is_error)


class _EventSplitter:
    """Bytes in, complete events out: (is_error, data) for each event with data."""

    def __init__(self) -> None:
        self.rest = b""
        self.data: list[bytes] = []
        self.is_error = False

    def feed(self, chunk: bytes) -> list[tuple[bool, bytes]]:
        lines = (self.rest + chunk).splitlines(keepends=True)
        # The last line may be cut (or be the "\r" of a "\r\n" cut in two): keep it.
        self.rest = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        ready = []
        for line in lines:
            event = self._line(line.rstrip(b"\r\n"))
            if event is not None:
                ready.append(event)
        return ready

    def _line(self, line: bytes) -> tuple[bool, bytes] | None:
        field, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if field in (b"data", b"error"):
            self.data.append(value)
            self.is_error = self.is_error or field == b"error"
        elif field == b"event":
            self.is_error = value.strip() == b"error"
        elif not line:
            return self._dispatch()
        return None

    def _dispatch(self) -> tuple[bool, bytes] | None:
        payload, is_error = b"\n".join(self.data).strip(), self.is_error
        self.data, self.is_error = [], False
        return (is_error, payload) if payload else None


def decode_event(payload: bytes, *, is_error: bool = False) -> dict[str, Any]:
    """One event's JSON; a server's error, in any of its shapes, raised as ours."""
    try:
        decoded = json.loads(payload)
    except ValueError:
        if is_error:
            raise stream_error(payload.decode(errors="replace")) from None
        raise GatewayError(MALFORMED, retryable=True) from None
    if not isinstance(decoded, dict):
        raise GatewayError(MALFORMED, retryable=True)
    if is_error or decoded.get("error"):
        raise stream_error(decoded)
    return decoded


def stream_error(payload: dict[str, Any] | str) -> GatewayError:
    """A server's error sent inside a stream, as a `GatewayError` carrying its words."""
    detail = payload.get("error", payload) if isinstance(payload, dict) else payload
    if isinstance(detail, dict):
        message = str(detail.get("message") or json.dumps(detail))
        code = detail.get("code")
    else:
        message, code = str(detail), None
    status = code if isinstance(code, int) else None
    transient = hint_for(message, status) != HINT_CONTEXT and (status or 500) >= 500
    return GatewayError(MID_REPLY, retryable=transient, status=status, server_message=message)


class ToolCallBuffer:
    """Tool calls arrive in pieces across chunks; join them up.

    Pieces are matched by `index` when the server sends one. Without it (Gemini), a
    piece with a new id starts a new call and one without an id continues the last.
    Placeholder ids (Mistral's "null") never replace a real one.
    """

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.by_index: dict[int, dict[str, Any]] = {}

    def add(self, delta: dict[str, Any]) -> None:
        """Add one streamed piece of a tool call."""
        call_id = _real_id(delta.get("id"))
        function = delta.get("function") or {}
        entry = self._entry_for(delta.get("index"), call_id, function.get("name") or "")
        entry["id"] = entry["id"] or call_id
        entry["name"] = entry["name"] or function.get("name") or ""
        entry["arguments"].append(function.get("arguments") or "")
        entry["extra"].update({k: v for k, v in delta.items() if k not in _KNOWN_CALL_FIELDS})

    def _entry_for(self, index: int | None, call_id: str, name: str) -> dict[str, Any]:
        if index is not None:
            return self.by_index.get(index) or self._new(index)
        last = self.entries[-1] if self.entries else None
        if last is None or (call_id and last["id"] and call_id != last["id"]):
            return self._new(None)
        if not call_id and name and last["name"]:
            return self._new(None)  # a second call whose id is a placeholder
        return last

    def _new(self, index: int | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": "", "name": "", "arguments": [], "extra": {}}
        self.entries.append(entry)
        if index is not None:
            self.by_index[index] = entry
        return entry

    def calls(self) -> tuple[ToolCall, ...]:
        """The complete calls, in the order they began; a call left without a real id
        gets one, since the answer to it must name it."""
        return tuple(
            ToolCall(
                id=e["id"] or f"call{uuid.uuid4().hex[:9]}",
                name=e["name"],
                arguments="".join(e["arguments"]),
                extra=e["extra"] or None,
            )
            for e in self.entries
        )


def _real_id(value: Any) -> str:
    text = "" if value is None else str(value)
    return "" if text in PLACEHOLDER_IDS else text


class ThinkSplitter:
    """Reasoning inside the content (`<think>...</think>` at the start of the answer,
    as Ollama, DeepSeek-R1 and Qwen3 send it) split from the answer, even when a tag is
    cut across chunks. Only a tag that opens the answer counts: a reply that talks
    about the tag later is left alone."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self.state = "start"  # start -> thinking -> after -> answer, or start -> answer
        self.pending = ""

    def feed(self, text: str) -> list[tuple[bool, str]]:
        """(is_reasoning, text) pieces that are certain by now, in order."""
        self.pending += text
        out: list[tuple[bool, str]] = []
        while self.pending and self._step(out):
            pass
        return out

    def flush(self) -> list[tuple[bool, str]]:
        """What is left at the end of the answer."""
        text, self.pending = self.pending, ""
        return [(self.state == "thinking", text)] if text else []

    def _step(self, out: list[tuple[bool, str]]) -> bool:
        """Move on by one piece; False when the rest must wait for more text."""
        if self.state == "start":
            return self._start()
        if self.state == "after":  # the blank lines between reasoning and answer
            self.pending = self.pending.lstrip()
            self.state = "answer" if self.pending else "after"
            return bool(self.pending)
        if self.state == "answer":
            out.append((False, self.pending))
            self.pending = ""
            return False
        return self._thinking(out)

    def _start(self) -> bool:
        head = self.pending.lstrip()
        if head.startswith(self.OPEN):
            self.pending, self.state = head[len(self.OPEN) :], "thinking"
            return True
        if self.OPEN.startswith(head):
            return False  # still maybe the opening tag
        self.state = "answer"
        return True

    def _thinking(self, out: list[tuple[bool, str]]) -> bool:
        at = self.pending.find(self.CLOSE)
        if at >= 0:
            out.append((True, self.pending[:at]))
            self.pending, self.state = self.pending[at + len(self.CLOSE) :], "after"
            return True
        keep = _partial_tag_length(self.pending, self.CLOSE)
        out.append((True, self.pending[: len(self.pending) - keep]))
        self.pending = self.pending[len(self.pending) - keep :]
        return False


def _partial_tag_length(text: str, tag: str) -> int:
    """How many of `text`'s last characters could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def chunk_usage(chunk: dict[str, Any]) -> dict[str, Any] | None:
    """A chunk's usage: OpenAI's `usage`, or Groq's under `x_groq`."""
    return chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage") or None


def usage_from(raw: Any) -> Usage:
    """Usage from the wire (a dict) or from an SDK object; cached tokens as OpenAI
    (`prompt_tokens_details`) or DeepSeek (`prompt_cache_hit_tokens`) report them."""
    if not isinstance(raw, dict):
        raw = raw.model_dump()
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=raw.get("prompt_tokens") or 0,
        completion_tokens=raw.get("completion_tokens") or 0,
        cached_tokens=prompt_details.get("cached_tokens")
        or raw.get("prompt_cache_hit_tokens")
        or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


class ResponseReader:
    """The chunks of one response in, typed events out.

    Text comes out as it arrives; reasoning (DeepSeek's `reasoning_content`, Ollama's
    `reasoning`, or `<think>` tags) as `ReasoningDelta`, never as text; tool calls,
    the usage the server reported (none when it sent none: the gateway estimates it,
    knowing all the request sent) and `Finished` once the response has ended. `served`
    and `usage` stay readable when the response breaks off.
    """

    def __init__(self, model: str) -> None:
        self.served = model
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.tool_calls = ToolCallBuffer()
        self.think = ThinkSplitter()

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        """The events one chunk brings."""
        self.served = chunk.get("model") or self.served
        if raw := chunk_usage(chunk):
            self.usage = usage_from(raw)
        events: list[Event] = []
        for choice in chunk.get("choices") or ():
            events.extend(self._delta(choice.get("delta") or choice.get("message") or {}))
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return events

    def _delta(self, delta: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            events.append(ReasoningDelta(reasoning))
        if content := delta.get("content"):
            events.extend(_piece(*part) for part in self.think.feed(content) if part[1])
        for part in delta.get("tool_calls") or ():
            self.tool_calls.add(part)
        return events

    def end(self) -> list[Event]:
        """The closing events; raises `StreamCut` when the response never finished."""
        events: list[Event] = [_piece(*part) for part in self.think.flush()]
        if self.finish_reason is None:
            raise StreamCut()
        if self.tool_calls.entries:
            events.append(ToolCalls(self.tool_calls.calls()))
        if self.usage is not None:
            events.append(self.usage)
        events.append(Finished(model=self.served, finish_reason=self.finish_reason))
        return events


def _piece(is_reasoning: bool, text: str) -> TextDelta | ReasoningDelta:
    return ReasoningDelta(text) if is_reasoning else TextDelta(text)


async def events_from_chunks(
    chunks: AsyncIterator[dict[str, Any]], reader: ResponseReader
) -> AsyncIterator[Event]:
    """Every event of one response read from its chunks by `reader`."""
    async for chunk in chunks:
        for event in reader.feed(chunk):
            yield event
    for event in reader.end():
        yield event


async def one_chunk(response: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """A whole (non-streamed) response as the single chunk it amounts to."""
    if response.get("error"):
        raise stream_error(response)
    yield response
