"""Daphne, or uvicorn, with an event-loop lag probe, for benchmarks.

    python -m benchmarks.server -b 127.0.0.1 -p 8001 chatsite.asgi:application
    python -m benchmarks.server --uvicorn -b 127.0.0.1 -p 8001 chatsite.asgi:application

Runs `daphne` with the given arguments, or uvicorn on the same address and application;
every 10 ms a task on the server's event loop measures how late the loop wakes it and
appends the lags (ms) to the file named by BENCH_LAG_FILE once a second.
"""

import argparse
import asyncio
import os
import sys

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


def run_daphne(args: list[str], lag_file: str | None) -> None:
    import daphne.server  # installs the asyncio reactor first, as Twisted requires
    from daphne.cli import CommandLineInterface

    if lag_file:
        loop = daphne.server.twisted_loop
        loop.call_soon(lambda: loop.create_task(probe(lag_file)))
    CommandLineInterface().run(args)


def run_uvicorn(args: list[str], lag_file: str | None) -> None:
    """uvicorn as its command line would run it (its own choice of loop: uvloop when
    installed), started from code so that the probe runs on the server's loop."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="benchmarks.server --uvicorn")
    parser.add_argument("-b", "--bind", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument("application")
    options = parser.parse_args(args)
    config = uvicorn.Config(
        options.application,
        host=options.bind,
        port=options.port,
        # Daphne neither runs the lifespan protocol nor compresses websocket frames:
        # the same here, so that both serve the same app the same frames. Its sweeper
        # then starts with the first connection under both.
        lifespan="off",
        ws_per_message_deflate=False,
        access_log=False,
        log_level=os.environ.get("LOG_LEVEL", "warning").lower(),
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        lagging = asyncio.create_task(probe(lag_file)) if lag_file else None
        await server.serve()
        if lagging:
            lagging.cancel()

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(serve())


def main() -> None:
    args, lag_file = sys.argv[1:], os.environ.get("BENCH_LAG_FILE")
    if args[:1] == ["--uvicorn"]:
        run_uvicorn(args[1:], lag_file)
    else:
        run_daphne(args, lag_file)


if __name__ == "__main__":
    main()
