"""Daphne with an event-loop lag probe, for benchmarks.

Runs `daphne` with the given arguments; every 10 ms a task measures how late the event
loop wakes it and appends the lags (ms) to the file named by BENCH_LAG_FILE once a second.
"""

import asyncio
import os
import sys

import daphne.server  # installs the asyncio reactor first, as Twisted requires
from daphne.cli import CommandLineInterface

PERIOD = 0.01


async def probe(path: str) -> None:
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    last_flush = loop.time()
    while True:
        start = loop.time()
        await asyncio.sleep(PERIOD)
        lags.append(max(0.0, (loop.time() - start - PERIOD) * 1000))
        if loop.time() - last_flush >= 1:
            with open(path, "a") as out:
                out.write("".join(f"{lag:.3f}\n" for lag in lags))
            lags.clear()
            last_flush = loop.time()


def main() -> None:
    path = os.environ.get("BENCH_LAG_FILE")
    if path:
        loop = daphne.server.twisted_loop
        loop.call_soon(lambda: loop.create_task(probe(path)))
    CommandLineInterface().run(sys.argv[1:])


if __name__ == "__main__":
    main()
