"""Many users at once on two processes (PostgreSQL + Redis): every reply finishes.

Live frames may be dropped when a process's inbox is full (the database holds the
truth), but no reply may be lost, and every reply's own bookkeeping (its control
listener, its group membership) must end with it.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

import psycopg
import redis

from tests.fake_upstream import Reply
from tests.scaleout.conftest import REDIS_URL, ROOT, Browser, send

USERS = 50
TURNS = 3
PASSWORD = "load-test-password"


def create_users(env: dict[str, str]) -> list[str]:
    names = [f"load{index:02d}" for index in range(USERS)]
    script = (
        "from django.contrib.auth import get_user_model\n"
        "User = get_user_model()\n"
        f"for name in {names!r}:\n"
        f"    User.objects.filter(username=name).exists() or "
        f"User.objects.create_user(name, password={PASSWORD!r})\n"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True
    )
    return names


async def one_user(browser: Browser, conversations: list[int]) -> list[float]:
    """The user's turns, all at once, one per conversation; each turn's seconds."""

    async def turn(conversation: int) -> float:
        async with browser.socket(conversation) as ws:
            started = time.monotonic()
            await send(ws, message="Tell me a story")
            async with asyncio.timeout(120):
                while "message--assistant message--complete" not in await ws.recv():
                    pass
            return time.monotonic() - started

    return list(await asyncio.gather(*(turn(c) for c in conversations)))


def statuses(database_url: str, usernames: list[str]) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT m.status, count(*) FROM conversations_message m "
            "JOIN conversations_conversation c ON c.id = m.conversation_id "
            "JOIN auth_user u ON u.id = c.owner_id "
            "WHERE m.role = 'assistant' AND u.username = ANY(%s) GROUP BY m.status",
            (usernames,),
        ).fetchall()
    return dict(rows)


async def settled(database_url: str, usernames: list[str]) -> dict[str, int]:
    """The replies' statuses once none streams any more (at most a minute)."""
    for _ in range(120):
        done = statuses(database_url, usernames)
        if "streaming" not in done and sum(done.values()) == USERS * TURNS:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1)  # their control listeners leave their groups
    return done


async def test_fifty_users_three_turns_each_at_once_every_reply_completes_case_3(
    cluster, upstream, database_url
):
    upstream.default = Reply(tokens=[f"w{i} " for i in range(40)], token_delay=0.02)
    usernames = create_users(cluster.env)
    browsers = [
        Browser(cluster.url(i % 2), name, PASSWORD, timeout=30) for i, name in enumerate(usernames)
    ]
    conversations = [[b.new_conversation(title="Load") for _ in range(TURNS)] for b in browsers]

    started = time.monotonic()
    results = await asyncio.gather(
        *(one_user(b, c) for b, c in zip(browsers, conversations, strict=True)),
        return_exceptions=True,
    )
    elapsed = time.monotonic() - started
    done = await settled(database_url, usernames)

    failures = [r for r in results if isinstance(r, BaseException)]
    times = sorted(t for r in results if not isinstance(r, BaseException) for t in r)
    p95 = times[int(len(times) * 0.95) - 1] if times else float("nan")
    print(
        f"\nload: {USERS} users x {TURNS} turns on 2 processes in {elapsed:.1f} s; "
        f"replies {done}; tabs that saw the end {len(times)}/{USERS * TURNS}; "
        f"p50 {statistics.median(times):.2f} s, p95 {p95:.2f} s"
    )
    assert done == {"complete": USERS * TURNS}
    # Every reply left its control group: its listener and helpers ended with it.
    store = redis.Redis.from_url(REDIS_URL)
    control_groups = [k for k in store.scan_iter("*conversation-*-control*")]
    members = sum(store.zcard(k) for k in control_groups)
    assert members == 0, control_groups
    assert not failures, failures[:3]
