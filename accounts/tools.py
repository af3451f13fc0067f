"""Tools that act for the user as a person: their clock, their email."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.utils import timezone

from accounts.models import Profile
from agents.tools import ToolContext, ToolError, tool


@tool()
def get_date(context: ToolContext) -> str:
    """The current date and time in the user's time zone, as ISO 8601."""
    zone = Profile.objects.for_user(context.user).zone
    return timezone.now().astimezone(zone).isoformat(timespec="seconds")


def _describe_email(context: ToolContext, arguments: dict[str, Any]) -> str:
    return f"Send an email to {arguments.get('to')} with the subject “{arguments.get('subject')}”."


@tool(sensitive=True, describe=_describe_email)
def send_email(context: ToolContext, to: str, subject: str, body: str) -> str:
    """Send an email from the site's address.

    to: one email address
    subject: the subject line
    body: the plain-text body
    """
    try:
        validate_email(to)
    except ValidationError:
        raise ToolError(f"Not an email address: {to!r}.") from None
    subject = " ".join(subject.split())[:200]
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    return f"Sent the email {subject!r} to {to}."
