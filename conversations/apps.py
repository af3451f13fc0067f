from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        import conversations.tools  # noqa: F401 - registers its tools
        from conversations import signals  # noqa: F401  (connects the receivers)
