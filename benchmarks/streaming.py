"""Streaming benchmark: the app against the raw OpenAI SDK, same fake upstream, same run.

    .venv/bin/python -m benchmarks.streaming                 # N = 1, 50, 200
    .venv/bin/python -m benchmarks.streaming --clients 1 100 --tokens 500

It starts the wire fake (fixed time to first token and delay between tokens) and one
Daphne process on production settings, then for each N runs N concurrent streams
straight through `AsyncOpenAI`, and N concurrent logged-in websocket clients through the
app. It prints the added time to first token, the total-time ratio, websocket frames and
bytes per reply, database writes per reply (PostgreSQL row counters), event-loop lag,
server memory and CPU, and errors. Figures, not assertions: see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FINAL_MARK = "message--assistant message--complete"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# Seconds over which the idle server's own CPU is measured: at N=1 a round lasts about
# 3.5 s, so a noisy idle rate swings the CPU per reply more than the reply itself.
IDLE_WINDOW = 6.0


@dataclass
class Stream:
    ttft: float | None = None
    total: float | None = None
    frames: int = 0
    bytes: int = 0
    error: str = ""


@dataclass
class Phase:
    streams: list[Stream] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0  # CPU time of the process that ran the round (raw SDK rounds only)

    @property
    def ok(self) -> list[Stream]:
        return [s for s in self.streams if not s.error and s.total is not None]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


# The raw SDK, as an application would use it without this app in between.


async def raw_stream(client, result: Stream, start: float) -> None:
    try:
        stream = await client.chat.completions.create(
            model="bench",
            messages=[{"role": "user", "content": "Benchmark"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            if result.ttft is None and chunk.choices and chunk.choices[0].delta.content:
                result.ttft = time.perf_counter() - start
        result.total = time.perf_counter() - start
    except Exception as exc:
        result.error = repr(exc)


async def run_raw(upstream_url: str, clients: int) -> Phase:
    from agents.baseline import raw_client

    client = raw_client(upstream_url)
    phase = Phase([Stream() for _ in range(clients)])
    start, cpu_start = time.perf_counter(), time.process_time()
    await asyncio.gather(*(raw_stream(client, s, start) for s in phase.streams))
    phase.wall = time.perf_counter() - start
    # The SDK's own CPU per stream (this process runs nothing else meanwhile): the floor
    # for the app's, which reads the same stream through the same SDK.
    phase.cpu = time.process_time() - cpu_start
    await client.close()
    return phase


# The app: logged-in websocket clients, one conversation each.


async def app_stream(url: str, cookie: str, origin: str, result: Stream, go: asyncio.Event):
    import websockets

    headers = {"Cookie": cookie, "Origin": origin}
    try:
        async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
            await ws.recv()  # "live updates flow", sent on every connect
            await go.wait()
            start = time.perf_counter()
            await ws.send(json.dumps({"message": "Benchmark"}))
            while True:
                frame = await asyncio.wait_for(ws.recv(), timeout=60)
                result.frames += 1
                result.bytes += len(frame.encode())
                if result.ttft is None and frame.startswith('<div id="msg-'):
                    result.ttft = time.perf_counter() - start
                if FINAL_MARK in frame:
                    result.total = time.perf_counter() - start
                    return
    except Exception as exc:
        result.error = repr(exc)


async def run_app(server: str, targets: list[tuple[int, str]]) -> Phase:
    phase = Phase([Stream() for _ in targets])
    go = asyncio.Event()
    ws_base = server.replace("http://", "ws://")
    tasks = [
        asyncio.create_task(app_stream(f"{ws_base}/ws/conversations/{cid}/", cookie, server, s, go))
        for (cid, cookie), s in zip(targets, phase.streams, strict=True)
    ]
    await asyncio.sleep(1.0 + len(targets) / 100)  # every socket connected and idle
    go.set()
    start = time.perf_counter()
    await asyncio.gather(*tasks)
    phase.wall = time.perf_counter() - start
    return phase


# Server-side figures.


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int, *, system_only: bool = False) -> float:
    """The process's CPU time so far (user and kernel), or its kernel time alone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[12]) + (0 if system_only else int(fields[11]))
    return ticks / os.sysconf("SC_CLK_TCK")


def db_row_writes(database_url: str) -> int | None:
    if not database_url.startswith("postgres"):
        return None
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
        ).fetchone()
        return int(row[0])


def settled_row_writes(database_url: str) -> int | None:
    """The row counters once they stop moving: backends report them at most once a
    second, and an idle one only after a while."""
    last = db_row_writes(database_url)
    if last is None:
        return None
    for _ in range(15):
        time.sleep(1.0)
        current = db_row_writes(database_url)
        if current == last:
            return current
        last = current
    return last


def read_lags(path: Path, offset: int) -> tuple[list[float], int]:
    if not path.exists():
        return [], offset
    data = path.read_text()
    return [float(x) for x in data[offset:].split()], len(data)


def start_profile(directory: str, pid: int, n: int) -> subprocess.Popen | None:
    """py-spy sampling the server's threads that hold the GIL, into DIRECTORY/n<N>.txt
    (collapsed stacks; `benchmarks.profile` summarises them)."""
    if not directory:
        return None
    Path(directory).mkdir(parents=True, exist_ok=True)
    out = Path(directory) / f"n{n}.txt"
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--gil",
         "--nonblocking", "--rate", "200", "--format", "raw", "--output", str(out),
         "--full-filenames"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)  # attached before the round starts
    return spy


def stop_profile(spy: subprocess.Popen | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


# Set-up.


def make_database(name: str) -> str:
    """A fresh PostgreSQL database, or None when PostgreSQL is not reachable."""
    try:
        import psycopg

        with psycopg.connect(
            PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
        ) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgres://postgres@127.0.0.1:5432/{name}"
    except Exception as exc:
        print(f"PostgreSQL not reachable ({exc}); using SQLite, no DB write counts.")
        return ""


def server_env(database_url: str, upstream_url: str, lag_file: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "OPENAI_BASE_URL": upstream_url,
        "OPENAI_API_KEY": "bench",
        "LLM_MODEL": "bench",
        "LLM_MAX_RETRIES": "0",
        "LLM_TIMEOUT": "60",
        # Every stream is the one benchmark user's and asks the same question: measure
        # the upstream path, not the per-user limit or the response cache.
        "LLM_USER_RPM": "0",
        "LLM_GLOBAL_RPM": "0",
        "LLM_CACHE_TTL": "0",
        # Likewise the write-side limits: the set-up opens hundreds of conversations.
        "CHAT_MESSAGES_PER_MINUTE": "0",
        "CHAT_CONVERSATIONS_PER_MINUTE": "0",
        "LOG_LEVEL": "WARNING",
        "BENCH_LAG_FILE": str(lag_file),
    }


def prepare_data(env: dict[str, str], count: int) -> list[tuple[int, str]]:
    """One user, `count` conversations, a session cookie: set up through the ORM."""
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connections

    from conversations.services import create_conversation

    user = get_user_model().objects.create_user("bench", password="bench-password")
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    cookie = f"sessionid={session.session_key}"
    targets = [
        (_conversation_in_progress(user, create_conversation).pk, cookie) for _ in range(count)
    ]

    connections.close_all()  # a closing backend hands its row counters to the statistics
    return targets


def _conversation_in_progress(user, create_conversation):
    """A conversation past its first exchange, titled and classified, as most are: the
    first-reply work (title, classification) is not what this benchmark measures."""
    conversation = create_conversation(user, title="Benchmark")
    conversation.classification_state = "done"
    conversation.save(update_fields=["classification_state"])
    conversation.messages.create(role="user", content="Hello")
    conversation.messages.create(role="assistant", content="Hello! How can I help?")
    return conversation


# Report.


def report(n: int, raw: Phase, app: Phase, extra: dict) -> None:
    raw_ttft = [s.ttft * 1000 for s in raw.ok if s.ttft]
    app_ttft = [s.ttft * 1000 for s in app.ok if s.ttft]
    raw_total = statistics.mean(s.total for s in raw.ok) if raw.ok else float("nan")
    app_total = statistics.mean(s.total for s in app.ok) if app.ok else float("nan")
    errors = sum(bool(s.error) for s in raw.streams + app.streams)
    print(f"\nN = {n}")
    for q in (50, 95, 99):
        added = pct(app_ttft, q) - pct(raw_ttft, q)
        print(
            f"  TTFT p{q}: raw {pct(raw_ttft, q):7.1f} ms   app {pct(app_ttft, q):7.1f} ms"
            f"   added {added:6.1f} ms"
        )
    print(
        f"  total time: raw mean {raw_total:.3f} s, app mean {app_total:.3f} s, "
        f"ratio {app_total / raw_total:.3f}; wall ratio {app.wall / raw.wall:.3f}"
    )
    frames = [s.frames for s in app.ok]
    sizes = [s.bytes for s in app.ok]
    if frames:
        print(
            f"  websocket per reply: {statistics.mean(frames):.1f} frames, "
            f"{statistics.mean(sizes):,.0f} bytes"
        )
    for key, value in extra.items():
        print(f"  {key}: {value}")
    print(f"  errors: {errors}")
    for s in (raw.streams + app.streams)[:3]:
        if s.error:
            print(f"    e.g. {s.error[:200]}")


async def benchmark(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    up_port, app_port = free_port(), free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.upstream", "--port", str(up_port),
         "--ttft", str(args.ttft), "--delay", str(args.delay), "--tokens", str(args.tokens)],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(up_port)
    upstream_url = f"http://127.0.0.1:{up_port}/v1"
    database_url = (args.database_url or make_database("chat_benchmark")) or (
        f"sqlite:///{tmp / 'db.sqlite3'}"
    )
    lag_file = tmp / "lag.txt"
    env = server_env(database_url, upstream_url, lag_file)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    rounds = {n: max(1, math.ceil(args.samples / n)) for n in args.clients}
    needed = sum(n * rounds[n] for n in args.clients) + 1
    targets = await asyncio.to_thread(prepare_data, env, needed)
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "-b", "127.0.0.1", "-p", str(app_port),
         "chatsite.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{app_port}"
    try:
        wait_for_port(app_port)
        await run_app(base, targets[:1])  # warm up: first request, imports, connections
        await run_raw(upstream_url, 1)
        time.sleep(3)  # the warm-up's after-reply work ends
        idle_before = cpu_seconds(server.pid)
        time.sleep(IDLE_WINDOW)
        # What the idle process costs (its lag probe included), taken out of the figures
        # per reply below.
        idle_rate = (cpu_seconds(server.pid) - idle_before) / IDLE_WINDOW
        print(f"Upstream: TTFT {args.ttft * 1000:.0f} ms, {args.tokens} tokens, "
              f"{args.delay * 1000:.0f} ms apart. Server: one Daphne process, "
              f"{'PostgreSQL' if database_url.startswith('postgres') else 'SQLite'}, "
              "in-memory channel layer.")  # fmt: skip
        print(f"Server idle RSS: {rss_mb(server.pid):.0f} MB, "
              f"idle CPU {idle_rate * 1000:.0f} ms/s")  # fmt: skip
        used = 1
        for n in args.clients:
            # Small N runs several rounds, one after another, so its percentiles come
            # from at least --samples streams, not from one.
            raw, app = Phase(), Phase()
            cpu, system, measured, lags = 0.0, 0.0, 0.0, []
            writes_before = settled_row_writes(database_url)
            for _ in range(rounds[n]):
                raw_round = await run_raw(upstream_url, n)
                cpu_before, measured_from = cpu_seconds(server.pid), time.perf_counter()
                system_before = cpu_seconds(server.pid, system_only=True)
                _, lag_offset = read_lags(lag_file, 0)
                spy = start_profile(args.profile, server.pid, n)
                app_round = await run_app(base, targets[used : used + n])
                stop_profile(spy)
                used += n
                cpu += cpu_seconds(server.pid) - cpu_before
                system += cpu_seconds(server.pid, system_only=True) - system_before
                # The idle process's own CPU over the whole round, the second the
                # sockets wait before sending included (one round per reply at N=1).
                measured += time.perf_counter() - measured_from
                lags += read_lags(lag_file, lag_offset)[0]
                for total, part in ((raw, raw_round), (app, app_round)):
                    total.streams += part.streams
                    total.wall += part.wall
                    total.cpu += part.cpu
            writes_after = settled_row_writes(database_url)
            replies = n * rounds[n]
            app_cpu = (cpu - idle_rate * measured) / replies * 1000
            raw_cpu = raw.cpu / replies * 1000
            extra = {
                "streams measured": f"{replies} ({rounds[n]} round{'s' * (rounds[n] > 1)} of {n})",
                "DB row writes per reply": (
                    f"{(writes_after - writes_before) / replies:.1f}"
                    if writes_before is not None
                    else "n/a"
                ),
                "event-loop lag p99": f"{pct(lags, 99):.1f} ms (max {max(lags, default=0):.1f})",
                "server RSS after": f"{rss_mb(server.pid):.0f} MB",
                "server CPU per reply": (
                    f"{app_cpu:.1f} ms "
                    f"({cpu / replies * 1000:.1f} ms with the idle process's own, of which "
                    f"{system / replies * 1000:.1f} ms in the kernel)"
                ),
                "raw SDK CPU per stream": (
                    f"{raw_cpu:.1f} ms (the app's CPU per reply is {app_cpu / raw_cpu:.1f}x)"
                ),
            }
            report(n, raw, app, extra)
    finally:
        server.terminate()
        upstream.terminate()
        server.wait(10)
        upstream.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument(
        "--samples", type=int, default=20, help="streams measured at least, per N (default 20)"
    )
    parser.add_argument("--ttft", type=float, default=0.2)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--database-url", default="", help="default: a fresh PostgreSQL database")
    parser.add_argument(
        "--profile",
        default="",
        metavar="DIR",
        help="sample the server with py-spy during the app's rounds, one file per N in DIR",
    )
    asyncio.run(benchmark(parser.parse_args()))


if __name__ == "__main__":
    main()
