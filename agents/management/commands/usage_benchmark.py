"""Fill PostgreSQL with usage rows and time the admin's per-user usage pages.

Runs in a schema of its own, dropped at the end, so it can point at a shared database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        python manage.py usage_benchmark --rows 1000000
"""

from __future__ import annotations

import statistics
import time

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import RequestFactory

from agents.models import UsageRecord

SCHEMA = "usage_benchmark"
FILL = """
INSERT INTO agents_usagerecord (
    user_id, purpose, model_requested, model_served, prompt_tokens, cached_tokens,
    completion_tokens, cost, cost_saved, latency_ms, cache_hit, estimated, outcome,
    error, created_at)
SELECT u.ids[1 + g %% array_length(u.ids, 1)],
       (ARRAY['chat', 'summary', 'classify', 'extract', 'tool'])[1 + g %% 5],
       (ARRAY['gpt-4o', 'gpt-4o-mini'])[1 + g %% 2],
       (ARRAY['gpt-4o', 'gpt-4o-mini'])[1 + g %% 2],
       500 + g %% 1500, (g %% 4) * 100, 50 + g %% 700,
       (g %% 1000) / 100000.0,
       CASE WHEN g %% 20 = 0 THEN 0.001 END,
       300 + g %% 2000, g %% 20 = 0, g %% 50 = 0,
       (ARRAY['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'error', 'stopped'])[1 + g %% 10],
       '', now() - (g %% 525600) * interval '1 minute'
FROM generate_series(1, %s) AS g,
     (SELECT array_agg(id) AS ids FROM auth_user WHERE username LIKE 'bench-%%') AS u
"""
# What the per-record upserts would have built, in one statement.
ROLL_UP = """
INSERT INTO agents_usageday (
    user_id, day, requests, tokens, cost, errors, cache_hits, saved)
SELECT user_id, (created_at AT TIME ZONE %s)::date, count(*),
       sum(prompt_tokens + completion_tokens), coalesce(sum(cost), 0),
       count(*) FILTER (WHERE outcome IN ('error', 'cut')),
       count(*) FILTER (WHERE cache_hit), coalesce(sum(cost_saved), 0)
FROM agents_usagerecord GROUP BY 1, 2
"""


class Command(BaseCommand):
    help = "Time the per-user usage admin pages over many usage rows (PostgreSQL only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--users", type=int, default=200)
        parser.add_argument("--repeat", type=int, default=5)
        parser.add_argument("--keep", action="store_true", help="Keep the schema afterwards.")

    def handle(self, *args, rows: int, users: int, repeat: int, keep: bool, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Point DATABASE_URL at PostgreSQL for this benchmark.")
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
            cursor.execute(f"SET search_path TO {SCHEMA}")
        try:
            self._run(rows, users, repeat)
        finally:
            if not keep:
                with connection.cursor() as cursor:
                    cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

    def _run(self, rows: int, users: int, repeat: int) -> None:
        call_command("migrate", verbosity=0)
        staff = self._fill(rows, users)
        self.stdout.write(f"{UsageRecord.objects.count():,} usage rows, {users} users")
        model_admin = admin.site._registry[UsageRecord]
        person = get_user_model().objects.filter(username__startswith="bench-").first()
        pages = {
            "per-user page": lambda request: model_admin.per_user_view(request),
            "one user's page": lambda request: model_admin.user_view(request, person.pk),
        }
        for name, view in pages.items():
            times = [self._render(view, staff) for _ in range(repeat)]
            self.stdout.write(
                f"{name}: median {statistics.median(times) * 1000:.0f} ms, "
                f"best {min(times) * 1000:.0f} ms, worst {max(times) * 1000:.0f} ms "
                f"({repeat} renders, view + template)"
            )

    def _fill(self, rows: int, users: int):
        User = get_user_model()
        User.objects.bulk_create([User(username=f"bench-{n}") for n in range(users)])
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(FILL, [rows])
            cursor.execute(ROLL_UP, [settings.TIME_ZONE])
            cursor.execute("VACUUM ANALYZE agents_usagerecord")
            cursor.execute("VACUUM ANALYZE agents_usageday")
        self.stdout.write(f"filled in {time.perf_counter() - started:.1f} s")
        return User.objects.create_superuser("bench-staff", password=None)

    def _render(self, view, staff) -> float:
        request = RequestFactory().get("/admin/agents/usagerecord/per-user/")
        request.user = staff
        started = time.perf_counter()
        response = view(request)
        response.render()
        return time.perf_counter() - started
