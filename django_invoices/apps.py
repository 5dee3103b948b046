from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DjangoInvoicesConfig(AppConfig):
    name = "django_invoices"
    verbose_name = _("KUNA Pay invoices")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
