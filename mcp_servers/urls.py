from django.urls import path

from mcp_servers import views

app_name = "mcp_servers"
urlpatterns = [
    path("conversations/<int:conversation_id>/tools/", views.tools_menu, name="tools_menu"),
    path("conversations/<int:conversation_id>/tools/switch/", views.switch_tool, name="switch"),
]
