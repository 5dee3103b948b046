import contextlib

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DjangoInvoicesConfig(AppConfig):
    name = "django_invoices"
    verbose_name = _("KUNA Pay invoices")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import background, checks  # noqa: F401  (checks registers the system checks)
        from .services import monitoring

        # The requests to KUNA Pay are recorded for the admin's health page.
        monitoring.connect()

        if background.mode() == background.CELERY:
            # Registers the shared tasks, so a worker knows their names.
            with contextlib.suppress(ImportError):  # reported by check E011
                from .tasks import with_celery  # noqa: F401
