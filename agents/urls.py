from django.urls import path

from agents import views

app_name = "agents"
urlpatterns = [
    path("", views.token_list, name="tokens"),
    path("<int:token_id>/revoke/", views.token_revoke, name="revoke_token"),
]
