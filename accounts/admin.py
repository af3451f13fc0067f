from django.contrib import admin

from accounts.models import Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "time_zone", "default_model")
    list_select_related = ("user",)
    search_fields = ("user__username", "display_name")
    raw_id_fields = ("user",)
