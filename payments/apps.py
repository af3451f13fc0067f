from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments ledger"

    def ready(self) -> None:
        import payments.tools  # noqa: F401 - registers its tools
