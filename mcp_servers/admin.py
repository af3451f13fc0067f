"""Staff connect MCP servers here; saving one, or "Refresh tools", lists its tools."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from mcp_servers import client, discovery
from mcp_servers.models import McpServer, McpTool


class McpServerForm(forms.ModelForm):
    """The bearer token is never shown back; left empty, the stored one is kept."""

    url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text="The Streamable HTTP endpoint, such as …/mcp.",
    )
    bearer_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Sent as Authorization: Bearer …; leave empty to keep the current one.",
    )

    class Meta:
        model = McpServer
        fields = (
            "name",
            "transport",
            "url",
            "headers",
            "bearer_token",
            "command",
            "args",
            "enabled",
            "timeout",
            "everyone",
            "allowed_users",
            "allowed_groups",
        )

    def clean_bearer_token(self) -> str:
        token = self.cleaned_data.get("bearer_token") or ""
        return token or (self.instance.bearer_token if self.instance.pk else "")


class McpToolInline(admin.TabularInline):
    model = McpTool
    extra = 0
    can_delete = False
    fields = ("name", "description", "read_only", "policy", "never_ask_override", "enabled")
    readonly_fields = ("name", "description", "read_only")
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # tools come from the server, by discovery


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
    list_display = ("name", "transport", "enabled", "everyone", "tool_count", "refreshed_at")
    list_filter = ("transport", "enabled")
    search_fields = ("name", "url", "command")
    filter_horizontal = ("allowed_users", "allowed_groups")
    readonly_fields = ("refreshed_at", "last_error", "created_at")
    inlines = [McpToolInline]
    actions = ["refresh_tools"]

    @admin.display(description="Tools")
    def tool_count(self, server: McpServer) -> int:
        return server.tools.count()

    def save_model(self, request: HttpRequest, obj: McpServer, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if obj.enabled:
            _refresh(request, obj)

    @admin.action(description="Refresh tools")
    def refresh_tools(self, request: HttpRequest, queryset: QuerySet[McpServer]) -> None:
        for server in queryset:
            _refresh(request, server)


def _refresh(request: HttpRequest, server: McpServer) -> None:
    try:
        found = discovery.refresh(server)
    except client.ServerUnavailable as exc:
        messages.warning(request, f"{server.name}: its tools could not be listed: {exc}")
        return
    messages.success(request, f"{server.name}: {len(found)} tool(s) listed.")


@admin.register(McpTool)
class McpToolAdmin(admin.ModelAdmin):
    list_display = ("offered_name", "server", "read_only", "policy", "enabled", "discovered_at")
    list_filter = ("server", "policy", "read_only", "enabled")
    list_select_related = ("server",)
    search_fields = ("name", "description", "server__name")
    fields = (
        "server",
        "name",
        "description",
        "input_schema",
        "annotations",
        "read_only",
        "policy",
        "never_ask_override",
        "enabled",
        "discovered_at",
    )
    readonly_fields = (
        "server",
        "name",
        "description",
        "input_schema",
        "annotations",
        "read_only",
        "discovered_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
