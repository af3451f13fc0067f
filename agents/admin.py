"""Staff views of model usage: prices, budgets, tokens, every call, and per-user pages."""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path

from agents import prices, reports
from agents.models import ModelPrice, ModelProfile, UsageRecord, UserBudget
from chatsite.csv_cells import safe_row

SUMMARY_COLUMNS = [
    "user_id",
    "user__username",
    "today_requests",
    "today_tokens",
    "today_cost",
    "month_requests",
    "month_tokens",
    "month_cost",
    "all_requests",
    "all_tokens",
    "all_cost",
    "budget",
    "budget_left",
    "errors",
    "cache_hits",
    "cache_hit_tokens",
    "saved",
]
RECORD_COLUMNS = [
    "created_at",
    "purpose",
    "model_requested",
    "model_served",
    "prompt_tokens",
    "cached_tokens",
    "completion_tokens",
    "cost",
    "served_tokens",
    "cache_hit_tokens",
    "cost_saved",
    "latency_ms",
    "cache_hit",
    "estimated",
    "outcome",
    "conversation_id",
]


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = (
        "model",
        "input_per_million",
        "cached_input_per_million",
        "output_per_million",
        "valid_from",
        "source",
    )
    list_filter = ("valid_from",)
    search_fields = ("model",)


@admin.register(ModelProfile)
class ModelProfileAdmin(admin.ModelAdmin):
    """Per model: what its server accepts (learned ones noted in `learned`), its
    context window, the other names it goes by, whether it is free, and its price."""

    list_display = (
        "name",
        "display_name",
        "tools",
        "parallel_tools",
        "streaming",
        "stream_options",
        "structured_outputs",
        "reasoning_format",
        "context_window",
        "free",
        "price",
        "updated_at",
    )
    list_filter = ("free", "tools", "streaming", "stream_options")
    search_fields = ("name", "display_name")
    readonly_fields = ("updated_at",)

    @admin.display(description="Price today (USD per 1M in / out)")
    def price(self, profile: ModelProfile) -> str:
        if profile.free:
            return "free"
        price = prices.price_for(profile.name)
        if price is None:
            return "unpriced"
        return f"{price.input_per_million} / {price.output_per_million}"


@admin.register(UserBudget)
class UserBudgetAdmin(admin.ModelAdmin):
    list_display = ("user", "monthly_usd")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    search_fields = ("user__username",)


class TokensFilter(admin.SimpleListFilter):
    """Calls by where their tokens came from: the upstream served them, a cache hit
    replayed them (the upstream never saw them), or there were none (refused)."""

    title = "tokens"
    parameter_name = "tokens"
    CHOICES = {
        "served": Q(cache_hit=False) & (Q(prompt_tokens__gt=0) | Q(completion_tokens__gt=0)),
        "cache_hit": Q(cache_hit=True),
        "none": Q(cache_hit=False, prompt_tokens=0, completion_tokens=0),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [
            ("served", "Served by the upstream"),
            ("cache_hit", "Replayed from the cache"),
            ("none", "None (refused or blocked)"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        chosen = self.CHOICES.get(self.value() or "")
        return queryset if chosen is None else queryset.filter(chosen)


def _tokens(cache_hit: bool) -> Case:
    """A row's tokens when it is (or is not) a cache hit, else 0."""
    total = F("prompt_tokens") + F("completion_tokens")
    return Case(When(cache_hit=cache_hit, then=total), default=Value(0))


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "user",
        "purpose",
        "model_requested",
        "model_served",
        "prompt_tokens",
        "completion_tokens",
        "served_tokens",
        "cache_hit_tokens",
        "cost",
        "outcome",
        "server_status",
        "cache_hit",
        "estimated",
    )
    list_filter = (
        ("user", admin.RelatedOnlyFieldListFilter),
        "model_served",
        "purpose",
        "outcome",
        TokensFilter,
        "cache_hit",
        "estimated",
    )
    list_select_related = ("user",)
    raw_id_fields = ("user", "conversation", "message")
    date_hierarchy = "created_at"
    search_fields = ("user__username", "model_requested", "model_served", "server_message")
    change_list_template = "admin/agents/usagerecord_change_list.html"
    show_full_result_count = False  # no COUNT(*) over a million rows per page view

    def get_urls(self):
        own = [
            path("per-user/", self._view(self.per_user_view), name="agents_usage_per_user"),
            path(
                "per-user/export.csv",
                self._view(self.per_user_csv),
                name="agents_usage_per_user_csv",
            ),
            path(
                "per-user/<int:user_id>/",
                self._view(self.user_view),
                name="agents_usage_user",
            ),
            path(
                "per-user/<int:user_id>/export.csv",
                self._view(self.user_csv),
                name="agents_usage_user_csv",
            ),
        ]
        return own + super().get_urls()

    def _view(self, view):
        """Staff only (admin_view), and only those allowed to see usage records."""

        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not self.has_view_permission(request):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return self.admin_site.admin_view(guarded)

    def per_user_view(self, request: HttpRequest) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage per user",
            "opts": self.model._meta,
            "rows": reports.per_user(),
            "usage_zone": settings.TIME_ZONE,
        }
        return TemplateResponse(request, "admin/agents/usage_per_user.html", context)

    def user_view(self, request: HttpRequest, user_id: int) -> HttpResponse:
        person = get_object_or_404(get_user_model(), pk=user_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Usage of {person.get_username()}",
            "opts": self.model._meta,
            "person": person,
            "usage_zone": settings.TIME_ZONE,
            **reports.for_one_user(person),
        }
        return TemplateResponse(request, "admin/agents/usage_user.html", context)

    def per_user_csv(self, request: HttpRequest) -> HttpResponse:
        rows = ([row[c] for c in SUMMARY_COLUMNS] for row in reports.per_user())
        return _csv("usage-per-user.csv", SUMMARY_COLUMNS, rows)

    def user_csv(self, request: HttpRequest, user_id: int) -> HttpResponse:
        person = get_object_or_404(get_user_model(), pk=user_id)
        records = (
            UsageRecord.objects.filter(user=person)
            .annotate(served_tokens=_tokens(False), cache_hit_tokens=_tokens(True))
            .values_list(*RECORD_COLUMNS)
        )
        return _csv(f"usage-user-{person.pk}.csv", RECORD_COLUMNS, records.iterator())


class _Echo:
    """A file-like object whose write returns the line, for a streamed CSV."""

    def write(self, value: str) -> str:
        return value


def _csv(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    lines = (writer.writerow(safe_row(row)) for row in _prepend(header, rows))
    response = StreamingHttpResponse(lines, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _prepend(first, rest):
    yield first
    yield from rest
