import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "In DEBUG, on an empty database, create a local staff login; either way, print how "
        "to log in, boxed, so it stands out as the last thing before the server starts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where the app runs.")

    def handle(self, *args, url: str, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("Refusing to create a local login with DEBUG off.")
        User = get_user_model()
        reset = f"Forgotten it? python manage.py changepassword {USERNAME}"
        if User.objects.exists():
            name = USERNAME if User.objects.filter(username=USERNAME).exists() else None
            lines = [
                f"Open {url}",
                f"Log in as {name}" if name else "Log in with your own user",
                "(its password was printed when it was created).",
                reset if name else "No login? python manage.py createsuperuser",
            ]
        else:
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(USERNAME, "admin@example.com", password)
            lines = [
                f"Open {url}",
                f"Username: {USERNAME}",
                f"Password: {password}",
                "Shown once; keep it. " + reset,
            ]
        self.stdout.write(self.style.SUCCESS(box(lines)))


def box(lines: list[str]) -> str:
    """`lines` framed, so they stand out in a terminal full of log lines."""
    width = max(len(line) for line in lines)
    edge = "+" + "-" * (width + 2) + "+"
    return "\n".join([edge, *(f"| {line.ljust(width)} |" for line in lines), edge])
