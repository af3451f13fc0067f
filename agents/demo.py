"""The offline demo model: an OpenAI-wire-compatible transport for the real SDK.

The SDK builds its request and parses the server-sent events exactly as it would
against a real server; only the bytes come from here. Replies are deterministic.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2

TOKEN_PATTERN = re.compile(r"\s*\S+|\s+")


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


def split_tokens(text: str) -> list[str]:
    return TOKEN_PATTERN.findall(text)


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
        text = demo_reply(messages)
        usage = {
            "prompt_tokens": _prompt_tokens(messages),
            "completion_tokens": len(split_tokens(text)),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            stream = _SSEStream(model, text, usage if include_usage else None, self.token_delay)
            return httpx2.Response(
                200, headers={"content-type": "text/event-stream"}, stream=stream
            )
        return httpx2.Response(200, json=_completion(model, text, usage))


def _completion(model: str, text: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
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
    def __init__(self, model: str, text: str, usage: dict[str, int] | None, delay: float):
        self.model, self.text, self.usage, self.delay = model, text, usage, delay

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield _sse(_chunk(self.model, {"role": "assistant", "content": ""}))
        for token in split_tokens(self.text):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield _sse(_chunk(self.model, {"content": token}))
        yield _sse(_chunk(self.model, {}, finish="stop"))
        if self.usage is not None:
            yield _sse({**_chunk(self.model, {}), "choices": [], "usage": self.usage})
        yield b"data: [DONE]\n\n"


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"
