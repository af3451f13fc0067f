"""Budgets and rate limits, checked before anything is sent upstream.

Counters live in Django's cache (Redis when REDIS_URL is set), so every process shares
them. Windows are fixed, LLM_RATE_WINDOW seconds long (a minute by default).

A call holds what it took (`Hold`): the estimated cost reserved against its user's
budget, so concurrent calls cannot all pass a check that only sees finished calls, and
the tokens it took from the upstream's window. `release` gives both back once the
call's usage row is written.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone

from agents.errors import STORE_ERRORS, Blocked
from agents.events import Waiting
from agents.models import UsageDay, UsageRecord, UserBudget
from agents.prices import price_for
from chatsite import db
from chatsite.compiled import Compiled

logger = logging.getLogger(__name__)

# Seconds to suggest before retrying while the shared store (Redis) is unreachable.
STORE_RETRY_AFTER = 30
# Budget reservations are counted in billionths of a dollar (cache counters are
# integers), rounded up so a reservation never holds less than the estimate.
UNITS_PER_USD = Decimal(10**9)
# A reservation left behind by a process that died frees itself after this long.
RESERVATION_TTL = 15 * 60


@dataclass
class Hold:
    """What one call took from the shared limits before going upstream."""

    user_id: int | None = None
    budget_units: int = 0
    tokens: int = 0
    window: int | None = None


def budget_and_spent(user_id: int) -> tuple[Decimal, Decimal]:
    """The user's monthly budget (their own when staff set one, else
    LLM_MONTHLY_BUDGET_USD) and what their calls cost since the 1st, from the per-day
    rollup: one query, built once (it runs before every call)."""
    month = timezone.localdate(timezone=timezone.get_default_timezone()).replace(day=1)
    row = _BUDGET_AND_SPENT.first(user_id, month)
    budget, total = (row.own_budget, row.spent) if row is not None else (None, None)
    return (
        settings.LLM_MONTHLY_BUDGET_USD if budget is None else _decimal(budget),
        _decimal(total or 0),
    )


def _budget_and_spent(user_id: int, month: date):
    own = UserBudget.objects.filter(user_id=OuterRef("pk")).values("monthly_usd")[:1]
    days = UsageDay.objects.filter(user_id=OuterRef("pk"), day__gte=month).order_by()
    spent = days.values("user_id").annotate(total=Sum("cost")).values("total")
    return (
        get_user_model()
        .objects.filter(pk=user_id)
        .only("pk")
        .annotate(own_budget=Subquery(own), spent=Subquery(spent))
    )


_BUDGET_AND_SPENT = Compiled(_budget_and_spent, ["int", "date"])


def _decimal(value: object) -> Decimal:
    """An amount as read back from a raw query: a Decimal from PostgreSQL, a number
    from SQLite (cut to the cost columns' 12 decimal places)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(Decimal("1e-12"))


def _next_month(today: date) -> date:
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)


def check(user_id: int | None, *, model: str = "", tokens: int = 0) -> Hold:
    """Before a call: raise `Blocked` when the user has spent this month's budget, else
    reserve the call's estimated cost on `model` (`tokens` of prompt) and count the
    request against the user's rate limit (raising when over either)."""
    hold = Hold(user_id=user_id)
    if user_id is None:
        return hold
    budget, spent = budget_and_spent(user_id)
    if spent >= budget:
        raise _over_budget(budget)
    hold.budget_units = _reserve(user_id, _units(estimated_cost(model, tokens)), budget - spent)
    try:
        _count_user_request(user_id)
    except Blocked:
        release(hold)
        raise
    return hold


def _over_budget(budget: Decimal) -> Blocked:
    resets = _next_month(timezone.localdate(timezone=timezone.get_default_timezone()))
    return Blocked(
        f"You have used this month's model budget (${budget:.2f}). "
        f"It renews on {resets:%B} 1; staff can raise it."
    )


def estimated_cost(model: str, prompt_tokens: int) -> Decimal:
    """The most a call is expected to cost: its prompt plus LLM_RESERVE_COMPLETION_TOKENS
    of answer; 0 for the demo model or a model without a price."""
    price = price_for(model) if model and not settings.LLM_DEMO else None
    if price is None:
        return Decimal(0)
    return price.cost(prompt_tokens, 0, settings.LLM_RESERVE_COMPLETION_TOKENS)


def _units(cost: Decimal) -> int:
    return int((cost * UNITS_PER_USD).to_integral_value(rounding=ROUND_CEILING))


def _reserve(user_id: int, units: int, left: Decimal) -> int:
    """Reserve `units` against what is `left` of the budget. The counter is shared, so of
    calls at once only those whose reservations fit go; a call alone always goes (a
    user's overshoot is one call at most). Returns the units reserved."""
    if not units:
        return 0  # nothing to reserve (the demo model, an unpriced model): no trip
    key = f"llm:reserved:{user_id}"
    try:
        total = _count(key, units, timeout=RESERVATION_TTL)
    except Blocked:
        # The shared store is down: the month's spending was checked in the database
        # just now, so the call goes; only calls at once can overshoot until it is back.
        logger.warning("Budget reservations are off while the shared store is down")
        return 0
    if total > units and Decimal(total) / UNITS_PER_USD > left:
        _give_back(key, units)
        raise Blocked(
            "Your replies still running may use up this month's model budget "
            f"(${left:.2f} left); try again when they have finished."
        )
    return units


def release(hold: Hold, used_tokens: int | None = None) -> None:
    """Give back what `hold` took: its budget reservation (the usage row now counts the
    real cost) and, for a call that failed, the window's tokens it did not use."""
    if hold.user_id is not None and hold.budget_units:
        _give_back(f"llm:reserved:{hold.user_id}", hold.budget_units)
        hold.budget_units = 0
    unused = 0 if used_tokens is None else hold.tokens - used_tokens
    if hold.window is not None and unused > 0:
        _give_back(f"llm:global-tpm:{hold.window}", unused)
        hold.tokens -= unused


def release_after(hold: Hold | None, record: UsageRecord | None, accepted: bool) -> None:
    """`release` once a call's usage is written: a failed call gives back the tokens
    the upstream did not process."""
    if hold is None:
        return
    failed = record is None or record.outcome not in (UsageRecord.Outcome.OK,)
    used = (record.prompt_tokens + record.completion_tokens) if record and accepted else 0
    release(hold, used if failed else None)


def _give_back(key: str, amount: int) -> None:
    try:
        cache.decr(key, amount)
    except ValueError:  # the counter expired meanwhile: nothing left to give back
        pass
    except STORE_ERRORS:
        logger.warning("Could not give back %s of %s to the shared store", amount, key)


def _window() -> tuple[int, float]:
    """The current window's number and the seconds left in it."""
    length = settings.LLM_RATE_WINDOW
    now = time.time()
    return int(now // length), length - (now % length)


def _count(key: str, amount: int = 1, timeout: int | None = None) -> int:
    """Add `amount` to a counter that expires with its window (or after `timeout`
    seconds); returns the new value.

    With the shared store down, limits cannot be counted, so nothing is sent: an
    uncounted call could overspend the account.
    """
    timeout = timeout or int(settings.LLM_RATE_WINDOW) * 2 + 1
    try:
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key, amount)
        except ValueError:  # expired between add and incr
            cache.set(key, amount, timeout=timeout)
            return amount
    except STORE_ERRORS as exc:
        raise Blocked(
            "Usage limits cannot be checked right now (the server cannot reach its "
            "shared store), so nothing was sent. Try again in a minute.",
            retry_after=STORE_RETRY_AFTER,
        ) from exc


def _count_user_request(user_id: int) -> None:
    limit = settings.LLM_USER_RPM
    if not limit:
        return
    window, left = _window()
    if _count(f"llm:user-rate:{user_id}:{window}") > limit:
        seconds = math.ceil(left)
        raise Blocked(
            f"You are sending requests too fast (limit {limit} per minute). "
            f"Try again in {seconds} s.",
            retry_after=seconds,
        )


def _admit(tokens: int, hold: Hold) -> float:
    """Take one request and `tokens` from the upstream's window; 0 when admitted (noted
    in `hold`), else the seconds until the next window (the taken amounts are given back)."""
    rpm, tpm = settings.LLM_GLOBAL_RPM, settings.LLM_GLOBAL_TPM
    window, left = _window()
    requests_key, tokens_key = f"llm:global-rpm:{window}", f"llm:global-tpm:{window}"
    requests = _count(requests_key)
    used = _count(tokens_key, tokens)
    if (not rpm or requests <= rpm) and (not tpm or used <= tpm):
        hold.tokens, hold.window = tokens, window
        return 0.0
    _give_back(requests_key, 1)
    _give_back(tokens_key, tokens)
    return left


def admit(tokens: int, hold: Hold | None = None) -> float:
    """Take one request and `tokens` from the upstream's window: 0 when admitted (or
    the account has no such limits), else the seconds until the next window.

    Raises `Blocked` for a call larger than a whole window: it could never be admitted.
    """
    tpm = settings.LLM_GLOBAL_TPM
    if tpm and tokens > tpm:
        raise Blocked(
            f"This request is too large for the model server ({tokens:,} tokens; "
            f"the limit is {tpm:,} tokens a minute). Shorten the system prompt or the message."
        )
    if not (settings.LLM_GLOBAL_RPM or tpm):
        return 0.0
    return _admit(tokens, hold or Hold())


async def wait_for_capacity(
    tokens: int, wait: float, hold: Hold | None = None
) -> AsyncIterator[Waiting]:
    """Queue for the account's upstream limits after `admit` asked to `wait`, yielding
    `Waiting` while queued.

    Raises `Blocked` when the wait would pass LLM_GLOBAL_WAIT_MAX seconds in all.
    """
    waited = 0.0
    while wait:
        if waited + wait > settings.LLM_GLOBAL_WAIT_MAX:
            raise Blocked(
                "The model server is at capacity right now; try again in a minute.",
                retry_after=math.ceil(wait),
            )
        yield Waiting(seconds=round(wait, 1))
        await asyncio.sleep(wait)
        waited += wait
        wait = await db.run(admit, tokens, hold)
