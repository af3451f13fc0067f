"""The channel layer for a single process (no REDIS_URL).

Channels' in-memory layer, with two costs taken off every message. Its expiry sweep walks
every channel and every group, and it ran on each send, receive and group send: with
hundreds of open sockets, every frame of every reply paid for all of them. Here it runs
at most once a second, which expires the same messages and memberships (after a minute
and a day) all the same. And a group send puts each member's copy straight into its
queue instead of starting a task per member.
"""

from __future__ import annotations

import contextlib
import time

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer


class ProcessChannelLayer(InMemoryChannelLayer):
    sweep_interval = 1.0  # seconds between expiry sweeps

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._next_sweep = 0.0

    def _clean_expired(self) -> None:
        # A private method of InMemoryChannelLayer, called by its receive, group_send and
        # group_send; Channels offers no public way to space the sweep out.
        # tests/test_private_apis.py fails when the method changes upstream.
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_interval
            super()._clean_expired()

    async def group_send(self, group: str, message: dict) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            # A copy each, never waiting; as in Channels, a full channel misses it.
            with contextlib.suppress(ChannelFull):
                await self.send(channel, message)
