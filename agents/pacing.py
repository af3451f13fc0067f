"""Reading a streamed answer at the pace the tabs are sent it, not one wake-up per token.

A server sends each token as it comes, so a 100-token answer reaches the socket in about
100 packets, and reading it as it arrives costs the process 100 wake-ups: the event
loop's turn, the read, aiohttp's parser, then every layer between the socket and the
reply. The reply sends its text to the tabs in frames at least CHAT_FRAME_INTERVAL apart
anyway. So once the answer has begun, and while it comes fast enough for a read per
`interval` to take several events at once (`EVENTS_PER_PAUSE`), `PacedBytes` reads the
socket at most once per `interval`: between two reads the connection's transport stops
reading (asyncio's `pause_reading`), the kernel keeps what arrives, and the next read
takes all of it. A slower answer is read as it arrives: a pause would cost about the
wake-up it saves. The first event is never held back; bytes that arrive during a pause
wait for its end, at most `interval`. Once the answer says it is ending (a finish
reason), the rest (the usage chunk, `[DONE]`) is read as it arrives again.

It needs the asyncio transport under the response, which only the aiohttp client gives
(the SDK's `DefaultAioHttpClient`, LLM_HTTP_CLIENT=aiohttp); any other response, such as
the demo model's or httpx's own, is read as it arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx2

# A pause is taken only when the last interval brought at least this many events: a
# pause costs a timer and two changes to the event loop's watch list, about what
# reading one more packet costs, and under load the loop already reads a few packets
# at once (at three, a stream of a token per 20 ms came out 1-2.5 ms of CPU per reply
# worse at N=50 with pacing than without; docs/benchmarks.md).
EVENTS_PER_PAUSE = 5


def transport_of(response: httpx2.Response) -> asyncio.Transport | None:
    """The asyncio transport the aiohttp client reads `response` from, else None.

    The path goes through two private attributes: httpx's wrapper around a transport's
    stream (`BoundAsyncStream._stream`) and the SDK's vendored aiohttp stream
    (`AiohttpResponseStream._aiohttp_response`); from there aiohttp's own public
    `ClientResponse.connection.transport`. Neither library offers a public way to it.
    tests/test_pacing.py fails if the path stops leading to the transport.
    """
    stream = getattr(response.stream, "_stream", None)
    aiohttp_response = getattr(stream, "_aiohttp_response", None)
    connection = getattr(aiohttp_response, "connection", None)
    transport = getattr(connection, "transport", None)
    if transport is None or not hasattr(transport, "pause_reading"):
        return None
    return transport


class PacedBytes:
    """The bytes of `response`, as they arrive until `start()`, then at most once per
    `interval` seconds (0: always as they arrive) until `ending()` says the answer is
    ending."""

    def __init__(
        self,
        response: httpx2.Response,
        interval: float,
        ending: Callable[[], bool] = lambda: False,
    ) -> None:
        self.response = response
        self.interval = interval
        self.ending = ending
        self.transport = transport_of(response) if interval > 0 else None
        self.started = False
        self.pauses = 0  # how many times reading waited: for tests and benchmarks

    def start(self) -> None:
        """The answer has begun: from the next read on, reads are paced."""
        self.started = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        transport = self.transport
        if transport is None:  # nothing to pause: read as it comes, counting nothing
            async for chunk in self.response.aiter_bytes():
                yield chunk
            return
        loop = asyncio.get_running_loop()
        paused = False
        # Events read since `since`: once that spans an interval, it says whether the
        # answer comes fast enough to pause for the next interval.
        since, events = 0.0, 0
        try:
            async for chunk in self.response.aiter_bytes():
                read_at = loop.time()
                events += chunk.count(b"data:")
                yield chunk
                if not self.started or self.ending():
                    since, events = read_at, 0
                    continue
                if read_at - since < self.interval * 0.9:
                    continue  # still measuring the pace: read as it comes
                fast = events >= EVENTS_PER_PAUSE
                since, events = read_at, 0
                wait = read_at + self.interval - loop.time()
                # A transport aiohttp paused itself (a full buffer) is left to aiohttp.
                if not fast or wait <= 0 or transport.is_closing() or not transport.is_reading():
                    continue
                transport.pause_reading()
                paused = True
                self.pauses += 1
                await asyncio.sleep(wait)
                paused = False
                transport.resume_reading()
        finally:
            # Never hand a paused connection back to the pool, whatever ended the read.
            if paused and not transport.is_closing():
                transport.resume_reading()
