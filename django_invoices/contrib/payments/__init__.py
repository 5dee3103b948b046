"""A django-payments provider for KUNA Pay invoices (``pip install django-invoices[payments]``).

.. code-block:: python

    INSTALLED_APPS += ["payments", "django_invoices.contrib.payments"]
    PAYMENT_VARIANTS = {
        "kunapay": ("django_invoices.contrib.payments.KunaPayProvider", {}),
    }

The provider creates the invoice through ``django_invoices.services``; this app's
callback view takes KUNA Pay's callbacks, and its outcome signals move the ``Payment``
(``status.py`` has the table). See ``docs/howto/django-payments.rst``.

``KunaPayProvider`` and ``sync_payment`` are imported on first use: Django imports
this package while it loads the apps, before any model may be imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .provider import KunaPayProvider
    from .status import sync_payment

__all__ = ["KunaPayProvider", "sync_payment"]


def __getattr__(name: str) -> Any:
    if name == "KunaPayProvider":
        from .provider import KunaPayProvider

        return KunaPayProvider
    if name == "sync_payment":
        from .status import sync_payment

        return sync_payment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
