from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SandboxConfig(AppConfig):
    name = "django_invoices.sandbox"
    label = "invoices_sandbox"
    verbose_name = _("KUNA Pay sandbox")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            database_checks,  # noqa: F401
        )
