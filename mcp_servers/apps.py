from django.apps import AppConfig


class McpServersConfig(AppConfig):
    name = "mcp_servers"
    verbose_name = "MCP tool servers"

    def ready(self) -> None:
        import mcp_servers.tools  # noqa: F401 - registers its tool provider
