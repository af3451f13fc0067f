"""The library internals the app leans on, each with its reason in the code that uses
it. When a library changes one of them, these fail and the reason must be read again."""

from __future__ import annotations

import hashlib
import inspect
import textwrap

from channels.consumer import AsyncConsumer
from channels.layers import InMemoryChannelLayer

from chatsite.layers import ProcessChannelLayer
from conversations.consumers import ChatConsumer


def fingerprint(function) -> str:
    source = textwrap.dedent(inspect.getsource(function))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def test_channels_dispatch_is_still_the_method_the_consumer_copies():
    # ChatConsumer.dispatch copies it without the `aclose_old_connections` trip.
    assert fingerprint(AsyncConsumer.dispatch) == "fb797181cb7cf340"
    assert "aclose_old_connections" in inspect.getsource(AsyncConsumer.dispatch)
    assert ChatConsumer.dispatch is not AsyncConsumer.dispatch


def test_in_memory_layer_still_sweeps_expired_messages_in_clean_expired():
    # ProcessChannelLayer runs the sweep at most once a second by wrapping it.
    assert fingerprint(InMemoryChannelLayer._clean_expired) == "8a86d9cb81a2a7d2"
    for method in (InMemoryChannelLayer.receive, InMemoryChannelLayer.group_send):
        assert "self._clean_expired()" in inspect.getsource(method)
    assert ProcessChannelLayer._clean_expired is not InMemoryChannelLayer._clean_expired
