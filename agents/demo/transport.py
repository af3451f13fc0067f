"""The offline demo model: an OpenAI-wire-compatible transport for the real SDK.

The SDK builds its request and parses the server-sent events exactly as it would
against a real server; only the bytes come from here. Replies are deterministic.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2

from agents.demo import structured, summaries, titles, tools, usage
from agents.demo.answer import DemoAnswer, split_tokens

# Each responder looks at the request body and answers it, or returns None to pass it
# on; the first answer wins and the markdown sample below is the fallback.
Responder = Callable[[dict[str, Any]], DemoAnswer | None]


# The structured responder answers only json_schema requests, so it goes first.
RESPONDERS: list[Responder] = [
    structured.respond,
    titles.respond,
    summaries.respond,
    tools.respond,
    usage.respond,
]


def answer(body: dict[str, Any]) -> DemoAnswer:
    for responder in RESPONDERS:
        result = responder(body)
        if result is not None:
            return result
    return DemoAnswer(text=demo_reply(body.get("messages") or []))


def demo_reply(messages: list[dict[str, Any]]) -> str:
    """The demo model's answer to a conversation: streamed markdown that shows rendering."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    said = str((last or {}).get("content") or "").strip()
    quoted = said if len(said) <= 120 else said[:117] + "..."
    quoted = quoted.replace("\n", " ")
    return (
        f'**Demo model (offline).** You said: "{quoted}"\n\n'
        "This answer is made on this machine, so the app works without an API key. "
        "It shows what a reply can contain:\n\n"
        "- a list, with `inline code` and *emphasis*\n"
        "- a link to the [Django documentation](https://docs.djangoproject.com/)\n\n"
        "```python\n"
        "def greet(name: str) -> str:\n"
        '    return f"Hello, {name}!"\n'
        "```\n\n"
        "Set `OPENAI_API_KEY` or `OPENAI_BASE_URL` to talk to a real model."
    )


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "")) // 4 + 4 for m in messages)


class DemoTransport(httpx2.AsyncBaseTransport):
    """Answers `POST …/chat/completions` like an OpenAI-compatible server would."""

    def __init__(self, *, token_delay: float = 0.02):
        self.token_delay = token_delay

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if not request.url.path.endswith("/chat/completions"):
            return httpx2.Response(404, json={"error": {"message": "Not found"}})
        body = json.loads(await request.aread() or b"{}")
        messages = body.get("messages") or []
        model = body.get("model") or "demo"
        result = answer(body)
        usage = {
            "prompt_tokens": _prompt_tokens(messages),
            "completion_tokens": len(split_tokens(result.text)) + 10 * len(result.tool_calls),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            stream = _SSEStream(model, result, usage if include_usage else None, self.token_delay)
            return httpx2.Response(
                200, headers={"content-type": "text/event-stream"}, stream=stream
            )
        return httpx2.Response(200, json=_completion(model, result, usage))


def _wire_tool_calls(result: DemoAnswer) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]},
        }
        for index, call in enumerate(result.tool_calls)
    ]


def _completion(model: str, result: DemoAnswer, usage: dict[str, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": result.text or None}
    if result.tool_calls:
        message["tool_calls"] = [
            {k: v for k, v in call.items() if k != "index"} for call in _wire_tool_calls(result)
        ]
    return {
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if result.tool_calls else "stop",
            }
        ],
        "usage": usage,
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-demo",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _SSEStream(httpx2.AsyncByteStream):
    def __init__(self, model: str, result: DemoAnswer, usage: dict[str, int] | None, delay: float):
        self.model, self.result, self.usage, self.delay = model, result, usage, delay

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield _sse(_chunk(self.model, {"role": "assistant", "content": ""}))
        for token in split_tokens(self.result.text):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield _sse(_chunk(self.model, {"content": token}))
        for call in _wire_tool_calls(self.result):
            yield _sse(_chunk(self.model, {"tool_calls": [call]}))
        finish = "tool_calls" if self.result.tool_calls else "stop"
        yield _sse(_chunk(self.model, {}, finish=finish))
        if self.usage is not None:
            yield _sse({**_chunk(self.model, {}), "choices": [], "usage": self.usage})
        yield b"data: [DONE]\n\n"


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"
