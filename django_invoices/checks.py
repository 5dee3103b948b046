"""System checks for the ``DJANGO_INVOICES`` settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.text import slugify

from . import conf


def _url_is_absolute(url: str) -> bool:
    parts = urlsplit(url or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _account_messages(name: str, options: dict[str, Any]) -> list[CheckMessage]:
    label = f"account {name!r}"
    messages: list[CheckMessage] = []
    mode = conf.resolve_auth_mode(options)
    if mode not in (conf.AUTH_SIGNED, conf.AUTH_API_KEY):
        messages.append(
            Error(
                f"DJANGO_INVOICES: AUTH_MODE of {label} is {mode!r}.",
                hint='Use "signed", "api_key", or leave it unset to choose from the keys.',
                id="django_invoices.E005",
            )
        )
    elif mode == conf.AUTH_SIGNED and not (options["PUBLIC_KEY"] and options["PRIVATE_KEY"]):
        messages.append(
            Error(
                f"DJANGO_INVOICES: {label} signs requests but lacks PUBLIC_KEY or PRIVATE_KEY.",
                hint="Set both keys issued with the API key in the KUNA Pay cabinet.",
                id="django_invoices.E006",
            )
        )
    elif mode == conf.AUTH_API_KEY and not options["API_KEY"]:
        messages.append(
            Error(
                f"DJANGO_INVOICES: {label} has no credentials.",
                hint="Set API_KEY, or PUBLIC_KEY and PRIVATE_KEY for signed requests "
                "(KUNA Pay cabinet: Settings, API key).",
                id="django_invoices.E001",
            )
        )
    if not options["PRIVATE_KEY"]:
        messages.append(
            Error(
                f"DJANGO_INVOICES: {label} has no PRIVATE_KEY, so its callbacks cannot be "
                "verified.",
                hint="Set PRIVATE_KEY to the private key issued with the API key; KUNA Pay "
                "signs callbacks with it.",
                id="django_invoices.E002",
            )
        )
    api_url = str(options["API_URL"] or "")
    if not _url_is_absolute(api_url):
        messages.append(
            Error(
                f"DJANGO_INVOICES: API_URL of {label} is {api_url!r}, not an absolute URL.",
                hint='Use a URL with scheme and host, e.g. "https://api.kunapay.io".',
                id="django_invoices.E004",
            )
        )
    elif urlsplit(api_url).scheme == "http" and not settings.DEBUG:
        messages.append(
            Warning(
                f"DJANGO_INVOICES: API_URL of {label} uses plain http with DEBUG off.",
                hint="Keys and payments travel in clear text; use https in production.",
                id="django_invoices.W001",
            )
        )
    return messages


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    accounts = conf.get("ACCOUNTS")
    if not isinstance(accounts, dict):
        messages.append(
            Error(
                "DJANGO_INVOICES: ACCOUNTS must be a dict of account name to settings.",
                hint='e.g. {"eu": {"API_KEY": "...", "PRIVATE_KEY": "..."}}',
                id="django_invoices.E007",
            )
        )
        accounts = {}
    for name in conf.account_names():
        if name != conf.DEFAULT_ACCOUNT and (slugify(name) != name or not name):
            messages.append(
                Error(
                    f"DJANGO_INVOICES: account name {name!r} cannot appear in a URL.",
                    hint="Use lowercase letters, digits and hyphens.",
                    id="django_invoices.E007",
                )
            )
            continue
        if name != conf.DEFAULT_ACCOUNT and not isinstance(accounts.get(name), dict):
            continue
        messages.extend(_account_messages(name, conf.raw_account(name)))
    base_url = str(conf.get("BASE_URL") or "")
    if not _url_is_absolute(base_url):
        messages.append(
            Error(
                f"DJANGO_INVOICES: BASE_URL is {base_url!r}, not an absolute URL.",
                hint="KUNA Pay must reach the callback view and send customers back, so "
                'set the public address of the site, e.g. "https://shop.example".',
                id="django_invoices.E003",
            )
        )
    return messages
