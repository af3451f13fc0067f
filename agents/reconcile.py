"""The ledger checked against itself: every row's cost recomputed from the price
table, every user's days (`UsageDay`) recomputed from the rows. A healthy database
shows no difference; `manage.py usage_check` prints them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from agents import prices
from agents.events import Usage
from agents.models import UsageDay, UsageRecord

ROLLUP_FIELDS = ("requests", "tokens", "cache_hit_tokens", "cost", "errors", "cache_hits", "saved")
FAILED = (UsageRecord.Outcome.ERROR, UsageRecord.Outcome.CUT)


def cost_differences() -> Iterator[str]:
    """A line for each row whose cost is not what its tokens cost at the price of its
    model on its day (a cache hit costs 0; an unpriced call has no cost)."""
    rules: dict[tuple[str, str, date], Any] = {}
    for row in UsageRecord.objects.order_by("id").iterator():
        expected = Decimal(0) if row.cache_hit else _expected_cost(row, rules)
        if expected != row.cost:
            yield f"row {row.pk}: cost {_shown(row.cost)}, expected {_shown(expected)}"


def _expected_cost(row: UsageRecord, rules: dict) -> Decimal | None:
    key = (row.model_sent or row.model_requested, row.model_served, _day(row.created_at))
    if key not in rules:
        rules[key] = prices.price_rule(*key)
    usage = Usage(row.prompt_tokens, row.completion_tokens, row.cached_tokens)
    return prices.cost_by(rules[key], usage)


def rollup_differences() -> Iterator[str]:
    """A line for each user's day whose stored totals differ from its rows' sums."""
    stored = {(d.user_id, d.day): _amounts(d.__dict__) for d in UsageDay.objects.all()}
    computed = {(r["user_id"], r["day"]): _amounts(r) for r in _days_from_rows()}
    for key in sorted(stored.keys() | computed.keys(), key=str):
        have, want = stored.get(key), computed.get(key)
        if have != want:
            yield f"user {key[0]} on {key[1]}: stored {have}, from the rows {want}"


def _days_from_rows():
    served = Q(cache_hit=False)
    tokens = F("prompt_tokens") + F("completion_tokens")
    zero = Decimal(0)
    return (
        UsageRecord.objects.filter(user__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("user_id", "day")
        .annotate(
            requests=Count("id"),
            tokens=Coalesce(Sum(tokens, filter=served), 0),
            cache_hit_tokens=Coalesce(Sum(tokens, filter=~served), 0),
            cost=Coalesce(Sum("cost"), zero),
            errors=Count("id", filter=Q(outcome__in=FAILED)),
            cache_hits=Count("id", filter=~served),
            saved=Coalesce(Sum("cost_saved"), zero),
        )
        .order_by()
    )


def _amounts(values: dict[str, Any]) -> dict[str, Any]:
    return {name: Decimal(values[name]) for name in ROLLUP_FIELDS}


def _day(moment) -> date:
    return timezone.localdate(moment)


def _shown(cost: Decimal | None) -> str:
    return "unpriced" if cost is None else f"{cost:f}"
