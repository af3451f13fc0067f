from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.http import require_GET

from accounts.throttling import throttle_login


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and feed readers ask for /favicon.ico whatever the page links to."""
    return redirect(static("favicon.ico"), permanent=True)


urlpatterns = [
    path("admin/login/", throttle_login(admin.site.login)),
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("contacts/", include("contacts.urls")),
    path("", include("mcp_servers.urls")),
    path("settings/tokens/", include("accounts.token_urls")),
    path("", include("conversations.urls")),
]
