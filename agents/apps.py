from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents and model usage"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        import agents.builtin_tools  # noqa: F401 - registers its tools
        from agents import gateway

        setting_changed.connect(gateway.reset_client_on_setting_change)
