from django.contrib import admin
from django.http import HttpRequest

from accounts.models import ApiToken, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "time_zone", "default_model")
    list_select_related = ("user",)
    search_fields = ("user__username", "display_name")
    raw_id_fields = ("user",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "hint", "created_at", "last_used_at", "revoked_at")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("token_hash", "hint", "created_at", "last_used_at")
    search_fields = ("name", "user__username")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # people create their own, and see the raw value once
