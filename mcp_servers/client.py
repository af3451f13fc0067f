"""Talking to one MCP server through the official `mcp` SDK: list its tools, call one.

Every exchange opens its own connection and closes it: nothing is kept between turns,
so a server restarted or reconfigured is simply reached anew. Each exchange, connecting
included, has the server's timeout; past it the call fails instead of hanging.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import anyio
import httpx2

from agents.tools import ToolOutcome

if TYPE_CHECKING:
    from mcp import Client
    from mcp import types as mcp_types


@functools.cache
def _sdk() -> SimpleNamespace:
    """The `mcp` SDK, loaded on first use: importing it costs a process about half a
    second and tens of MB at start, and most sites connect no MCP server."""
    return SimpleNamespace(
        core=importlib.import_module("mcp"),
        types=importlib.import_module("mcp.types"),
        streamable_http=importlib.import_module("mcp.client.streamable_http"),
    )


class ServerUnavailable(Exception):
    """The server could not be reached, or did not answer in time."""


@dataclass(frozen=True)
class ServerSpec:
    """How to reach a server: a copy of its settings that async code can hold."""

    name: str
    transport: str
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    bearer_token: str = ""
    command: str = ""
    args: tuple[str, ...] = ()
    timeout: float = 20.0
    allow_stdio: bool = False

    @property
    def is_stdio(self) -> bool:
        return self.transport == "stdio"


@dataclass(frozen=True)
class ListedTool:
    """A tool as the server describes it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any]

    @property
    def read_only(self) -> bool:
        return self.annotations.get("readOnlyHint") is True


@asynccontextmanager
async def connect(spec: ServerSpec) -> AsyncIterator[Client]:
    """An open, initialised session with the server (the SDK's `Client`)."""
    if spec.is_stdio:
        if not spec.allow_stdio:
            raise ServerUnavailable("stdio servers are not allowed on this site.")
        params = _sdk().core.StdioServerParameters(command=spec.command, args=list(spec.args))
        async with _sdk().core.Client(params, read_timeout_seconds=spec.timeout) as client:
            yield client
        return
    headers = dict(spec.headers)
    if spec.bearer_token:
        headers["Authorization"] = f"Bearer {spec.bearer_token}"
    timeout = httpx2.Timeout(spec.timeout)
    async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
        transport = _sdk().streamable_http.streamable_http_client(spec.url, http_client=http)
        async with _sdk().core.Client(transport, read_timeout_seconds=spec.timeout) as client:
            yield client


async def list_tools(spec: ServerSpec) -> list[ListedTool]:
    """Every tool the server lists (all pages); `ServerUnavailable` if it cannot say."""
    try:
        with anyio.fail_after(spec.timeout):
            async with connect(spec) as client:
                return await _all_tools(client)
    except ServerUnavailable:
        raise
    except Exception as exc:
        raise ServerUnavailable(_reason(spec, exc)) from exc


async def _all_tools(client: Client) -> list[ListedTool]:
    listed, cursor = [], None
    while True:
        page = await client.list_tools(cursor=cursor)
        listed += [_listed(tool) for tool in page.tools]
        cursor = page.next_cursor
        if not cursor:
            return listed


def _listed(tool: mcp_types.Tool) -> ListedTool:
    annotations = (
        tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {}
    )
    return ListedTool(tool.name, tool.description or "", dict(tool.input_schema), annotations)


async def check(spec: ServerSpec) -> None:
    """Connect and greet the server; `ServerUnavailable` if that fails or takes too long."""
    try:
        with anyio.fail_after(spec.timeout):
            async with connect(spec):
                pass
    except ServerUnavailable:
        raise
    except Exception as exc:
        raise ServerUnavailable(_reason(spec, exc)) from exc


async def call_tool(
    spec: ServerSpec, tool_name: str, arguments: dict[str, Any], *, limit: int
) -> ToolOutcome:
    """Call a tool; the server's answer (or why there is none) as a `ToolOutcome`."""
    try:
        with anyio.fail_after(spec.timeout):
            async with connect(spec) as client:
                result = await client.call_tool(tool_name, arguments)
    except Exception as exc:
        return ToolOutcome(error=_reason(spec, exc))
    return as_outcome(result, limit=limit)


def _reason(spec: ServerSpec, exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"the tool server {spec.name} did not answer within {spec.timeout:g} s."
    if isinstance(exc, ServerUnavailable):
        return str(exc)
    return f"the tool server {spec.name} could not be reached ({_root(exc).__class__.__name__})."


def _root(exc: BaseException) -> BaseException:
    """The first real error inside the task groups the SDK raises through."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def as_outcome(result: mcp_types.CallToolResult, *, limit: int) -> ToolOutcome:
    """A tool's result as the model is sent it: text, structured content as JSON,
    other blocks named with their type and size (never fetched); cut at `limit`."""
    parts = [_block(block) for block in result.content]
    if result.structured_content is not None and not any(
        isinstance(b, _sdk().types.TextContent) for b in result.content
    ):
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = cut("\n".join(parts), limit)
    if result.is_error:
        return ToolOutcome(error=text or "the tool reported an error without saying which.")
    return ToolOutcome(content=text)


def _block(block: Any) -> str:
    if isinstance(block, _sdk().types.TextContent):
        return block.text
    if isinstance(block, _sdk().types.ImageContent | _sdk().types.AudioContent):
        return f"[{block.type}: {block.mime_type}, {_size(_decoded_length(block.data))}]"
    if isinstance(block, _sdk().types.ResourceLink):
        size = f", {_size(block.size)}" if block.size is not None else ""
        return f"[resource link: {block.uri} ({block.mime_type or 'unknown type'}{size})]"
    if isinstance(block, _sdk().types.EmbeddedResource):
        return _embedded(block.resource)
    return f"[{getattr(block, 'type', 'unknown')} content]"


def _embedded(resource: Any) -> str:
    if isinstance(resource, _sdk().types.TextResourceContents):
        length = len(resource.text.encode())
    else:
        length = _decoded_length(resource.blob)
    return f"[resource: {resource.uri} ({resource.mime_type or 'unknown type'}, {_size(length)})]"


def _decoded_length(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return len(data)


def _size(length: int) -> str:
    return f"{length} bytes" if length < 1024 else f"{length / 1024:.1f} KB"


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f"[Cut: the result had {len(text)} characters; the first {limit} are shown.]"
    return f"{text[:limit]}\n{note}"
