"""Outside tool servers (Model Context Protocol) that staff connect, their tools, and
what each conversation's owner chose about tools (switched off, allowed without asking).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from conversations.models import Conversation

# The model sees `server__tool`; OpenAI accepts [a-zA-Z0-9_-]{1,64} as a function name.
SEPARATOR = "__"
_NOT_IN_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def offered_name(server_name: str, tool_name: str) -> str:
    """The name the model calls a server's tool by."""
    return f"{server_name}{SEPARATOR}{_NOT_IN_NAME.sub('_', tool_name)}"[:64]


class McpServerQuerySet(models.QuerySet):
    def usable_by(self, user) -> McpServerQuerySet:
        """Enabled servers this user may use: open to everyone, or to them or a group of theirs."""
        if not user.is_authenticated:
            return self.none()
        allowed = Q(everyone=True) | Q(allowed_users=user) | Q(allowed_groups__user=user)
        return self.filter(allowed, enabled=True).distinct()


class McpServer(models.Model):
    """A tool server staff connected; its tools are offered as `name__tool`."""

    class Transport(models.TextChoices):
        HTTP = "streamable-http", "Streamable HTTP"
        STDIO = "stdio", "Standard input/output (a local command)"

    name = models.CharField(
        max_length=30,
        unique=True,
        validators=[
            RegexValidator(
                r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
                "Lower-case letters, digits and single dashes (the model sees name__tool).",
            )
        ],
    )
    transport = models.CharField(max_length=20, choices=Transport.choices, default=Transport.HTTP)
    url = models.URLField(blank=True, help_text="The Streamable HTTP endpoint, such as …/mcp.")
    headers = models.JSONField(
        default=dict, blank=True, help_text='Extra HTTP headers, as {"Name": "value"}.'
    )
    bearer_token = models.CharField(
        max_length=500, blank=True, help_text="Sent as Authorization: Bearer …"
    )
    command = models.CharField(max_length=300, blank=True, help_text="stdio: the program to run.")
    args = models.JSONField(default=list, blank=True, help_text='stdio: its arguments, as ["…"].')
    enabled = models.BooleanField(default=True)
    timeout = models.FloatField(
        default=20,
        validators=[MinValueValidator(0.5), MaxValueValidator(600)],
        help_text="Seconds a connection or a tool call may take before it counts as failed.",
    )
    everyone = models.BooleanField(default=False, help_text="Every signed-in user may use it.")
    allowed_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="mcp_servers"
    )
    allowed_groups = models.ManyToManyField(Group, blank=True, related_name="mcp_servers")
    refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = McpServerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "MCP server"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A server must say how to reach it; stdio only where the site allows commands."""
        if self.transport == self.Transport.HTTP and not self.url:
            raise ValidationError({"url": "A Streamable HTTP server needs its URL."})
        if self.transport == self.Transport.STDIO:
            if not settings.MCP_ALLOW_STDIO:
                raise ValidationError({"transport": "stdio servers are not allowed on this site."})
            if not self.command:
                raise ValidationError({"command": "A stdio server needs its command."})
        if not isinstance(self.args, list) or not all(isinstance(a, str) for a in self.args):
            raise ValidationError({"args": "Give the arguments as a list of strings."})
        if not isinstance(self.headers, dict):
            raise ValidationError({"headers": "Give the headers as an object of strings."})


class McpTool(models.Model):
    """A tool a server listed, and the policy staff set for calling it."""

    class Policy(models.TextChoices):
        ASK = "ask", "Ask every time"
        ONCE = "once", "Ask once per conversation"
        NEVER = "never", "Never ask"

    server = models.ForeignKey(McpServer, on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    input_schema = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict, blank=True)
    read_only = models.BooleanField(
        default=False, help_text="The server annotates the tool readOnlyHint: true."
    )
    policy = models.CharField(max_length=10, choices=Policy.choices, default=Policy.ASK)
    never_ask_override = models.BooleanField(
        default=False, help_text="Staff allow 'Never ask' although the tool may change things."
    )
    enabled = models.BooleanField(default=True)
    discovered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["server__name", "name"]
        verbose_name = "MCP tool"
        constraints = [
            models.UniqueConstraint(fields=["server", "name"], name="mcp_tool_unique_name"),
        ]

    def __str__(self) -> str:
        return self.offered_name

    def clean(self) -> None:
        if self.policy == self.Policy.NEVER and not self.may_skip_asking:
            raise ValidationError(
                {"policy": "'Never ask' is only for read-only tools, unless staff override it."}
            )

    @property
    def offered_name(self) -> str:
        return offered_name(self.server.name, self.name)

    @property
    def may_skip_asking(self) -> bool:
        return self.read_only or self.never_ask_override

    @property
    def effective_policy(self) -> str:
        """The policy that is enforced: 'never ask' falls back to asking when the tool is
        no longer read-only and staff did not override that."""
        if self.policy == self.Policy.NEVER and not self.may_skip_asking:
            return self.Policy.ASK
        return self.policy

    @classmethod
    def default_policy(cls, read_only: bool) -> str:
        return cls.Policy.NEVER if read_only else cls.Policy.ASK


class ConversationTool(models.Model):
    """The owner's choices about one tool in one conversation."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="tool_choices"
    )
    tool_name = models.CharField(max_length=100)
    switched_off = models.BooleanField(default=False)
    # Set by the owner's "Allow for this conversation" on a card, never by a tool.
    allowed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tool_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "tool_name"], name="conversation_tool_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} in conversation {self.conversation_id}"
