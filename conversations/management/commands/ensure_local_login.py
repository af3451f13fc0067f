import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "In DEBUG, on an empty database, create a local staff login and print it."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("Refusing to create a local login with DEBUG off.")
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write(
                "Users exist already; log in with yours (manage.py createsuperuser adds one)."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "admin@example.com", password)
        self.stdout.write(
            self.style.SUCCESS(f"Local login created. Username: admin  Password: {password}")
        )
