from django.urls import path

from conversations import sse, views

app_name = "conversations"
urlpatterns = [
    path("", views.index, name="index"),
    path("conversations/new/", views.create, name="create"),
    path("conversations/<int:conversation_id>/", views.detail, name="detail"),
    path("conversations/<int:conversation_id>/rename/", views.rename, name="rename"),
    path("conversations/<int:conversation_id>/delete/", views.delete, name="delete"),
    path("conversations/<int:conversation_id>/clear/", views.clear, name="clear"),
    path("conversations/<int:conversation_id>/older/", views.older_messages, name="older"),
    path(
        "conversations/<int:conversation_id>/export.md",
        views.export_markdown,
        name="export_markdown",
    ),
    path("conversations/<int:conversation_id>/export.json", views.export_json, name="export_json"),
    path("search/", views.search, name="search"),
    path("conversations/<int:conversation_id>/classify/", views.classify, name="classify"),
    path("conversations/<int:conversation_id>/stream/", sse.stream_reply, name="stream"),
    path(
        "conversations/<int:conversation_id>/confirmations/<int:confirmation_id>/",
        views.decide_confirmation,
        name="decide_confirmation",
    ),
    path(
        "conversations/<int:conversation_id>/confirmations/<int:confirmation_id>/stream/",
        sse.decide,
        name="decide_stream",
    ),
]
