"""Usage figures for staff, every one aggregated in SQL (see UsageRecord's indexes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from agents.models import UsageRecord, UserBudget

ZERO = Decimal(0)
FAILED = [UsageRecord.Outcome.ERROR, UsageRecord.Outcome.CUT]
CHART_DAYS = 30
LATEST = 50


def _money(expression: Any, **filters: Any) -> Coalesce:
    total = Sum(expression, filter=Q(**filters)) if filters else Sum(expression)
    return Coalesce(total, ZERO, output_field=DecimalField())


def _tokens(**filters: Any) -> Coalesce:
    tokens = F("prompt_tokens") + F("completion_tokens")
    total = Sum(tokens, filter=Q(**filters)) if filters else Sum(tokens)
    return Coalesce(total, 0)


def _period_starts() -> tuple[datetime, datetime]:
    now = timezone.localtime()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return today, today.replace(day=1)


def _totals() -> dict[str, Any]:
    """The annotations of one row of the per-user page."""
    today, month = _period_starts()
    return {
        "today_requests": Count("id", filter=Q(created_at__gte=today)),
        "today_tokens": _tokens(created_at__gte=today),
        "today_cost": _money("cost", created_at__gte=today),
        "month_requests": Count("id", filter=Q(created_at__gte=month)),
        "month_tokens": _tokens(created_at__gte=month),
        "month_cost": _money("cost", created_at__gte=month),
        "all_requests": Count("id"),
        "all_tokens": _tokens(),
        "all_cost": _money("cost"),
        "errors": Count("id", filter=Q(outcome__in=FAILED)),
        "cache_hits": Count("id", filter=Q(cache_hit=True)),
        "saved": _money("cost_saved"),
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
        UsageRecord.objects.filter(user__isnull=False)
        .values("user_id", "user__username")
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


def cost_per_day(records: QuerySet, days: int = CHART_DAYS) -> list[Bar]:
    """The last `days` days of cost as bars for the server-rendered SVG chart."""
    start = timezone.localdate() - timedelta(days=days - 1)
    sums = dict(
        records.filter(created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=_money("cost"))
        .values_list("day", "total")
    )
    peak = max(sums.values(), default=ZERO) or Decimal(1)
    bars = []
    for index in range(days):
        day = start + timedelta(days=index)
        cost = sums.get(day, ZERO)
        height = float(cost / peak) * 100
        bars.append(Bar(day.isoformat(), cost, index * 10 + 1, 100 - height, height))
    return bars


def breakdown(records: QuerySet, field: str) -> list[dict[str, Any]]:
    """Requests, tokens and cost grouped by `field` (model_served or purpose)."""
    return list(
        records.values(field)
        .annotate(requests=Count("id"), tokens=_tokens(), cost=_money("cost"))
        .order_by("-cost", field)
    )


def for_one_user(user) -> dict[str, Any]:
    """Everything the drill-down page shows about one user."""
    records = UsageRecord.objects.filter(user=user)
    totals = records.aggregate(**_totals())
    (row,) = _with_budgets([{"user_id": user.pk, **totals}])
    return {
        "totals": row,
        "bars": cost_per_day(records),
        "by_model": breakdown(records, "model_served"),
        "by_purpose": breakdown(records, "purpose"),
        "latest": records.select_related("conversation")[:LATEST],
    }
