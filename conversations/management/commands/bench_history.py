"""Time one page of a long conversation's history, near the end and at the start.

Keyset pagination should make every page cost the same however far back it is and
however long the conversation is; this prints the figures to check that.
"""

from __future__ import annotations

import statistics
import time
import uuid

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.template.loader import render_to_string

from conversations.history import history_page
from conversations.models import Conversation, Message


class Rollback(Exception):
    """Raised to throw the benchmark's rows away."""


class Command(BaseCommand):
    help = "Time history pages (query + render) of a long conversation; leaves no data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, nargs="+", default=[2000, 20000])
        parser.add_argument("--repeat", type=int, default=20)

    def handle(self, *args, **options) -> None:
        for count in options["messages"]:
            try:
                with transaction.atomic():
                    self._bench(count, options["repeat"])
                    raise Rollback
            except Rollback:
                pass

    def _bench(self, count: int, repeat: int) -> None:
        user = get_user_model().objects.create_user(f"bench-{uuid.uuid4().hex[:12]}")
        conversation = Conversation.objects.create(owner=user, model="demo")
        Message.objects.bulk_create(
            (
                Message(conversation=conversation, role=("user", "assistant")[i % 2],
                        content=f"Message {i}: " + "lorem ipsum dolor sit amet " * 8)
                for i in range(count)
            ),
            batch_size=1000,
        )  # fmt: skip
        ids = list(conversation.messages.order_by("id").values_list("pk", flat=True))
        positions = {"latest": None, "middle": ids[count // 2], "oldest": ids[60]}
        self.stdout.write(f"{count} messages, median of {repeat} runs per page:")
        for name, before in positions.items():
            query, total = self._time(conversation, before, repeat)
            self.stdout.write(
                f"  {name:<7} page: query {query:.2f} ms, query + render {total:.2f} ms"
            )

    def _time(
        self, conversation: Conversation, before: int | None, repeat: int
    ) -> tuple[float, float]:
        queries, totals = [], []
        for _ in range(repeat):
            start = time.perf_counter()
            history = history_page(conversation, before=before)
            queried = time.perf_counter()
            render_to_string(
                "conversations/_history_page.html",
                {"conversation": conversation, "history": history},
            )
            queries.append((queried - start) * 1000)
            totals.append((time.perf_counter() - start) * 1000)
        return statistics.median(queries), statistics.median(totals)
