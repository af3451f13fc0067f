"""The tools menu of a conversation: every tool its owner may use, with its policy."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from agents import tools
from conversations.models import Conversation
from mcp_servers.models import ConversationTool, McpServer, McpTool

BUILT_IN_ASKS = "Asks every time"
BUILT_IN_RUNS = "Runs without asking"


@dataclass(frozen=True)
class MenuEntry:
    """One line of the menu."""

    name: str
    description: str
    server: str  # empty for a built-in tool
    policy: str
    on: bool


def entries(conversation: Conversation, user) -> list[MenuEntry]:
    """Built-in tools, then each server's, as this conversation has them."""
    choices = {c.tool_name: c for c in ConversationTool.objects.filter(conversation=conversation)}
    built_in = [
        MenuEntry(
            t.name, t.description, "", BUILT_IN_ASKS if t.is_sensitive else BUILT_IN_RUNS, True
        )
        for t in tools.registry().values()
    ]
    remote = [_remote(row, choices.get(row.offered_name)) for row in _server_tools(user)]
    return [_switched(e, choices.get(e.name)) for e in built_in] + remote


def _server_tools(user) -> list[McpTool]:
    servers = McpServer.objects.usable_by(user)
    found = McpTool.objects.filter(server__in=servers, enabled=True).select_related("server")
    return list(found)


def _remote(row: McpTool, choice: ConversationTool | None) -> MenuEntry:
    policy = McpTool.Policy(row.effective_policy).label
    if row.effective_policy == McpTool.Policy.ONCE and choice and choice.allowed_at:
        policy = "Allowed in this conversation"
    on = not (choice and choice.switched_off)
    return MenuEntry(row.offered_name, row.description, row.server.name, policy, on)


def _switched(entry: MenuEntry, choice: ConversationTool | None) -> MenuEntry:
    if choice and choice.switched_off:
        return MenuEntry(entry.name, entry.description, entry.server, entry.policy, False)
    return entry


def switch(conversation: Conversation, user, tool_name: object, on: bool) -> None:
    """Switch one of the user's tools on or off in this conversation (from the next turn)."""
    if not any(e.name == tool_name for e in entries(conversation, user)):
        raise ValidationError("There is no such tool in this conversation.")
    ConversationTool.objects.update_or_create(
        conversation=conversation, tool_name=tool_name, defaults={"switched_off": not on}
    )
