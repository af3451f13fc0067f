from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from conversations import classification
from conversations.models import Conversation, Message, Summary, ToolConfirmation


class ConfidenceFilter(admin.SimpleListFilter):
    """Conversations by how sure the classifier was."""

    title = "confidence"
    parameter_name = "confidence"
    RANGES = {
        "low": ("Low (below 50%)", 0.0, 0.5),
        "medium": ("Medium (50-80%)", 0.5, 0.8),
        "high": ("High (80% and up)", 0.8, 1.01),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [(key, label) for key, (label, _, _) in self.RANGES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in self.RANGES:
            return queryset
        _, low, high = self.RANGES[self.value()]
        return queryset.filter(confidence__gte=low, confidence__lt=high)


class ReadOnlyInline(admin.TabularInline):
    """Rows shown for reading, linked to their own pages: staff add or delete none here."""

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
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


class SummaryInline(ReadOnlyInline):
    model = Summary
    fields = ("status", "covers", "folded_messages", "text", "tokens", "model", "error")

    @admin.display(description="Covers")
    def covers(self, obj: Summary) -> str:
        return summary_range(obj)


def summary_range(summary: Summary) -> str:
    return f"messages up to #{summary.up_to_message_id}"


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "owner",
        "model",
        "category",
        "confidence",
        "classification_state",
        "message_count",
        "created_at",
        "updated_at",
    )
    list_filter = ("model", "category", ConfidenceFilter, "classification_state", "created_at")
    list_select_related = ("owner",)
    search_fields = ("title", "owner__username", "messages__content")
    raw_id_fields = ("owner",)
    date_hierarchy = "created_at"
    inlines = [MessageInline, SummaryInline]
    actions = ["reclassify"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    @admin.display(ordering="message_count", description="Messages")
    def message_count(self, obj: Conversation) -> int:
        return obj.message_count

    @admin.action(description="Re-classify selected conversations")
    def reclassify(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        done = async_to_sync(classification.classify_many)(ids)
        failed = [
            c for c in done if c.classification_state == Conversation.ClassificationState.FAILED
        ]
        self.message_user(request, f"Re-classified {len(done) - len(failed)} conversation(s).")
        if failed:
            titles = ", ".join(c.title for c in failed)
            self.message_user(request, f"Classification failed for: {titles}", messages.WARNING)


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
        "server",
        "status",
        "owner",
        "decided_by",
        "requested_at",
        "decided_at",
        "executed_at",
        "conversation",
    )
    list_filter = ("status", "server", "tool_name")
    list_select_related = ("owner", "decided_by", "conversation")
    search_fields = ("tool_name", "server", "summary", "owner__username", "result")
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
