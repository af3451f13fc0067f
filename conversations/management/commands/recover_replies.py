from django.core.management.base import BaseCommand

from conversations.turns import recover_dead_replies


class Command(BaseCommand):
    help = (
        "Mark replies left streaming by a stopped process as interrupted (their text is "
        "kept). Run it when the server starts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--all",
            action="store_true",
            help="Treat every streaming reply as dead (only one server process runs).",
        )

    def handle(self, *args, **options) -> None:
        recovered = recover_dead_replies(stale_after=0 if options["all"] else None)
        self.stdout.write(f"Interrupted replies recovered: {len(recovered)}")
