"""Budgets and rate limits, checked before anything is sent upstream.

Counters live in Django's cache (Redis when REDIS_URL is set), so every process shares
them. Windows are fixed, LLM_RATE_WINDOW seconds long (a minute by default).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone

from agents.errors import STORE_ERRORS, Blocked
from agents.events import Waiting
from agents.models import UsageDay, UserBudget
from chatsite import db

# Seconds to suggest before retrying while the shared store (Redis) is unreachable.
STORE_RETRY_AFTER = 30


def monthly_budget(user_id: int) -> Decimal:
    """The user's own budget when staff set one, else LLM_MONTHLY_BUDGET_USD."""
    own = UserBudget.objects.filter(user_id=user_id).values_list("monthly_usd").first()
    return own[0] if own else settings.LLM_MONTHLY_BUDGET_USD


def spent_this_month(user_id: int) -> Decimal:
    """What the user's calls cost since the 1st, from the per-day rollup."""
    month = timezone.localdate(timezone=timezone.get_default_timezone()).replace(day=1)
    rows = UsageDay.objects.filter(user_id=user_id, day__gte=month)
    return rows.aggregate(total=Sum("cost"))["total"] or Decimal(0)


def _next_month(today: date) -> date:
    return date(today.year + today.month // 12, today.month % 12 + 1, 1)


def check(user_id: int | None) -> None:
    """Before a call: raise `Blocked` when the user has spent this month's budget, else
    count the request against the user's rate limit (raising when over it)."""
    if user_id is None:
        return
    budget, spent = monthly_budget(user_id), spent_this_month(user_id)
    if spent >= budget:
        resets = _next_month(timezone.localdate(timezone=timezone.get_default_timezone()))
        raise Blocked(
            f"You have used this month's model budget (${budget:.2f}). "
            f"It renews on {resets:%B} 1; staff can raise it."
        )
    _count_user_request(user_id)


def _window() -> tuple[int, float]:
    """The current window's number and the seconds left in it."""
    length = settings.LLM_RATE_WINDOW
    now = time.time()
    return int(now // length), length - (now % length)


def _count(key: str, amount: int = 1) -> int:
    """Add `amount` to a counter that expires with its window; returns the new value.

    With the shared store down, limits cannot be counted, so nothing is sent: an
    uncounted call could overspend the account.
    """
    timeout = int(settings.LLM_RATE_WINDOW) * 2 + 1
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


def _admit(tokens: int) -> float:
    """Take one request and `tokens` from the upstream's window; 0 when admitted, else
    the seconds until the next window (the taken amounts are given back)."""
    rpm, tpm = settings.LLM_GLOBAL_RPM, settings.LLM_GLOBAL_TPM
    window, left = _window()
    requests_key, tokens_key = f"llm:global-rpm:{window}", f"llm:global-tpm:{window}"
    requests = _count(requests_key)
    used = _count(tokens_key, tokens)
    if (not rpm or requests <= rpm) and (not tpm or used <= tpm or used == tokens):
        return 0.0
    cache.decr(requests_key)
    cache.decr(tokens_key, tokens)
    return left


def admit(tokens: int) -> float:
    """Take one request and `tokens` from the upstream's window: 0 when admitted (or
    the account has no such limits), else the seconds until the next window."""
    if not (settings.LLM_GLOBAL_RPM or settings.LLM_GLOBAL_TPM):
        return 0.0
    return _admit(tokens)


async def wait_for_capacity(tokens: int, wait: float) -> AsyncIterator[Waiting]:
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
        wait = await db.run(admit, tokens)
