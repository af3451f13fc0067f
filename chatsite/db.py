"""Database work from async code, off Django's one shared thread where that is safe.

Django's async ORM (`aget`, `aupdate`, ...) and a plain `sync_to_async` run every call on
one thread per process, so under load the calls of all replies queue behind each other:
at fifty streams that queue, not the model, set the time to the first token. On
PostgreSQL, `run` uses a small pool of threads instead, each with its own connection.
SQLite takes one writer at a time, so there the calls stay on the shared thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

T = TypeVar("T")

# Seconds between a pool thread's checks of its database connection.
CONNECTION_CHECK_INTERVAL = 5.0

_thread = threading.local()


def _parallel() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


async def run(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`func(*args, **kwargs)`, a function doing ORM work, called from async code."""
    if _parallel():
        return await sync_to_async(_in_pool, thread_sensitive=False)(func, *args, **kwargs)
    return await sync_to_async(func)(*args, **kwargs)


def _in_pool(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # A pool thread keeps its connection between calls. Now and then, as Django does
    # around each request, drop it if it broke or outlived CONN_MAX_AGE (not on every
    # call: with CONN_HEALTH_CHECKS that would add a round trip to each).
    now = time.monotonic()
    if now - getattr(_thread, "checked", 0.0) >= CONNECTION_CHECK_INTERVAL:
        close_old_connections()
        _thread.checked = now
    return func(*args, **kwargs)
