from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    """``"django_invoices.contrib.metrics"`` in ``INSTALLED_APPS``: the payments'
    Prometheus metrics in ``prometheus_client``'s default registry."""

    name = "django_invoices.contrib.metrics"
    label = "django_invoices_metrics"
    verbose_name = _("KUNA Pay invoices: Prometheus metrics")

    def ready(self) -> None:
        from . import install

        install()
