from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and preferences"

    def ready(self) -> None:
        import accounts.tools  # noqa: F401 - registers its tools
