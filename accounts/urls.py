from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views
from accounts.throttling import throttle_login, throttle_password_reset

app_name = "accounts"
urlpatterns = [
    path("settings/", views.profile_settings, name="settings"),
    # Django's own views, throttled; their names stay those of django.contrib.auth.urls.
    path("login/", throttle_login(auth_views.LoginView.as_view())),
    path("password_reset/", throttle_password_reset(auth_views.PasswordResetView.as_view())),
]
