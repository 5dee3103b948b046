from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OtelConfig(AppConfig):
    """``"django_invoices.contrib.otel"`` in ``INSTALLED_APPS``: the payments' steps as
    OpenTelemetry spans of the shop's tracer provider."""

    name = "django_invoices.contrib.otel"
    label = "django_invoices_otel"
    verbose_name = _("KUNA Pay invoices: OpenTelemetry traces")

    def ready(self) -> None:
        from . import install

        install()
