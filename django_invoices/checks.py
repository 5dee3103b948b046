"""System checks for the ``DJANGO_INVOICES`` settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
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
    "OLD_KEY_IDLE_DAYS": (0, False),
    "MONITORING_MAX_AGE": (7, False),
    "HEALTH_PENDING_MAX_AGE": (0, False),
    "HEALTH_SWEEP_MAX_AGE": (0, False),
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
    try:
        conf.private_keys(options["PRIVATE_KEY"])
    except ImproperlyConfigured as exc:
        messages.append(
            Error(
                f"DJANGO_INVOICES: {label}: {exc}",
                hint='e.g. "PRIVATE_KEY": "new-key", or ["new-key", "old-key"] while the old '
                "key is rotated out (docs/howto/rotate-keys.rst).",
                id="django_invoices.E015",
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
    base_url = str(options.get("BASE_URL") or "")
    if base_url != str(conf.get("BASE_URL") or "") and not _url_is_absolute(base_url):
        messages.append(
            Error(
                f"DJANGO_INVOICES: BASE_URL of {label} is {base_url!r}, not an absolute URL.",
                hint="KUNA Pay posts this account's callbacks there and sends its customers "
                'back to it: set the public address of its site, e.g. "https://shop.example".',
                id="django_invoices.E003",
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
    if not isinstance(conf.get("ACCOUNTS"), dict):
        messages.append(
            Error(
                "DJANGO_INVOICES: ACCOUNTS must be a dict of account name to settings.",
                hint='e.g. {"eu": {"API_KEY": "...", "PRIVATE_KEY": "..."}}',
                id="django_invoices.E007",
            )
        )
    if _resolver_set():
        try:
            conf.resolver()
        except ImproperlyConfigured as exc:
            messages.append(
                Error(
                    str(exc),
                    hint="Name a class or an object with names() and get(name) "
                    "(docs/howto/accounts-from-the-database.rst); its accounts are "
                    "checked with the database checks (manage.py check --database default).",
                    id="django_invoices.E016",
                )
            )
    else:
        messages.extend(_accounts_messages(conf.account_names()))
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


def _resolver_set() -> bool:
    """Whether accounts come from a resolver of the shop's: then reading them may touch
    the database, so they are checked by ``check_resolved_accounts`` (tagged database),
    not at every ``manage.py`` command."""
    return bool(conf.get("ACCOUNT_RESOLVER"))


def _accounts_messages(names: list[str]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for name in names:
        if name != conf.DEFAULT_ACCOUNT and (slugify(name) != name or not name):
            messages.append(
                Error(
                    f"DJANGO_INVOICES: account name {name!r} cannot appear in a URL.",
                    hint="Use lowercase letters, digits and hyphens.",
                    id="django_invoices.E007",
                )
            )
            continue
        try:
            options = conf.raw_account(name)
        except ImproperlyConfigured as exc:
            messages.append(
                Error(
                    f"DJANGO_INVOICES: {exc}",
                    hint='e.g. "ACCOUNTS": {"eu": {"API_KEY": "...", "PRIVATE_KEY": "..."}}',
                    id="django_invoices.E007",
                )
            )
            continue
        label = f"DJANGO_INVOICES: account {name!r}"
        messages.extend(_number_messages(label, options, ACCOUNT_NUMBERS))
        messages.extend(_account_messages(name, options))
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


def check_time_zones(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The app stores the provider's times, which carry their zone, and compares them
    with ``timezone.now()``: with ``USE_TZ`` off, Django refuses such times on SQLite and
    MySQL, and the payments health page fails."""
    if getattr(settings, "USE_TZ", True):
        return []
    return [
        Error(
            "DJANGO_INVOICES needs USE_TZ = True.",
            hint="Payments are recorded with times that carry their time zone (KUNA Pay "
            "gives UTC); with USE_TZ off Django cannot store or compare them. Set "
            "USE_TZ = True, Django's default.",
            id="django_invoices.E017",
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


def check_base_url_https(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """With DEBUG off, ``BASE_URL`` is a plain ``http://`` address: KUNA Pay would post
    callbacks to it and send customers back to it in clear text (``check --deploy``)."""
    base_url = str(conf.get("BASE_URL") or "")
    if settings.DEBUG or urlsplit(base_url).scheme != "http":
        return []
    return [
        Warning(
            "DJANGO_INVOICES: BASE_URL uses plain http with DEBUG off.",
            hint="KUNA Pay posts callbacks to BASE_URL and sends customers back to it: "
            "over http both travel in clear text, for anyone on the way to read or change. "
            'Set BASE_URL to the public https:// address of the site, e.g. "https://shop.example".',
            id="django_invoices.W007",
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
    if not _resolver_set():
        found.extend(_demo_values_of(conf.account_names()))
    return _demo_messages(found)


def _demo_values_of(names: list[str]) -> list[str]:
    found = []
    for name in names:
        try:
            options = conf.raw_account(name)
            keys = conf.private_keys(options.get("PRIVATE_KEY"))
        except (ImproperlyConfigured, AttributeError, TypeError):
            continue  # reported by check_settings
        values = {"API_KEY": [options.get("API_KEY")], "PUBLIC_KEY": [options.get("PUBLIC_KEY")]}
        values["PRIVATE_KEY"] = list(keys)
        for key in conf.SECRET_KEYS:
            if any(value in PUBLISHED_DEMO_VALUES for value in values[key]):
                found.append(key if name == conf.DEFAULT_ACCOUNT else f"ACCOUNTS[{name!r}] {key}")
    return found


def _demo_messages(found: list[str]) -> list[CheckMessage]:
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
    return _nonce_messages([] if _resolver_set() else conf.account_names())


def _nonce_messages(names: list[str]) -> list[CheckMessage]:
    signing = [
        name
        for name in names
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
    names_text = ", ".join(map(repr, signing))
    if alias is None:
        if settings.DEBUG:
            return []
        return [
            Warning(
                f"DJANGO_INVOICES: signed requests of {names_text} count their nonces per "
                "process (NONCE_CACHE is None).",
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
            f"count the nonces of the signed requests of {names_text} across processes.",
            hint="Each process would count for itself, or not at all, and two of them "
            "signing with one key could send the same nonce or a smaller one. Point "
            "NONCE_CACHE at a Redis or Memcached cache (atomic incr, shared by every "
            "process), or set it to None if only one process ever signs requests.",
            id="django_invoices.E014",
        )
    ]


def _raw_account_safely(name: str) -> dict[str, Any]:
    try:
        return conf.raw_account(name)
    except Exception:  # reported by check_settings
        return {}


def check_resolved_accounts(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """The accounts of the shop's ``ACCOUNT_RESOLVER``, checked like those of the
    settings; a database check, since the resolver may read them from a table."""
    if not databases or not _resolver_set():
        return []
    try:
        names = conf.account_names()
    except ImproperlyConfigured:
        return []  # E016, from check_settings
    except DatabaseError as exc:
        return [_unreadable(exc)]
    return [
        *_accounts_messages(names),
        *(_demo_messages(_demo_values_of(names)) if not settings.DEBUG else []),
        *_nonce_messages(names),
    ]


def check_keys(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """What the callbacks stored so far say about the keys: an older key of a rotation
    that verifies nothing any more (W008), and live keys no callback has been verified
    with yet, so the signature recipe is still untried (W009)."""
    if not databases:
        return []
    from . import services

    messages: list[CheckMessage] = []
    try:
        names = conf.account_names()
        idle = [key for name in names for key in _idle_keys_safely(services, name)]
        untried = services.unverified_live_accounts(names)
    except ImproperlyConfigured:
        return []  # reported by check_settings
    except DatabaseError as exc:  # no tables yet (before the first migrate), say
        return [_unreadable(exc)] if _resolver_set() else []
    for key in idle:
        messages.append(
            Warning(
                f"DJANGO_INVOICES: private key {key.position + 1} of account "
                f"{key.account!r} (fingerprint {key.fingerprint}) has verified no callback "
                f"for {key.idle.days} days.",
                hint="Since the newest key verified its first callback, KUNA Pay has not "
                "signed with this one; remove it from PRIVATE_KEY "
                "(docs/howto/rotate-keys.rst). OLD_KEY_IDLE_DAYS sets how long to wait.",
                id="django_invoices.W008",
            )
        )
    for name in untried:
        messages.append(
            Warning(
                f"DJANGO_INVOICES: no callback of account {name!r}, which has live keys, "
                "has been verified yet.",
                hint="KUNA Pay does not publish how it signs callbacks. When the first live "
                "callbacks arrive (they are stored, refused or not), run manage.py "
                f"invoices_check_signatures --account {name} and set the recipe it names "
                "(docs/howto/going-live.rst).",
                id="django_invoices.W009",
            )
        )
    return messages


def _idle_keys_safely(services: Any, name: str) -> list[Any]:
    try:
        found: list[Any] = services.idle_keys(name)
    except ImproperlyConfigured:  # a broken account: reported by the other checks
        return []
    return found


def _unreadable(exc: Exception) -> CheckMessage:
    return Error(
        f"DJANGO_INVOICES: the accounts of ACCOUNT_RESOLVER cannot be read: {type(exc).__name__}.",
        hint="The resolver reads them from the database; run migrate, or fix the resolver.",
        id="django_invoices.E016",
    )


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
register(check_time_zones, Tags.compatibility)
register(check_proxies, Tags.security)
register(check_base_url_https, Tags.security, deploy=True)
register(check_published_demo_values, Tags.security)
register(check_nonce_cache, Tags.caches)
register(check_tasks, Tags.compatibility)
register(check_resolved_accounts, Tags.database)
register(check_keys, Tags.database)
