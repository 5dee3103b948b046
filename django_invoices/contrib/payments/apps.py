from django.apps import AppConfig


class KunaPayPaymentsConfig(AppConfig):
    name = "django_invoices.contrib.payments"
    # django-payments' own app is labelled "payments".
    label = "django_invoices_payments"
    default = True

    def ready(self) -> None:
        from . import receivers

        receivers.connect()
