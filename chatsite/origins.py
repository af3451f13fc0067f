"""Which pages may open a websocket: this site's own origin, as Django's CSRF check
allows for HTTP POSTs (scheme, host and port all compared), plus CSRF_TRUSTED_ORIGINS."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.http.request import split_domain_port, validate_host

# What Django itself allows with DEBUG on and ALLOWED_HOSTS empty.
_DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


class SameOriginValidator:
    """ASGI middleware: refuse a websocket whose Origin is not the origin it was opened
    on (or a trusted one). Channels' `OriginValidator` does the comparing."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        allowed = [*own_origins(scope), *_trusted_origins()]
        return await OriginValidator(self.application, allowed)(scope, receive, send)


def own_origins(scope: dict) -> list[str]:
    """The origin the connection was made to, from its Host header and its scheme,
    when that host is one this site serves; else none."""
    host = next((v.decode("latin1") for k, v in scope.get("headers", []) if k == b"host"), "")
    domain, _port = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS or (_DEBUG_HOSTS if settings.DEBUG else [])
    if not domain or not validate_host(domain, allowed_hosts):
        return []
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return [f"{scheme}://{host.lower()}"]


def _trusted_origins() -> list[str]:
    # Django writes subdomain wildcards as "https://*.example.com", Channels as
    # "https://.example.com".
    return [origin.replace("://*.", "://.") for origin in settings.CSRF_TRUSTED_ORIGINS]
