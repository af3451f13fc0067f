"""Throttles on the doors an attacker can knock at without an account: logging in
(the site's and the admin's) and asking for password-reset mail.

django-ratelimit counts in the shared cache, per account name or email and per
client address; past a limit the view is not run and `throttled` answers instead.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.decorators import ratelimit

View = Callable[..., HttpResponse]


def _rate(name: str) -> Callable[[str, HttpRequest], str | None]:
    """The rate named by setting `name` ("5/5m"), read per request; empty is off."""
    return lambda _group, _request: getattr(settings, name) or None


def throttle_login(view: View) -> View:
    """Login attempts: limited per account name and per client address."""
    view = ratelimit(
        group="login-account", key="post:username", rate=_rate("LOGIN_RATE"), method="POST"
    )(view)
    return ratelimit(group="login-ip", key="ip", rate=_rate("LOGIN_RATE_PER_IP"), method="POST")(
        view
    )


def throttle_password_reset(view: View) -> View:
    """Password-reset mail: limited per address asked for and per client address."""
    view = ratelimit(
        group="reset-email", key="post:email", rate=_rate("PASSWORD_RESET_RATE"), method="POST"
    )(view)
    return ratelimit(
        group="reset-ip", key="ip", rate=_rate("PASSWORD_RESET_RATE_PER_IP"), method="POST"
    )(view)


def throttled(request: HttpRequest, exception: Exception) -> HttpResponse:
    """What a throttled request gets (RATELIMIT_VIEW): 429 and the reason, in words."""
    return render(request, "accounts/throttled.html", status=429)
