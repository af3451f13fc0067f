from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from conversations.models import Conversation, Message


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


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "model", "message_count", "created_at", "updated_at")
    list_filter = ("model", "created_at")
    list_select_related = ("owner",)
    search_fields = ("title", "owner__username", "messages__content")
    raw_id_fields = ("owner",)
    date_hierarchy = "created_at"
    inlines = [MessageInline]

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
