"""System checks of the sandbox."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from . import conf


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
        enabled = conf.get("ENABLED")
        if enabled not in (None, False) and not conf.is_enabled():
            messages.append(
                Error(
                    'DJANGO_INVOICES_SANDBOX["ENABLED"] switches the sandbox on with DEBUG off.',
                    hint="Anyone could then pay invoices by clicking a button. Its URLs stay "
                    "404s until ENABLED and ALLOW_WITHOUT_DEBUG are both True (the values, "
                    "not strings), which only belongs on a machine that takes no real "
                    "payments.",
                    id="django_invoices.E110",
                )
            )
    real = conf.real_keys_in_use()
    if real:
        messages.append(
            Error(
                f"The KUNA Pay sandbox is configured with a real account's keys "
                f"({', '.join(real)}).",
                hint="The sandbox would accept requests and sign callbacks with a real "
                "merchant's secrets; it answers nothing until it has keys of its own (or "
                "none: it then takes the keys of the accounts whose API_URL points at it).",
                id="django_invoices.E111",
            )
        )
    if not conf.credentials():
        messages.append(
            Warning(
                "The KUNA Pay sandbox accepts no credentials.",
                hint="Set API_KEY (or PUBLIC_KEY and PRIVATE_KEY) in "
                "DJANGO_INVOICES_SANDBOX, or point an account's API_URL in DJANGO_INVOICES "
                "at the sandbox (BASE_URL plus the sandbox's prefix, or one of "
                "DJANGO_INVOICES_SANDBOX['API_URLS']).",
                id="django_invoices.W102",
            )
        )
    return messages


# Registered here rather than by decorators, so the mutation run reaches the functions
# (mutmut leaves decorated functions alone; docs/mutation.rst).
register(check_debug, Tags.security)
