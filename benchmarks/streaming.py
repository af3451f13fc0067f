"""Streaming benchmark: the app against the raw OpenAI SDK, same fake upstream, same run.

    .venv/bin/python -m benchmarks.streaming                 # N = 1, 50, 200
    .venv/bin/python -m benchmarks.streaming --clients 1 100 --tokens 500
    .venv/bin/python -m benchmarks.streaming --processes 2 --clients 200
    .venv/bin/python -m benchmarks.streaming --server uvicorn

It starts the wire fake (fixed time to first token and delay between tokens) and one
Daphne process on production settings, then for each N runs N concurrent streams
straight through `AsyncOpenAI`, N read bare (aiohttp alone, the least reading them
costs), and N concurrent logged-in websocket clients through the app. It prints the
added time to first token, the total-time ratio, websocket frames and bytes per reply,
database writes per reply (PostgreSQL row counters), event-loop lag, server memory and
CPU beside the raw SDK's and the bare read's, and errors. Figures, not assertions: see
docs/benchmarks.md.

With --processes K it starts K processes on the same database and a Redis channel layer
(--redis gives one process the same layer), and spreads the clients over them in turn.
With --server uvicorn the same application runs under uvicorn instead of Daphne.
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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FINAL_MARK = "message--assistant message--complete"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# A Redis database of the benchmark's own (the scale-out tests use 7), flushed at start.
REDIS_URL = "redis://127.0.0.1:6379/9"
# Seconds over which the idle server's own CPU is measured: at N=1 a round lasts about
# 3.5 s, so a noisy idle rate swings the CPU per reply more than the reply itself.
IDLE_WINDOW = 6.0
SERVERS = {"daphne": "Daphne", "uvicorn": "uvicorn"}


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


# The raw SDK, as an application would use it without this app in between, and the bare
# read below: the same request.
REQUEST = {
    "model": "bench",
    "messages": [{"role": "user", "content": "Benchmark"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


async def raw_stream(client, result: Stream, start: float) -> None:
    try:
        stream = await client.chat.completions.create(**REQUEST)
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


# The least a Python process can spend on the same streams: aiohttp alone, each event's
# JSON decoded and nothing else (no SDK, no typed chunks, no app). Not what the app is
# held to (it also stores, renders and sends), but the share of its figure that is
# reading the stream at all.
async def bare_stream(session, upstream_url: str) -> None:
    async with session.post(f"{upstream_url}/chat/completions", json=REQUEST) as response:
        rest = b""
        async for chunk in response.content.iter_any():
            *events, rest = (rest + chunk).split(b"\n\n")
            for event in events:
                if event.startswith(b"data: ") and event != b"data: [DONE]":
                    json.loads(event[6:])


async def run_bare(upstream_url: str, clients: int) -> float:
    """CPU seconds of this process reading `clients` streams at once, bare."""
    import aiohttp

    start = time.process_time()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(bare_stream(session, upstream_url) for _ in range(clients)))
    return time.process_time() - start


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


async def run_app(
    targets: list[tuple[str, int, str]], connected: Callable[[], None] = lambda: None
) -> Phase:
    """Each target is a server's address, a conversation and a session cookie.
    `connected` is called once every socket is open, before any sends."""
    phase = Phase([Stream() for _ in targets])
    go = asyncio.Event()
    tasks = [
        asyncio.create_task(app_stream(conversation_url(base, cid), cookie, base, s, go))
        for (base, cid, cookie), s in zip(targets, phase.streams, strict=True)
    ]
    await asyncio.sleep(1.0 + len(targets) / 100)  # every socket connected and idle
    connected()
    go.set()
    start = time.perf_counter()
    await asyncio.gather(*tasks)
    phase.wall = time.perf_counter() - start
    return phase


def conversation_url(base: str, conversation_id: int) -> str:
    return f"{base.replace('http://', 'ws://')}/ws/conversations/{conversation_id}/"


def spread(bases: list[str], targets: list[tuple[int, str]]) -> list[tuple[str, int, str]]:
    """The clients over the servers in turn: a stand-in for the load balancer in front
    of several processes (docs/deployment.md), which needs no sticky sessions."""
    return [(bases[i % len(bases)], cid, cookie) for i, (cid, cookie) in enumerate(targets)]


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


def total_cpu(servers: list[Server], *, system_only: bool = False) -> float:
    """The CPU time of all the server processes together."""
    return sum(cpu_seconds(s.pid, system_only=system_only) for s in servers)


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


def start_profile(directory: str, pid: int, name: str, rate: int) -> subprocess.Popen | None:
    """py-spy sampling the server's threads that hold the GIL, into DIRECTORY/NAME.txt
    (collapsed stacks; `benchmarks.profile` summarises them)."""
    if not directory:
        return None
    Path(directory).mkdir(parents=True, exist_ok=True)
    out = Path(directory) / f"{name}.txt"
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--gil",
         "--nonblocking", "--rate", str(rate), "--format", "raw", "--output", str(out),
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


def server_env(database_url: str, upstream_url: str, redis_url: str) -> dict[str, str]:
    """Production settings for every server process (each adds its own lag file)."""
    env = {
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
    }
    if redis_url:  # the channel layer and the cache, as in docs/deployment.md
        env["REDIS_URL"] = redis_url
    return env


def fresh_redis(url: str) -> str:
    """URL, its database emptied: no group or message left by an earlier run."""
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


@dataclass
class Server:
    """One server process of the run, and what is measured of it."""

    process: subprocess.Popen
    port: int
    lag_file: Path
    log: Path
    idle_rate: float = 0.0  # its CPU seconds per second when idle

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_server(kind: str, env: dict[str, str], tmp: Path, index: int) -> Server:
    port, lag_file, log = free_port(), tmp / f"lag-{index}.txt", tmp / f"server-{index}.log"
    choice = ["--uvicorn"] if kind == "uvicorn" else []
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", *choice, "-b", "127.0.0.1",
             "-p", str(port), "chatsite.asgi:application"],
            cwd=ROOT, env=env | {"BENCH_LAG_FILE": str(lag_file)},
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    return Server(process, port, lag_file, log)


def wait_for_servers(servers: list[Server]) -> None:
    for server in servers:
        try:
            wait_for_port(server.port)
        except RuntimeError:
            raise RuntimeError(f"server {server.port} did not start; see {server.log}") from None


def stop_servers(servers: list[Server]) -> None:
    for server in servers:
        server.process.terminate()
    for server in servers:
        server.process.wait(10)


def measure_idle(servers: list[Server]) -> None:
    """What each idle process costs (its lag probe included), taken out of the figures
    per reply, measured once the warm-up's after-reply work has ended."""
    time.sleep(3)
    before = [cpu_seconds(s.pid) for s in servers]
    time.sleep(IDLE_WINDOW)
    for server, start in zip(servers, before, strict=True):
        server.idle_rate = (cpu_seconds(server.pid) - start) / IDLE_WINDOW


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
    for side, phase in (("raw SDK", raw), ("app", app)):
        kinds = Counter(s.error[:160] for s in phase.streams if s.error)
        for error, count in kinds.most_common(3):
            print(f"    {side}, {count}x: {error}")


def each(values: list[float], digits: int = 0) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def print_header(
    args: argparse.Namespace, database_url: str, redis_url: str, servers: list[Server]
) -> None:
    k = len(servers)
    name = SERVERS[args.server]
    processes = f"one {name} process" if k == 1 else f"{k} {name} processes"
    database = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    layer = f"Redis channel layer ({redis_url})" if redis_url else "in-memory channel layer"
    upstream = f"TTFT {args.ttft * 1000:.0f} ms, {args.tokens} tokens, {args.delay * 1000:.0f} ms"
    print(f"Upstream: {upstream} apart. Server: {processes}, {database}, {layer}.")
    rates = [s.idle_rate * 1000 for s in servers]
    if k == 1:
        print(f"Server idle RSS: {rss_mb(servers[0].pid):.0f} MB, idle CPU {rates[0]:.0f} ms/s")
        return
    print(f"Clients: spread round-robin over the {k} ports, standing in for the proxy that "
          "gives several processes one address (docs/deployment.md: nginx, Caddy).")  # fmt: skip
    rss = [rss_mb(s.pid) for s in servers]
    print(f"Server idle RSS per process: {each(rss)} MB (sum {sum(rss):.0f}), "
          f"idle CPU per process: {each(rates)} ms/s (sum {sum(rates):.0f})")  # fmt: skip


def server_figures(servers: list[Server], lags: list[list[float]]) -> dict[str, str]:
    """Loop lag and memory: as one figure for one process, else one per process."""
    if len(servers) == 1:
        return {
            "event-loop lag p99": f"{pct(lags[0], 99):.1f} ms (max {max(lags[0], default=0):.1f})",
            "server RSS after": f"{rss_mb(servers[0].pid):.0f} MB",
        }
    rss = [rss_mb(s.pid) for s in servers]
    return {
        "event-loop lag p99 per process": (
            f"{each([pct(x, 99) for x in lags], 1)} ms "
            f"(max {each([max(x, default=0) for x in lags], 1)})"
        ),
        "server RSS after per process": f"{each(rss)} MB (sum {sum(rss):.0f})",
    }


@dataclass
class Run:
    args: argparse.Namespace
    servers: list[Server]
    targets: list[tuple[str, int, str]]  # each stream's server, conversation and cookie
    upstream_url: str
    database_url: str
    used: int = 0  # targets streamed to so far (each conversation takes one reply)


async def measure(run: Run, n: int, rounds: int) -> None:
    """One N's rounds, then their report."""
    # Small N runs several rounds, one after another, so its percentiles come from at
    # least --samples streams, not from one.
    servers, first = run.servers, run.used
    raw, app = Phase(), Phase()
    cpu, system, measured, connecting, bare = 0.0, 0.0, 0.0, 0.0, 0.0
    idle_rate = sum(s.idle_rate for s in servers)
    lags: list[list[float]] = [[] for _ in servers]
    writes_before = settled_row_writes(run.database_url)
    for _ in range(rounds):
        raw_round = await run_raw(run.upstream_url, n)
        bare += await run_bare(run.upstream_url, n)
        cpu_before, measured_from = total_cpu(servers), time.perf_counter()
        system_before = total_cpu(servers, system_only=True)
        offsets = [read_lags(s.lag_file, 0)[1] for s in servers]
        spies = [
            start_profile(
                run.args.profile,
                s.pid,
                f"n{n}" if len(servers) == 1 else f"n{n}-p{i}",
                run.args.profile_rate,
            )
            for i, s in enumerate(servers)
        ]
        marks: dict[str, float] = {}

        def connected(marks: dict[str, float] = marks) -> None:
            marks.update(cpu=total_cpu(servers), at=time.perf_counter())

        app_round = await run_app(run.targets[run.used : run.used + n], connected)
        # Opening the sockets (handshake, session, the conversation's page state) is
        # in the figure per reply; this part of it happens once per tab, not per reply.
        connecting += marks["cpu"] - cpu_before - idle_rate * (marks["at"] - measured_from)
        for spy in spies:
            stop_profile(spy)
        run.used += n
        cpu += total_cpu(servers) - cpu_before
        system += total_cpu(servers, system_only=True) - system_before
        # The idle processes' own CPU over the whole round, the second the sockets wait
        # before sending included (one round per reply at N=1).
        measured += time.perf_counter() - measured_from
        for server, offset, server_lags in zip(servers, offsets, lags, strict=True):
            server_lags += read_lags(server.lag_file, offset)[0]
        for total, part in ((raw, raw_round), (app, app_round)):
            total.streams += part.streams
            total.wall += part.wall
            total.cpu += part.cpu
    writes_after = settled_row_writes(run.database_url)
    replies = n * rounds
    app_cpu = (cpu - idle_rate * measured) / replies * 1000
    raw_cpu = raw.cpu / replies * 1000
    extra = {"streams measured": f"{replies} ({rounds} round{'s' * (rounds > 1)} of {n})"}
    if len(servers) > 1:
        placed = [base for base, _, _ in run.targets[first : run.used]]
        extra["streams per process"] = each([placed.count(s.base) for s in servers])
    extra["DB row writes per reply"] = (
        f"{(writes_after - writes_before) / replies:.1f}" if writes_before is not None else "n/a"
    )
    extra |= server_figures(servers, lags)
    together = "" if len(servers) == 1 else f", all {len(servers)} processes together"
    idle = "process's" if len(servers) == 1 else "processes'"
    extra[f"server CPU per reply{together}"] = (
        f"{app_cpu:.1f} ms "
        f"({cpu / replies * 1000:.1f} ms with the idle {idle} own, of which "
        f"{system / replies * 1000:.1f} ms in the kernel; opening the socket before it, "
        f"once per tab: {connecting / replies * 1000:.1f} ms)"
    )
    extra["raw SDK CPU per stream"] = (
        f"{raw_cpu:.1f} ms (the app's CPU per reply is {app_cpu / raw_cpu:.1f}x)"
    )
    bare_cpu = bare / replies * 1000
    extra["bare read CPU per stream (aiohttp and json alone)"] = (
        f"{bare_cpu:.1f} ms (the app's CPU per reply is {app_cpu / bare_cpu:.1f}x)"
    )
    report(n, raw, app, extra)


async def benchmark(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    up_port = free_port()
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
    # Several processes share their streams through Redis, as in production.
    redis_url = fresh_redis(REDIS_URL) if args.redis or args.processes > 1 else ""
    env = server_env(database_url, upstream_url, redis_url)
    env.update(setting.split("=", 1) for setting in args.setting)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    rounds = {n: max(1, math.ceil(args.samples / n)) for n in args.clients}
    needed = sum(n * rounds[n] for n in args.clients) + args.processes
    conversations = await asyncio.to_thread(prepare_data, env, needed)
    servers = [start_server(args.server, env, tmp, i) for i in range(args.processes)]
    targets = spread([s.base for s in servers], conversations)
    try:
        wait_for_servers(servers)
        # Warm up each process: first request, imports, connections.
        await run_app(targets[: len(servers)])
        await run_raw(upstream_url, 1)
        measure_idle(servers)
        print_header(args, database_url, redis_url, servers)
        run = Run(args, servers, targets, upstream_url, database_url, used=len(servers))
        for n in args.clients:
            await measure(run, n, rounds[n])
    finally:
        stop_servers(servers)
        upstream.terminate()
        upstream.wait(10)


def _setting(text: str) -> str:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


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
        "--processes",
        type=int,
        default=1,
        metavar="K",
        help="server processes on one database and a Redis channel layer (default 1)",
    )
    parser.add_argument(
        "--server",
        choices=sorted(SERVERS),
        default="daphne",
        help="the ASGI server that runs the app (default daphne)",
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help=f"the Redis channel layer and cache ({REDIS_URL}) even for one process",
    )
    parser.add_argument(
        "--profile",
        default="",
        metavar="DIR",
        help="sample the server with py-spy during the app's rounds, one file per N in DIR",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        type=_setting,
        metavar="NAME=VALUE",
        help="a setting for the server processes (repeatable), e.g. LLM_STREAM_READ_INTERVAL=0",
    )
    parser.add_argument(
        "--profile-rate",
        type=int,
        default=200,
        metavar="HZ",
        help="py-spy's samples per second with --profile (default 200)",
    )
    asyncio.run(benchmark(parser.parse_args()))


if __name__ == "__main__":
    main()
