"""System checks for the ``DJANGO_INVOICES`` settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
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
    "REJECTED_BODY_KEEP": (0, True),
    "REJECTED_EVENT_MAX_AGE": (0, False),
    "DUPLICATE_EVENT_MAX_AGE": (0, False),
    "UNKNOWN_ACCOUNT_EVENT_MAX_AGE": (0, False),
    "CALLBACK_REFUSED_PER_MINUTE": (0, True),
    "CALLBACK_REPLAYS_PER_MINUTE": (0, True),
    "TASKS_CHUNK_SIZE": (1, True),
    "TASKS_ADMIN_THRESHOLD": (0, True),
    "TASKS_MAX_RETRIES": (0, True),
    "TASKS_RETRY_BACKOFF": (0, False),
    "TASKS_RETRY_BACKOFF_MAX": (0, False),
    "REFRESH_WORKERS": (1, True),
}
# Settings where None is meaningful (Django's cache: never expire; a limit: off).
NONE_ALLOWED = frozenset(
    {"CACHE_TIMEOUT", "CALLBACK_REFUSED_PER_MINUTE", "CALLBACK_REPLAYS_PER_MINUTE"}
)


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
    messages.extend(_recipe_messages())
    messages.extend(_retired_messages())
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


def _recipe_messages() -> list[CheckMessage]:
    from .signing import parse_recipes

    messages: list[CheckMessage] = []
    try:
        parse_recipes(conf.get("CALLBACK_SIGNATURE_RECIPES"))
    except ValueError as exc:
        messages.append(
            Error(
                f"DJANGO_INVOICES: CALLBACK_SIGNATURE_RECIPES: {exc}.",
                hint="manage.py invoices_check_signatures names the recipe stored "
                "callbacks were signed with.",
                id="django_invoices.E009",
            )
        )
    try:
        conf.late_payment_window()
    except (TypeError, ValueError, OverflowError):
        messages.append(
            Error(
                "DJANGO_INVOICES: LATE_PAYMENT_WINDOW must be a timedelta or a number of days.",
                hint="e.g. 7 (the default) or datetime.timedelta(days=3).",
                id="django_invoices.E010",
            )
        )
    return messages


def _retired_messages() -> list[CheckMessage]:
    """Settings a shop may still carry that no longer do anything."""
    options = getattr(settings, "DJANGO_INVOICES", None)
    if not isinstance(options, dict) or "CONFIRM_PAID_CALLBACKS" not in options:
        return []
    return [
        Warning(
            "DJANGO_INVOICES: CONFIRM_PAID_CALLBACKS is no longer read.",
            hint="Every callback is now confirmed by a read of the invoice from KUNA Pay, "
            "whatever this setting says; no callback body is trusted. Remove the setting.",
            id="django_invoices.W005",
        )
    ]


# Cache backends that do not share what they hold between the processes of a site.
UNSHARED_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


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


def check_proxies(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django is told it sits behind a proxy, DRF is not told how many: every client
    then has the proxy's address to the REST API's throttles and failed-login limits."""
    behind_proxy = bool(getattr(settings, "SECURE_PROXY_SSL_HEADER", None)) or bool(
        getattr(settings, "USE_X_FORWARDED_HOST", False)
    )
    framework = getattr(settings, "REST_FRAMEWORK", {}) or {}
    if not behind_proxy or framework.get("NUM_PROXIES") is not None:
        return []
    return [
        Warning(
            "DJANGO_INVOICES: Django is set up behind a proxy (SECURE_PROXY_SSL_HEADER or "
            "USE_X_FORWARDED_HOST) but REST_FRAMEWORK['NUM_PROXIES'] is not set.",
            hint="The REST API's throttles and failed-login limits then count every "
            "client as the proxy's address. Set NUM_PROXIES to the number of proxies in "
            "front of Django.",
            id="django_invoices.W006",
        )
    ]


# The values this project publishes for its demo (example_project/demo.env, printed in
# its docs): anyone can sign callbacks, forge sessions or call the API with them.
PUBLISHED_DEMO_VALUES = frozenset(
    {"demo-only-not-secret", "sandbox-api-key", "sandbox-private-key"}
)


def check_published_demo_values(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """With DEBUG off, no secret may be one the demo published."""
    if settings.DEBUG:
        return []
    found = []
    try:
        if settings.SECRET_KEY in PUBLISHED_DEMO_VALUES:
            found.append("SECRET_KEY")
    except ImproperlyConfigured:  # empty: Django refuses it by itself
        pass
    for name in conf.account_names():
        try:
            options = conf.raw_account(name)
        except (ImproperlyConfigured, AttributeError, TypeError):
            continue  # reported by check_settings
        for key in conf.SECRET_KEYS:
            if options.get(key) in PUBLISHED_DEMO_VALUES:
                found.append(key if name == conf.DEFAULT_ACCOUNT else f"ACCOUNTS[{name!r}] {key}")
    if not found:
        return []
    return [
        Error(
            f"DEBUG is off, and values published for the demo shop are in use: {', '.join(found)}.",
            hint="Anyone who has read the demo can use it (e.g. sign callbacks that mark "
            "orders paid). Set your own secret and your own KUNA Pay keys; the demo's "
            "values belong to `make demo` only.",
            id="django_invoices.E020",
        )
    ]


# Cache backends whose incr is not one atomic step shared by every process.
NON_ATOMIC_INCR_CACHES = (
    *UNSHARED_CACHES,
    "django.core.cache.backends.db.DatabaseCache",
    "django.core.cache.backends.filebased.FileBasedCache",
)


def check_nonce_cache(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Signed requests carry a nonce that must never repeat or go backwards for a key;
    processes count it together in ``NONCE_CACHE``, which must be a cache they all
    share with an atomic ``incr``. With DEBUG on as much as off: a development server
    and its task worker are two processes signing with one key."""
    signing = [
        name
        for name in _account_names_safely()
        if conf.resolve_auth_mode(_raw_account_safely(name)) == conf.AUTH_SIGNED
    ]
    alias = conf.get("NONCE_CACHE")
    caches = getattr(settings, "CACHES", {}) or {}
    if alias is not None and alias not in caches:
        return [
            Error(
                f"DJANGO_INVOICES: NONCE_CACHE is {alias!r}, not an alias of CACHES.",
                hint='Name a cache shared by all processes (e.g. "default"), or None.',
                id="django_invoices.E013",
            )
        ]
    if not signing:
        return []
    names = ", ".join(map(repr, signing))
    if alias is None:
        if settings.DEBUG:
            return []
        return [
            Warning(
                f"DJANGO_INVOICES: signed requests of {names} count their nonces per process "
                "(NONCE_CACHE is None).",
                hint="Nonces may then repeat or go backwards between processes signing with "
                "one key at once (web and task workers). Set NONCE_CACHE to a Redis or "
                "Memcached cache, whose incr is atomic across processes.",
                id="django_invoices.W003",
            )
        ]
    backend = str(caches.get(alias, {}).get("BACKEND", ""))
    if backend not in NON_ATOMIC_INCR_CACHES:
        return []
    return [
        Error(
            f"DJANGO_INVOICES: NONCE_CACHE {alias!r} ({backend.rsplit('.', 1)[-1]}) cannot "
            f"count the nonces of {names}' signed requests across processes.",
            hint="Each process would count for itself, or not at all, and two of them "
            "signing with one key could send the same nonce or a smaller one. Point "
            "NONCE_CACHE at a Redis or Memcached cache (atomic incr, shared by every "
            "process), or set it to None if only one process ever signs requests.",
            id="django_invoices.E014",
        )
    ]


def _account_names_safely() -> list[str]:
    accounts = conf.get("ACCOUNTS")
    return conf.account_names() if isinstance(accounts, dict) else [conf.DEFAULT_ACCOUNT]


def _raw_account_safely(name: str) -> dict[str, Any]:
    try:
        return conf.raw_account(name)
    except Exception:  # reported by check_settings
        return {}


def check_tasks(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``TASKS`` names a task system that is installed and configured."""
    from . import background

    chosen = conf.get("TASKS") or None
    if chosen not in background.MODES:
        return [
            Error(
                f"DJANGO_INVOICES: TASKS is {chosen!r}.",
                hint='Use None (work runs in the request), "django.tasks" or "celery".',
                id="django_invoices.E011",
            )
        ]
    if chosen == background.CELERY and not _importable("celery"):
        return [
            Error(
                'DJANGO_INVOICES: TASKS is "celery" but Celery is not installed.',
                hint="pip install django-invoices[celery]",
                id="django_invoices.E011",
            )
        ]
    if chosen != background.DJANGO_TASKS:
        return []
    handler = _task_backends()
    if handler is None:
        return [
            Error(
                'DJANGO_INVOICES: TASKS is "django.tasks" but Django\'s Tasks framework '
                "is not available.",
                hint="Use Django 6.0 or newer, or pip install django-invoices[tasks] (the "
                "django-tasks package) on Django 5.2.",
                id="django_invoices.E011",
            )
        ]
    alias = str(conf.get("TASKS_BACKEND"))
    if alias not in handler.settings:
        return [
            Error(
                f"DJANGO_INVOICES: TASKS_BACKEND is {alias!r}, not a backend of the TASKS setting.",
                hint=f"Configured: {', '.join(sorted(handler.settings)) or 'none'}.",
                id="django_invoices.E012",
            )
        ]
    backend = str(handler.settings[alias].get("BACKEND", ""))
    if backend.endswith(".ImmediateBackend"):
        return [
            Warning(
                f"DJANGO_INVOICES: the tasks backend {alias!r} runs tasks at once, in the "
                "process that enqueues them.",
                hint="Callbacks are then applied inside the provider's request, as with "
                "TASKS = None. Configure a backend with workers (e.g. django-tasks-db's "
                "DatabaseBackend) to take the work out of the request.",
                id="django_invoices.W004",
            )
        ]
    return []


def _importable(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _task_backends() -> Any:
    from .tasks import framework

    return framework.task_backends


# Registered here rather than by decorators, so the mutation run reaches the functions
# (mutmut leaves decorated functions alone; docs/mutation.rst).
register(check_settings, Tags.compatibility)
register(check_cache, Tags.caches)
register(check_proxies, Tags.security)
register(check_published_demo_values, Tags.security)
register(check_nonce_cache, Tags.caches)
register(check_tasks, Tags.compatibility)
