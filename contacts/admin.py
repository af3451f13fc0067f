from django.contrib import admin

from contacts.models import Contact


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("__str__", "email", "phone", "company", "owner", "created_at")
    list_filter = ("created_at",)
    list_select_related = ("owner",)
    search_fields = ("name", "email", "phone", "company", "owner__username")
    raw_id_fields = ("owner", "source_message")
    readonly_fields = ("email_normalized", "phone_normalized", "created_at", "updated_at")
