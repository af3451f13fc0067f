from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents and model usage"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from agents import gateway

        setting_changed.connect(gateway.reset_client_on_setting_change)
