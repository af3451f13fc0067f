"""Show times in the signed-in user's own time zone."""

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import Profile


def display_zone(profile: Profile) -> zoneinfo.ZoneInfo | None:
    """The zone to show times in; None (the site's) if the stored one no longer exists."""
    try:
        return profile.zone
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class UserTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            request.profile = Profile.objects.for_user(request.user)
            with timezone.override(display_zone(request.profile)):
                return self.get_response(request)
        return self.get_response(request)
