from django.contrib import admin
from django.urls import include, path

from accounts.throttling import throttle_login

urlpatterns = [
    path("admin/login/", throttle_login(admin.site.login)),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("contacts/", include("contacts.urls")),
    path("", include("mcp_servers.urls")),
    path("settings/tokens/", include("accounts.token_urls")),
    path("", include("conversations.urls")),
]
