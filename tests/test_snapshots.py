"""Tables kept in memory (chatsite/snapshots.py): read once, read again after a change,
whichever process made it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.cache import cache

from agents import prices, profiles
from agents.models import ModelPrice
from chatsite.snapshots import Snapshot

pytestmark = pytest.mark.django_db


def counted_prices() -> tuple[Snapshot, list[int]]:
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return ModelPrice.objects.count()

    snapshot = Snapshot("test-prices", load)
    snapshot.watch(ModelPrice)
    return snapshot, loads


def a_price(model: str = "snap-model", per_million: str = "1") -> ModelPrice:
    return ModelPrice.objects.create(
        model=model,
        input_per_million=Decimal(per_million),
        output_per_million=Decimal(per_million),
        valid_from=date(2020, 1, 1),
    )


def test_read_once_until_a_row_changes():
    snapshot, loads = counted_prices()
    before = snapshot.get()
    assert snapshot.get() == before and len(loads) == 1
    a_price()
    assert snapshot.get() == before + 1 and len(loads) == 2
    ModelPrice.objects.filter(model="snap-model").delete()
    assert snapshot.get() == before and len(loads) == 3


def test_a_change_in_another_process_is_seen_through_the_shared_version():
    snapshot, loads = counted_prices()
    snapshot.get()
    cache.set(snapshot.key, "set by another process")
    snapshot.get()
    assert len(loads) == 2


def test_a_change_without_signals_is_seen_after_max_age():
    snapshot, loads = counted_prices()
    snapshot.max_age = 0.0
    first = snapshot.get()
    ModelPrice.objects.bulk_create([a_price_row()])
    assert snapshot.get() == first + 1 and len(loads) == 2


def a_price_row() -> ModelPrice:
    return ModelPrice(
        model="bulk-model",
        input_per_million=Decimal(1),
        output_per_million=Decimal(1),
        valid_from=date(2020, 1, 1),
    )


def test_the_call_prices_follow_an_edit_at_once():
    price = a_price(per_million="2")
    assert prices.price_for("snap-model") == price
    price.input_per_million = Decimal(5)
    price.save()
    assert prices.price_for("snap-model").input_per_million == Decimal(5)
    profiles.get_or_seed("snap-model")
    assert "snap-model" in profiles.catalog().profiles


def test_the_newest_valid_price_wins_on_each_day():
    a_price(per_million="1")
    later = ModelPrice.objects.create(
        model="snap-model",
        input_per_million=Decimal(3),
        output_per_million=Decimal(3),
        valid_from=date(2021, 1, 1),
    )
    assert prices.price_for("snap-model", date(2020, 6, 1)).input_per_million == Decimal(1)
    assert prices.price_for("snap-model", date(2021, 6, 1)) == later
    assert prices.price_for("snap-model", date(2019, 6, 1)) is None
