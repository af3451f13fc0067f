from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("contacts/", include("contacts.urls")),
    path("settings/tokens/", include("accounts.token_urls")),
    path("", include("conversations.urls")),
]
