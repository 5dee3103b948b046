"""System checks of the sandbox."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

from . import conf


@register(Tags.security)
def check_debug(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not settings.DEBUG:
        messages.append(
            Warning(
                "The KUNA Pay sandbox (django_invoices.sandbox) is installed with DEBUG off.",
                hint="The sandbox marks invoices paid for anyone who clicks a button. Remove "
                "it from INSTALLED_APPS and its URLs from production settings.",
                id="django_invoices.W101",
            )
        )
    if not conf.credentials():
        messages.append(
            Warning(
                "The KUNA Pay sandbox accepts no credentials.",
                hint="Set API_KEY (or PUBLIC_KEY and PRIVATE_KEY) in DJANGO_INVOICES or "
                "DJANGO_INVOICES_SANDBOX.",
                id="django_invoices.W102",
            )
        )
    return messages
