"""Usage figures for staff, every one aggregated in SQL: totals from the per-day rollup
(`UsageDay`), breakdowns and the latest calls from one user's `UsageRecord` rows.

Days, "today" and "this month" are all in the site's declared zone (TIME_ZONE), the
zone `UsageDay` rows are counted in, whatever zone the staff member reads them in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
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


def usage_today() -> date:
    """Today in the zone usage days are counted in (see `UsageDay.add`)."""
    return timezone.localdate(timezone=timezone.get_default_timezone())


def _totals() -> dict[str, Any]:
    """The annotations of one row of the per-user page, over `UsageDay` rows."""
    today = usage_today()
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


# The chart's drawing area inside its 320x132 viewBox: room for the value axis on the
# left and the day labels below.
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 44.0, 316.0, 8.0, 108.0


@dataclass
class Bar:
    day: date
    value: Decimal | int
    x: float
    y: float
    height: float


@dataclass
class Chart:
    """One measure per day as bars, with what the axes need; `empty` when all are zero."""

    measure: str  # "requests", "tokens" or "cost"
    title: str
    bars: list[Bar]
    peak: Decimal | int
    width: float

    @property
    def empty(self) -> bool:
        return not self.peak

    @property
    def half(self) -> Decimal | float:
        return self.peak / 2

    @property
    def middle(self) -> Bar:
        return self.bars[len(self.bars) // 2]


CHARTS = (("requests", "Requests per day"), ("tokens", "Tokens per day"), ("cost", "Cost per day"))


def per_day(user, days: int = CHART_DAYS) -> list[Chart]:
    """The user's last `days` days of requests, tokens and cost, as bar charts drawn
    by the server: with free models (the demo, a local server) the cost bars are all
    zero, and the requests and tokens still show the use."""
    start = usage_today() - timedelta(days=days - 1)
    rows = UsageDay.objects.filter(user=user, day__gte=start).values("day", *dict(CHARTS))
    by_day = {row["day"]: row for row in rows}
    slot = (PLOT_RIGHT - PLOT_LEFT) / days
    charts = []
    for measure, title in CHARTS:
        zero = ZERO if measure == "cost" else 0
        values = [by_day.get(start + timedelta(i), {}).get(measure, zero) for i in range(days)]
        peak = max(values, default=zero)
        bars = [
            _bar(start + timedelta(i), value, PLOT_LEFT + i * slot, peak)
            for i, value in enumerate(values)
        ]
        charts.append(Chart(measure, title, bars, peak, round(slot * 0.75, 2)))
    return charts


def _bar(day: date, value: Decimal | int, x: float, peak: Decimal | int) -> Bar:
    height = float(value / peak) * (PLOT_BOTTOM - PLOT_TOP) if peak else 0.0
    return Bar(day, value, round(x, 2), PLOT_BOTTOM - height, height)


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
        "charts": per_day(user),
        "by_model": breakdown(records, "model_served"),
        "by_purpose": breakdown(records, "purpose"),
        "latest": records.select_related("conversation")[:LATEST],
    }
