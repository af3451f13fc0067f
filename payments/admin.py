from django.contrib import admin
from django.http import HttpRequest

from payments.models import Payment


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("created_at", "owner", "recipient", "amount", "currency", "status", "backend")
    list_filter = ("status", "currency", "backend")
    list_select_related = ("owner",)
    search_fields = ("recipient", "memo", "owner__username", "reference")
    raw_id_fields = ("owner",)
    date_hierarchy = "created_at"

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # A ledger is append-only.
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
