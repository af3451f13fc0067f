"""Usage figures for staff, every one aggregated in SQL: totals from the per-day rollup
(`UsageDay`), breakdowns and the latest calls from one user's `UsageRecord` rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import UsageDay, UsageRecord, UserBudget

ZERO = Decimal(0)
CHART_DAYS = 30
LATEST = 50


def _sum(field: str, **filters: Any) -> Coalesce:
    total = Sum(field, filter=Q(**filters)) if filters else Sum(field)
    zero = ZERO if field in ("cost", "saved") else 0
    output = DecimalField() if field in ("cost", "saved") else None
    return Coalesce(total, zero, output_field=output)


def _tokens(*, cache_hit: bool = False) -> Coalesce:
    """Tokens the upstream served, or (`cache_hit`) those cache hits replayed."""
    total = Sum(F("prompt_tokens") + F("completion_tokens"), filter=Q(cache_hit=cache_hit))
    return Coalesce(total, 0)


def _totals() -> dict[str, Any]:
    """The annotations of one row of the per-user page, over `UsageDay` rows."""
    today = timezone.localdate()
    month = today.replace(day=1)
    return {
        "today_requests": _sum("requests", day=today),
        "today_tokens": _sum("tokens", day=today),
        "today_cost": _sum("cost", day=today),
        "month_requests": _sum("requests", day__gte=month),
        "month_tokens": _sum("tokens", day__gte=month),
        "month_cost": _sum("cost", day__gte=month),
        "all_requests": _sum("requests"),
        "all_tokens": _sum("tokens"),
        "all_cost": _sum("cost"),
        "errors": _sum("errors"),
        "cache_hits": _sum("cache_hits"),
        "cache_hit_tokens": _sum("cache_hit_tokens"),
        "saved": _sum("saved"),
    }


def _with_budgets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    own = dict(
        UserBudget.objects.filter(user_id__in=[r["user_id"] for r in rows]).values_list(
            "user_id", "monthly_usd"
        )
    )
    for row in rows:
        row["budget"] = own.get(row["user_id"], settings.LLM_MONTHLY_BUDGET_USD)
        row["budget_left"] = row["budget"] - row["month_cost"]
    return rows


def per_user() -> list[dict[str, Any]]:
    """One row per user who made calls: today, this month, all time, budget, errors,
    cache hits and what they saved; the biggest spenders first."""
    rows = (
        UsageDay.objects.values("user_id", "user__username")
        .annotate(**_totals())
        .order_by("-all_cost", "user_id")
    )
    return _with_budgets(list(rows))


@dataclass
class Bar:
    day: str
    cost: Decimal
    x: float
    y: float
    height: float


def cost_per_day(user, days: int = CHART_DAYS) -> list[Bar]:
    """The user's last `days` days of cost as bars for the server-rendered SVG chart."""
    start = timezone.localdate() - timedelta(days=days - 1)
    sums = dict(UsageDay.objects.filter(user=user, day__gte=start).values_list("day", "cost"))
    peak = max(sums.values(), default=ZERO) or Decimal(1)
    bars = []
    for index in range(days):
        day = start + timedelta(days=index)
        cost = sums.get(day, ZERO)
        height = float(cost / peak) * 100
        bars.append(Bar(day.isoformat(), cost, index * 10 + 1, 100 - height, height))
    return bars


def breakdown(records: QuerySet, field: str) -> list[dict[str, Any]]:
    """Requests, tokens (served, and replayed by cache hits) and cost grouped by `field`
    (model_served or purpose)."""
    return list(
        records.values(field)
        .annotate(
            requests=Count("id"),
            tokens=_tokens(),
            cache_hit_tokens=_tokens(cache_hit=True),
            cost=Coalesce(Sum("cost"), ZERO, output_field=DecimalField()),
        )
        .order_by("-cost", field)
    )


def for_one_user(user) -> dict[str, Any]:
    """Everything the drill-down page shows about one user."""
    records = UsageRecord.objects.filter(user=user)
    totals = UsageDay.objects.filter(user=user).aggregate(**_totals())
    (row,) = _with_budgets([{"user_id": user.pk, **totals}])
    return {
        "totals": row,
        "bars": cost_per_day(user),
        "by_model": breakdown(records, "model_served"),
        "by_purpose": breakdown(records, "purpose"),
        "latest": records.select_related("conversation")[:LATEST],
    }
