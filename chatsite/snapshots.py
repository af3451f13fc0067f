"""Small tables read on every model call, kept in memory until one of their rows changes.

A `Snapshot` holds what `load` built from the database (model profiles and prices, the
enabled tool servers) in this process. Saving or deleting a row of a watched model bumps
a version token in Django's cache (Redis when REDIS_URL is set, so every process sees
it); a snapshot whose token no longer matches is built again on next use. A change made
without the model's signals (a bulk `update()`, SQL by hand) is picked up within
`max_age` seconds. When the cache cannot be read, the snapshot is built afresh each
time: slower, never stale.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save

logger = logging.getLogger(__name__)
T = TypeVar("T")

_all: list[Snapshot] = []


class Snapshot(Generic[T]):
    """`load()`'s result, shared by the threads of this process until it goes stale."""

    def __init__(self, name: str, load: Callable[[], T], *, max_age: float = 60.0) -> None:
        self.key = f"snapshot-version:{name}"
        self.load = load
        self.max_age = max_age
        self._lock = threading.Lock()
        self._held: tuple[T, object, float] | None = None  # value, version, built at
        _all.append(self)

    def get(self) -> T:
        try:
            version = cache.get(self.key)
        except Exception:
            return self.load()  # the shared store is away: never trust a copy
        held = self._held
        if held is not None and held[1] == version and time.monotonic() - held[2] < self.max_age:
            return held[0]
        with self._lock:
            value = self.load()
            self._held = (value, version, time.monotonic())
        return value

    def watch(self, *senders: type[models.Model]) -> None:
        """Go stale whenever a row of one of `senders` is saved or deleted."""
        for sender in senders:
            post_save.connect(self._changed, sender=sender, weak=False)
            post_delete.connect(self._changed, sender=sender, weak=False)

    def _changed(self, **kwargs: object) -> None:
        self.forget()
        # Also once the change is visible to others: a copy built from a read made
        # before the commit would otherwise hold the old rows.
        transaction.on_commit(self.forget, robust=True)

    def forget(self) -> None:
        """Drop this process's copy and tell the other processes to drop theirs."""
        self._held = None
        try:
            cache.set(self.key, uuid.uuid4().hex, None)
        except Exception:
            logger.warning("Could not tell other processes that %s changed", self.key)


def forget_all() -> None:
    """Drop every snapshot of this process (between tests, whose rows roll back)."""
    for snapshot in _all:
        snapshot._held = None
