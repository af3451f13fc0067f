"""Reconcile the usage ledger: recompute every row's cost from the price table and
every user's daily totals from the rows, print the differences, and fail when there
are any (so a scheduler or a deploy step notices).

    python manage.py usage_check
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents import reconcile


class Command(BaseCommand):
    help = "Recompute usage costs and daily totals from the rows; print the differences."

    def handle(self, *args: Any, **options: Any) -> None:
        costs = list(reconcile.cost_differences())
        rollups = list(reconcile.rollup_differences())
        for line in costs + rollups:
            self.stdout.write(line)
        self.stdout.write(
            f"{len(costs)} cost difference(s), {len(rollups)} daily total difference(s)."
        )
        if costs or rollups:
            raise CommandError("The usage ledger does not reconcile.")
