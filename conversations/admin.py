from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from conversations.models import Conversation, Message, Summary, ToolConfirmation


class MessageInline(admin.TabularInline):
    model = Message
    fields = (
        "role",
        "status",
        "content",
        "error",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "created_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class SummaryInline(admin.TabularInline):
    model = Summary
    fields = ("status", "covers", "folded_messages", "text", "tokens", "model", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Covers")
    def covers(self, obj: Summary) -> str:
        return summary_range(obj)


def summary_range(summary: Summary) -> str:
    return f"messages up to #{summary.up_to_message_id}"


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "model", "message_count", "created_at", "updated_at")
    list_filter = ("model", "created_at")
    list_select_related = ("owner",)
    search_fields = ("title", "owner__username", "messages__content")
    raw_id_fields = ("owner",)
    date_hierarchy = "created_at"
    inlines = [MessageInline, SummaryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    @admin.display(ordering="message_count", description="Messages")
    def message_count(self, obj: Conversation) -> int:
        return obj.message_count


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "status", "model", "created_at")
    list_filter = ("role", "status", "model")
    list_select_related = ("conversation",)
    search_fields = ("content", "conversation__title")
    raw_id_fields = ("conversation",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(ToolConfirmation)
class ToolConfirmationAdmin(admin.ModelAdmin):
    """The audit trail of sensitive actions: who asked, who decided, what happened."""

    list_display = (
        "id",
        "tool_name",
        "status",
        "owner",
        "decided_by",
        "requested_at",
        "decided_at",
        "executed_at",
        "conversation",
    )
    list_filter = ("status", "tool_name")
    list_select_related = ("owner", "decided_by", "conversation")
    search_fields = ("tool_name", "summary", "owner__username", "result")
    date_hierarchy = "requested_at"
    readonly_fields = [f.name for f in ToolConfirmation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Decisions are made by the owner in the chat; the trail itself is read-only.
        return False


@admin.register(Summary)
class SummaryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "conversation",
        "status",
        "covers",
        "folded_messages",
        "tokens",
        "prompt_tokens",
        "completion_tokens",
        "model",
        "created_at",
    )
    list_filter = ("status", "model", "created_at")
    list_select_related = ("conversation",)
    search_fields = ("text", "error", "conversation__title")
    raw_id_fields = ("conversation",)
    readonly_fields = ("created_at",)

    @admin.display(ordering="up_to_message_id", description="Covers")
    def covers(self, obj: Summary) -> str:
        return summary_range(obj)
