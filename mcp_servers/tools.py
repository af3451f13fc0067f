"""The MCP servers' tools in each turn: offered per user, with their approval policy.

A turn's toolset gets the tools of every server the owner may use and that answers
now; a server that does not is left out with a quiet notice. Tools the owner switched
off in the conversation are left out, built-in ones included. Whether a call asks first
is decided here, on the server, from the staff's policy and the owner's own decisions
in this conversation; the model's words and a tool's output have no say.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import jsonschema
import pydantic
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from agents import tools
from agents.tools import Tool, ToolContext, ToolError, Toolset
from chatsite import db
from chatsite.compiled import Compiled
from chatsite.snapshots import Snapshot
from mcp_servers import client
from mcp_servers.models import ConversationTool, McpServer, McpTool

NOTICE = "The tool server {name} is not answering, so its tools are not available this time."


class _NoArguments(pydantic.BaseModel):
    """Placeholder: a server's tool validates against the server's own JSON schema."""


@dataclass(frozen=True)
class RemoteTool(Tool):
    """A tool that runs on an MCP server, described by the server's JSON schema."""

    input_schema: dict[str, Any] | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        schema = dict(self.input_schema or {"type": "object"})
        schema.setdefault("properties", {})
        return schema

    def parse_arguments(self, raw: str) -> dict[str, Any]:
        """The model's arguments, checked against the server's schema; `ToolError` if wrong."""
        try:
            arguments = pydantic.TypeAdapter(dict[str, Any]).validate_json(raw or "{}")
        except pydantic.ValidationError:
            raise ToolError("The arguments must be a JSON object.") from None
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(self.parameters).iter_errors(arguments)
        )
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "arguments"
            raise ToolError(f"Argument {where!r}: {error.message}.")
        return arguments


@dataclass(frozen=True)
class _Plan:
    """What the database says about one caller's tools, read in one trip."""

    servers: list[tuple[client.ServerSpec, list[McpTool]]]
    switched_off: set[str]
    allowed: set[str]


def spec_of(server: McpServer) -> client.ServerSpec:
    """How to reach `server`, as async code may hold it."""
    return client.ServerSpec(
        name=server.name,
        transport=server.transport,
        url=server.url,
        headers={str(k): str(v) for k, v in (server.headers or {}).items()},
        bearer_token=server.bearer_token,
        command=server.command,
        args=tuple(server.args or ()),
        timeout=server.timeout,
        allow_stdio=settings.MCP_ALLOW_STDIO,
    )


def _any_server_enabled() -> bool:
    return McpServer.objects.filter(enabled=True).exists()


# Whether any server is on at all, asked before every model call: kept in memory until a
# server changes (chatsite/snapshots.py).
_servers_enabled = Snapshot("mcp-servers-enabled", _any_server_enabled)
_servers_enabled.watch(McpServer)


# Read before every model call: its SQL is built once (chatsite/compiled.py).
_CHOICES = Compiled(
    lambda conversation_id: ConversationTool.objects.filter(conversation_id=conversation_id).only(
        "tool_name", "switched_off", "allowed_at"
    ),
    ["int"],
)


def _plan(context: ToolContext) -> _Plan:
    # The conversation's choices in one query: which tools are off, which allowed.
    choices = _CHOICES.all(context.conversation_id) if context.conversation_id else []
    rows = [(c.tool_name, c.switched_off, c.allowed_at) for c in choices]
    servers = []
    if _servers_enabled.get():  # most sites have none: no query for them, no owner loaded
        servers = McpServer.objects.usable_by(context.user).prefetch_related("tools")
    return _Plan(
        servers=[
            (spec_of(s), [t for t in s.tools.all() if t.enabled]) for s in servers if s.tools.all()
        ],
        switched_off={name for name, off, _ in rows if off},
        allowed={name for name, _, allowed_at in rows if allowed_at is not None},
    )


async def provide(context: ToolContext, offered: Toolset) -> Toolset:
    """The caller's toolset with their servers' tools added and switched-off tools removed."""
    plan = tools.take_prepared(context, _plan)
    if plan is None:
        plan = await db.run(_plan, context)
    answering = await asyncio.gather(*(_answers(spec) for spec, _ in plan.servers))
    found = dict(offered.tools)
    notices = list(offered.notices)
    for (spec, listed), up in zip(plan.servers, answering, strict=True):
        if not up:
            notices.append(NOTICE.format(name=spec.name))
            continue
        for row in listed:
            found[row.offered_name] = build(spec, row, allowed=row.offered_name in plan.allowed)
    kept = {name: tool for name, tool in found.items() if name not in plan.switched_off}
    return Toolset(kept, tuple(notices))


def health_key(server_name: str) -> str:
    """Where a server's last good answer is remembered (shared by every process)."""
    return f"mcp:answers:{server_name}"


async def _answers(spec: client.ServerSpec) -> bool:
    """Whether the server answers; a good answer is trusted for MCP_HEALTH_TTL seconds so
    that a turn does not wait on the server each time."""
    key = health_key(spec.name)
    if await cache.aget(key):
        return True
    try:
        await client.check(spec)
    except client.ServerUnavailable:
        return False
    await cache.aset(key, True, settings.MCP_HEALTH_TTL)
    return True


def build(spec: client.ServerSpec, row: McpTool, *, allowed: bool = False) -> RemoteTool:
    """The registry's view of a server's tool, its policy applied for this conversation."""
    policy = row.effective_policy
    name = row.offered_name
    return RemoteTool(
        name=name,
        description=row.description or f"The tool {row.name} of the server {spec.name}.",
        arguments=_NoArguments,
        function=_caller(spec, row.name),
        sensitive=policy == McpTool.Policy.ASK or (policy == McpTool.Policy.ONCE and not allowed),
        describe=_describer(spec.name, row.name),
        origin=spec.name,
        allow_in_conversation=_allower(name) if policy == McpTool.Policy.ONCE else None,
        input_schema=row.input_schema,
    )


def _caller(spec: client.ServerSpec, tool_name: str):
    async def call(context: ToolContext, **arguments: Any) -> tools.ToolOutcome:
        outcome = await client.call_tool(
            spec, tool_name, arguments, limit=settings.MCP_RESULT_LIMIT
        )
        if not outcome.ok:
            await cache.adelete(health_key(spec.name))  # the next turn checks it again
        return outcome

    return call


def _describer(server_name: str, tool_name: str):
    def describe(context: ToolContext, arguments: dict[str, Any]) -> str:
        return f"Use {tool_name} on the tool server {server_name}{_in_words(arguments)}."

    return describe


def _in_words(arguments: dict[str, Any]) -> str:
    """Arguments as a reader says them: `with text “buy milk”, limit 3`."""
    if not arguments:
        return ""
    said = ", ".join(f"{key} “{_short(value)}”" for key, value in arguments.items())
    return f" with {said}"


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _allower(name: str):
    def allow(context: ToolContext) -> None:
        ConversationTool.objects.update_or_create(
            conversation_id=context.conversation_id,
            tool_name=name,
            defaults={"allowed_at": timezone.now()},
        )

    return allow


def resolve(context: ToolContext, name: str) -> Tool | None:
    """A server tool by its offered name for this caller (to run an approved call)."""
    server_name, separator, _ = name.partition("__")
    if not separator:
        return None
    server = McpServer.objects.usable_by(context.user).filter(name=server_name).first()
    if server is None:
        return None
    for row in server.tools.filter(enabled=True):
        if row.offered_name == name:
            return build(spec_of(server), row)
    return None


tools.add_provider(provide, resolve, preparer=_plan)
