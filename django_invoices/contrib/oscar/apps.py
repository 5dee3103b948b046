from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KunaPayOscarConfig(AppConfig):
    name = "django_invoices.contrib.oscar"
    # Oscar's own apps take the short labels ("order", "payment", "checkout").
    label = "django_invoices_oscar"
    verbose_name = _("KUNA Pay for Oscar")
    default = True

    def ready(self) -> None:
        from .checks import register as register_checks
        from .receivers import connect

        connect()
        register_checks()
