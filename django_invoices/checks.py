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


# Settings that must be numbers: (smallest allowed value, whether it must be whole).
ACCOUNT_NUMBERS = {
    "CONNECT_TIMEOUT": (0.001, False),
    "READ_TIMEOUT": (0.001, False),
    "RETRIES": (0, True),
    "RETRY_BACKOFF": (0, False),
}
APP_NUMBERS = {
    "CALLBACK_MAX_BODY_SIZE": (1, True),
    "CALLBACK_API_TIMEOUT": (0.001, False),
    "REFRESH_MIN_INTERVAL": (0, False),
    "PENDING_PAGE_REFRESH": (0, True),
    "CACHE_TIMEOUT": (0, True),
}
# Settings where None is meaningful (Django's cache: never expire).
NONE_ALLOWED = frozenset({"CACHE_TIMEOUT"})


def _number_messages(
    label: str, options: dict[str, Any], rules: dict[str, tuple[float, bool]]
) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for key, (least, whole) in rules.items():
        value = options[key]
        if value is None and key in NONE_ALLOWED:
            continue
        is_number = isinstance(value, int if whole else (int, float)) and not isinstance(
            value, bool
        )
        if not is_number or value < least:
            kind = "a whole number" if whole else "a number"
            messages.append(
                Error(
                    f"{label}: {key} is {value!r}; it must be {kind} of at least {least}.",
                    hint=f"See the default of {key} in the settings reference.",
                    id="django_invoices.E008",
                )
            )
    return messages


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
            if name not in accounts:  # ACCOUNTS itself is not a dict: reported above
                continue
            messages.append(
                Error(
                    f"DJANGO_INVOICES: account {name!r} is "
                    f"{type(accounts.get(name)).__name__}, not a dict of settings.",
                    hint='e.g. "ACCOUNTS": {"eu": {"API_KEY": "...", "PRIVATE_KEY": "..."}}',
                    id="django_invoices.E007",
                )
            )
            continue
        options = conf.raw_account(name)
        messages.extend(_number_messages(f"account {name!r}", options, ACCOUNT_NUMBERS))
        messages.extend(_account_messages(name, options))
    messages.extend(
        _number_messages(
            "DJANGO_INVOICES", {key: conf.get(key) for key in APP_NUMBERS}, APP_NUMBERS
        )
    )
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


# Cache backends that do not share what they hold between the processes of a site.
UNSHARED_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.caches)
def check_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The REST API's throttles and the return page's limit on re-reads count in the
    default cache; one each process keeps for itself limits nothing across processes."""
    backend = str((getattr(settings, "CACHES", {}) or {}).get("default", {}).get("BACKEND", ""))
    if settings.DEBUG or backend not in UNSHARED_CACHES:
        return []
    return [
        Warning(
            f"DJANGO_INVOICES: the default cache ({backend.rsplit('.', 1)[-1]}) is not "
            "shared between processes.",
            hint="The REST API's throttles and the return page's limit on re-reading an "
            "invoice from KUNA Pay then apply per process (or not at all); use Redis or "
            "Memcached as the default cache in production.",
            id="django_invoices.W002",
        )
    ]
