"""A separate process making gateway calls, for tests of what processes share.

Usage: python -m tests.gateway_worker CALLS MESSAGE; settings come from the environment
(REDIS_URL, OPENAI_BASE_URL, LLM_*). Prints {"ok": n, "blocked": n, "cache_hits": n}.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys


async def main(calls: int, message: str) -> dict[str, int]:
    from agents import gateway
    from agents.errors import Blocked
    from agents.events import CallContext, Usage

    counts = {"ok": 0, "blocked": 0, "cache_hits": 0}
    context = CallContext(user_id=int(os.environ["WORKER_USER_ID"]))
    for _ in range(calls):
        try:
            stream = gateway.stream_chat(
                [{"role": "user", "content": message}], model="gpt-4o-mini", context=context
            )
            events = [event async for event in stream]
        except Blocked:
            counts["blocked"] += 1
            continue
        counts["ok"] += 1
        counts["cache_hits"] += any(isinstance(e, Usage) and e.cache_hit for e in events)
    return counts


if __name__ == "__main__":
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("worker")
    os.environ["WORKER_USER_ID"] = str(user.pk)
    print(json.dumps(asyncio.run(main(int(sys.argv[1]), sys.argv[2]))))
