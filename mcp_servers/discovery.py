"""Discovery: a server's tools listed and stored, with a policy kept or defaulted."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from mcp_servers import client
from mcp_servers.models import McpServer, McpTool
from mcp_servers.tools import health_key, spec_of


def refresh(server: McpServer) -> list[McpTool]:
    """List the server's tools now and store them; staff's choices for tools that stay
    are kept. Raises `client.ServerUnavailable` (recorded on the server) if it fails."""
    cache.delete(health_key(server.name))
    try:
        listed = async_to_sync(client.list_tools)(spec_of(server))
    except client.ServerUnavailable as exc:
        McpServer.objects.filter(pk=server.pk).update(last_error=str(exc)[:500])
        raise
    return _store(server, listed)


@transaction.atomic
def _store(server: McpServer, listed: list[client.ListedTool]) -> list[McpTool]:
    now = timezone.now()
    server.tools.exclude(name__in=[t.name for t in listed]).delete()
    stored = [_store_one(server, tool, now) for tool in listed]
    McpServer.objects.filter(pk=server.pk).update(refreshed_at=now, last_error="")
    return stored


def _store_one(server: McpServer, tool: client.ListedTool, now) -> McpTool:
    row, _ = McpTool.objects.get_or_create(
        server=server,
        name=tool.name,
        defaults={"policy": McpTool.default_policy(tool.read_only)},
    )
    row.description = tool.description
    row.input_schema = tool.input_schema
    row.annotations = tool.annotations
    row.read_only = tool.read_only
    row.discovered_at = now
    if row.effective_policy != row.policy:
        row.policy = row.effective_policy  # no longer read-only: ask again
    row.save()
    return row
