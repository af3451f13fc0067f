"""An OpenAI-compatible server for tests: real HTTP on a free port, scripted replies.

The app's real SDK talks to it through OPENAI_BASE_URL. It streams with delays, fails
on request, cuts streams, records every request it received, and logs what it served
for each (`FakeUpstream.served`: status, model, the usage it actually sent), so a test
can hold the app's usage ledger against it call by call.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bpe_openai


@dataclass
class Reply:
    """One scripted answer. By default: a short streamed text with usage."""

    text: str = "Hello from the fake upstream."
    tokens: list[str] | None = None
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    status: int = 200
    error_message: str = "Scripted error"
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None  # drop the connection after this many tokens
    garble_after: int | None = None  # send a chunk that is not JSON after this many tokens
    stall_after: int | None = None  # go silent (for stall_seconds) after this many tokens
    stall_seconds: float = 10.0
    include_usage: bool = True
    usage: dict[str, Any] | None = None
    model: str | None = None
    # Tool calls to answer with: [{"name": ..., "arguments": "<json text>"}, ...]
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    refusal: str | None = None
    # Hold the answer until the test sets this event (no wall-clock waits in tests).
    wait_for: threading.Event | None = None
    # How the stream is framed on the wire: the servers' line end ("\r\n" is valid SSE
    # too), and writes of at most this many bytes, so events arrive cut anywhere.
    line_end: bytes = b"\n"
    write_size: int | None = None
    # A body recorded from a real server's wire, sent byte for byte (see `from_wire`).
    raw: bytes | None = None
    content_type: str = "text/event-stream"

    def wire_tool_calls(self) -> list[dict[str, Any]]:
        return [
            {
                "index": index,
                "id": call.get("id", f"call_{index}"),
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for index, call in enumerate(self.tool_calls)
        ]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    @classmethod
    def from_wire(cls, path: Path, **kwargs: Any) -> Reply:
        """A reply replaying a wire sample: a head of "name: value" lines ("status",
        "content-type"; "#" lines are notes), a blank line, then the body as sent."""
        head, _, body = path.read_bytes().partition(b"\n\n")
        fields = {}
        for line in head.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        return cls(
            raw=body,
            status=int(fields.get("status", 200)),
            content_type=fields.get("content-type", "text/event-stream"),
            **kwargs,
        )

    @classmethod
    def structured(cls, payload: Any, **kwargs: Any) -> Reply:
        """An answer to a `response_format` request: `payload` as JSON text."""
        return cls(text=json.dumps(payload), **kwargs)

    def token_list(self) -> list[str]:
        return self.tokens if self.tokens is not None else re.findall(r"\s*\S+|\s+", self.text)


class FakeUpstream:
    def __init__(self, port: int = 0) -> None:
        self.script: deque[Reply] = deque()
        # Structured-output requests (background classification, extraction) take their
        # answers from a queue of their own, so they never take a chat turn's reply.
        self.structured_script: deque[Reply] = deque()
        # ... and are logged apart too, so counts of chat requests stay what a turn sent.
        self.structured_log: list[dict[str, Any]] = []
        self.default = Reply()
        self.requests: list[dict[str, Any]] = []
        # Answer some requests by what they are, whatever the script holds: each is
        # called with the request body and returns a Reply or None to pass it on.
        self.responders: list[Callable[[dict[str, Any]], Reply | None]] = []
        self.keep_requests = True
        self.disconnects = 0
        # One entry per request, in the order received (see `Served`).
        self.served: list[Served] = []
        # How prompt tokens are counted when a reply scripts no usage.
        self.count_prompt: Callable[[dict[str, Any]], int] = quarter_characters
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def add_structured(self, *replies: Reply) -> None:
        with self._lock:
            self.structured_script.extend(replies)

    def next_reply(self, body: dict[str, Any]) -> tuple[Reply, Served]:
        reply = self._take_reply(body)
        served = Served(
            status=reply.status,
            model=reply.model or body.get("model", "fake"),
            asked=body.get("model", ""),
            structured="response_format" in body,
            prompt_tokens=self.count_prompt(body),
        )
        with self._lock:
            self.served.append(served)
        return reply, served

    def _take_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.keep_requests:
                log = self.structured_log if "response_format" in body else self.requests
                log.append(body)
            for responder in self.responders:
                reply = responder(body)
                if reply is not None:
                    return reply
            script = self.structured_script if "response_format" in body else self.script
            return script.popleft() if script else self.default

    def structured_requests(self, schema: str) -> list[dict[str, Any]]:
        """The requests that asked for the JSON schema named `schema`."""
        return [
            body
            for body in self.structured_log
            if (body.get("response_format") or {}).get("json_schema", {}).get("name") == schema
        ]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(_Handler):
            fake = upstream

        return Handler


@dataclass
class Served:
    """What the fake did with one request: its status, the model it answered as, and
    the usage object it sent (None when the answer broke off before it, or failed)."""

    status: int
    model: str
    asked: str
    structured: bool
    prompt_tokens: int
    usage: dict[str, Any] | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # hundreds of streams connect at once in benchmarks


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeUpstream

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        # The client may drop a kept-alive connection at any time.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        body["_headers"] = dict(self.headers)
        body["_received_at"] = time.monotonic()
        reply, self.served = self.fake.next_reply(body)
        if reply.wait_for is not None:
            reply.wait_for.wait(timeout=30)
        try:
            if reply.raw is not None:
                self._send_raw(reply)
            elif reply.status != 200:
                self._send_error(reply)
            elif body.get("stream"):
                self._send_stream(reply, body)
            else:
                completion = _completion(reply, body, self.fake.count_prompt)
                self._send_json(200, completion)
                self.served.usage = completion["usage"]
        except (BrokenPipeError, ConnectionResetError):
            self.fake.disconnects += 1
            self.close_connection = True

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, reply: Reply) -> None:
        error = {"error": {"message": reply.error_message, "type": "error", "code": None}}
        time.sleep(reply.first_token_delay)
        self._send_json(reply.status, error, reply.headers)

    def _send_stream(self, reply: Reply, body: dict[str, Any]) -> None:
        self.reply = reply
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        model = reply.model or body.get("model", "fake")
        time.sleep(reply.first_token_delay)
        self._event(_chunk(model, {"role": "assistant", "content": ""}))
        for index, token in enumerate(reply.token_list()):
            if reply.cut_after is not None and index >= reply.cut_after:
                self.wfile.flush()
                self.close_connection = True
                return
            if index == reply.garble_after:
                self._write(b'data: {"choices": [{"delta": {"content": "unterminated\n\n')
            if index == reply.stall_after:
                time.sleep(reply.stall_seconds)
            if index and reply.token_delay:
                time.sleep(reply.token_delay)
            self._event(_chunk(model, {"content": token}))
        for call in reply.wire_tool_calls():
            self._event(_chunk(model, {"tool_calls": [call]}))
        self._event(_chunk(model, {}, reply.finish_reason))
        if reply.include_usage and (body.get("stream_options") or {}).get("include_usage"):
            usage = _usage(reply, body, self.fake.count_prompt)
            self._event({**_chunk(model, {}), "choices": [], "usage": usage})
            # Behind a malformed event no client reads it: it was not delivered.
            self.served.usage = usage if reply.garble_after is None else None
        self._write(b"data: [DONE]" + reply.line_end * 2)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_raw(self, reply: Reply) -> None:
        self.reply = reply
        self.send_response(reply.status)
        self.send_header("content-type", reply.content_type)
        self.send_header("transfer-encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        time.sleep(reply.first_token_delay)
        if reply.raw:
            self._write(reply.raw)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _event(self, payload: dict[str, Any]) -> None:
        self._write(b"data: " + json.dumps(payload).encode() + self.reply.line_end * 2)

    def _write(self, data: bytes) -> None:
        size = (getattr(self, "reply", None) and self.reply.write_size) or len(data)
        for start in range(0, len(data), size):
            piece = data[start : start + size]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()


def _usage(
    reply: Reply, body: dict[str, Any], count_prompt: Callable[[dict[str, Any]], int]
) -> dict[str, Any]:
    if reply.usage is not None:
        return reply.usage
    prompt = count_prompt(body)
    completion = len(reply.token_list())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(
    reply: Reply, body: dict[str, Any], count_prompt: Callable[[dict[str, Any]], int]
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [
            {k: v for k, v in call.items() if k != "index"} for call in reply.wire_tool_calls()
        ]
    if reply.refusal is not None:
        message = {"role": "assistant", "content": None, "refusal": reply.refusal}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model or body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": _usage(reply, body, count_prompt),
    }


def titles(text: str) -> Callable[[dict[str, Any]], Reply | None]:
    """A responder (see `FakeUpstream.responders`) answering the app's title requests
    with `text`. Titles are asked for after a first reply, at any moment: answered apart,
    they never take a reply a test scripted for a chat turn."""

    def respond(body: dict[str, Any]) -> Reply | None:
        from agents.prompts import TITLE_INSTRUCTION

        first = (body.get("messages") or [{}])[0]
        return Reply(text=text) if first.get("content") == TITLE_INSTRUCTION else None

    return respond


def quarter_characters(body: dict[str, Any]) -> int:
    """A rough prompt count: a quarter of each message's characters, plus 4."""
    return sum(len(str(m.get("content") or "")) // 4 + 4 for m in body.get("messages", []))


def rendered_prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt tokens a server like OpenAI's counts for a request: the request
    rendered as the model reads it (ChatML messages; tools as the TypeScript namespace
    OpenAI renders them in; the response format's schema), counted with o200k."""
    parts = [_rendered_tools(body.get("tools") or [])]
    if response_format := body.get("response_format"):
        parts.append(f"# Response Formats\n\n{json.dumps(response_format.get('json_schema'))}")
    for message in body.get("messages", []):
        text = message.get("content") or ""
        for call in message.get("tool_calls") or ():
            text += f"\n{call['function']['name']}({call['function']['arguments']})"
        parts.append(f"<|im_start|>{message['role']}<|im_sep|>{text}<|im_end|>")
    prompt = "".join(parts) + "<|im_start|>assistant<|im_sep|>"
    return len(bpe_openai.get_encoding("o200k_base").encode_ordinary(prompt))


def _rendered_tools(tools: list[dict[str, Any]]) -> str:
    if not tools:
        return ""
    lines = ["# Tools", "", "## functions", "", "namespace functions {", ""]
    for tool in tools:
        function = tool["function"]
        lines.append(f"// {function.get('description', '')}")
        properties = function.get("parameters", {}).get("properties", {})
        if not properties:
            lines += [f"type {function['name']} = () => any;", ""]
            continue
        lines.append(f"type {function['name']} = (_: {{")
        for name, spec in properties.items():
            lines += [f"// {spec.get('description', '')}", f"{name}: {spec.get('type', 'any')},"]
        lines += ["}) => any;", ""]
    return "\n".join([*lines, "} // namespace functions", ""])
