"""Live updates through the channel layer: best effort, because the database holds the
truth.

Frames, stop requests and resyncs travel through the channel layer (Redis when
REDIS_URL is set). When it is unreachable, a reply still runs to its end and is saved;
only the live view of it pauses. So nothing here raises for a failed send: it logs (once
per outage, not once per frame) and reports False, and tabs catch up from the database
when they reconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from agents.errors import STORE_ERRORS

logger = logging.getLogger(__name__)

# What a channel layer raises when its backing service is gone.
LAYER_ERRORS = STORE_ERRORS

_outage = False  # a failed send was logged; the next success logs the recovery


async def broadcast(group: str, event: dict[str, Any]) -> bool:
    """Send `event` to every member of `group`; False when the layer is unavailable."""
    layer = get_channel_layer()
    return await _try(layer.group_send(group, event), f"{event['type']} to {group}")


async def send_to(channel: str, event: dict[str, Any]) -> bool:
    """Send `event` to one channel (one socket); False when it could not go."""
    layer = get_channel_layer()
    return await _try(layer.send(channel, event), f"{event['type']} to one socket")


async def join(group: str, channel: str) -> bool:
    return await _try(get_channel_layer().group_add(group, channel), f"joining {group}")


async def leave(group: str, channel: str) -> bool:
    return await _try(get_channel_layer().group_discard(group, channel), f"leaving {group}")


async def _try(operation: Awaitable[Any], what: str) -> bool:
    try:
        await operation
    except (*LAYER_ERRORS, ChannelFull) as exc:
        _failed(what, exc)
        return False
    _succeeded()
    return True


def _failed(what: str, exc: BaseException) -> None:
    global _outage
    if not _outage:
        logger.warning("Channel layer unavailable (%s failed: %s); live updates paused", what, exc)
    _outage = True


def _succeeded() -> None:
    global _outage
    if _outage:
        logger.warning("Channel layer reachable again; live updates resumed")
    _outage = False
