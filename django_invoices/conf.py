"""Settings of the app, read from the ``DJANGO_INVOICES`` dict.

Every key has a default here; docs/reference/settings.rst documents each one. Settings
are read on every access (never cached at import time) so ``override_settings`` works
in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

DEFAULT_ACCOUNT = "default"

AUTH_SIGNED = "signed"
AUTH_API_KEY = "api_key"

DEFAULTS: dict[str, Any] = {
    # Provider
    "API_URL": "https://api.kunapay.io",
    "API_KEY": "",
    "PUBLIC_KEY": "",
    "PRIVATE_KEY": "",
    # None picks "signed" when both PUBLIC_KEY and PRIVATE_KEY are set, else "api_key".
    "AUTH_MODE": None,
    "CONNECT_TIMEOUT": 3.05,
    "READ_TIMEOUT": 15.0,
    # Extra attempts for safe requests (GETs, and POSTs that never reached the provider).
    "RETRIES": 2,
    "RETRY_BACKOFF": 0.5,
    # More merchant accounts: {"name": {"API_KEY": ..., "PUBLIC_KEY": ..., ...}}.
    "ACCOUNTS": {},
    # Shop
    # Absolute URL at which the provider and the customer reach this site, e.g.
    # "https://shop.example". callbackUrl and redirectUrl are built from it.
    "BASE_URL": "",
    "TRANSACTIONAL_CALLBACKS": True,
    # Translated into the language active when the invoice is created.
    "REDIRECT_BUTTON_TITLE": _("Back to the shop"),
    # Names from GET /v1/invoice/questionnaire, e.g. ["email"].
    "QUESTIONNAIRE_FIELDS": [],
    # Payment page of an invoice whose API answer carries no paymentLink (one adopted by
    # reconciliation, say); "{id}" is replaced by the invoice id. Empty: leave it blank.
    "PAYMENT_URL_TEMPLATE": "",
    # Seconds the provider's asset and questionnaire lists stay in Django's cache.
    "CACHE_TIMEOUT": 3600,
    # Callbacks
    "CALLBACK_MAX_BODY_SIZE": 64 * 1024,
    # How KUNA Pay signs callbacks: "digest/encoding/message" names tried in order
    # (signing.py); invoices_check_signatures tells which one stored callbacks match.
    "CALLBACK_SIGNATURE_RECIPES": ["sha384/hex/raw", "sha384/hex/compact"],
    # Kept for compatibility and no longer read: every callback is a hint, and only the
    # invoice as GET /v1/invoice/{id} returns it changes anything.
    "CONFIRM_PAID_CALLBACKS": True,
    # Read timeout (seconds, no retries) of the read a callback sets off: the provider
    # wants its answer within 2 seconds, and an event that cannot be read in time stays
    # pending for ``invoices_sync``.
    "CALLBACK_API_TIMEOUT": 1.2,
    # Bytes kept of the body of a refused (unverified) callback; the rest is described
    # by its size and SHA-256.
    "REJECTED_BODY_KEEP": 4096,
    # Days after which invoices_prune_callbacks deletes refused callbacks...
    "REJECTED_EVENT_MAX_AGE": 30,
    # ...authentic callbacks that only repeated news applied already (duplicates)...
    "DUPLICATE_EVENT_MAX_AGE": 90,
    # ...and callbacks for an account name nobody configured (stored without a body).
    "UNKNOWN_ACCOUNT_EVENT_MAX_AGE": 7,
    # The callback endpoint's rate limit (services/limits.py): per sender address, the
    # refused callbacks a minute; per merchant account, the replays of a body stored
    # before. Past either, such a request is answered 429. New authentic callbacks are
    # never counted. None or 0: that limit is off.
    "CALLBACK_REFUSED_PER_MINUTE": 120,
    "CALLBACK_REPLAYS_PER_MINUTE": 600,
    # Sweep (invoices_sync): how long after an invoice expired or ended unpaid it is
    # still read back, so a payment that lands late is noticed (a timedelta or days).
    "LATE_PAYMENT_WINDOW": 7,
    # Return view (the customization.redirectUrl) and checkout helper
    # Where returning customers go, per outcome ("paid", "pending", "failed"): a URL
    # name, a path, an absolute URL on an allowed host, a callable or the dotted path of
    # one (it receives the Order and returns a URL, or None for no page). A missing or
    # None entry renders the built-in page, django_invoices/return.html.
    "RETURN_URLS": {},
    # Hosts besides the site's own that RETURN_URLS and error_url may point at.
    "ALLOWED_REDIRECT_HOSTS": [],
    # Seconds during which an unsettled invoice is not re-read from the API again, so
    # reloading the return page (or polling the status API) cannot hammer KUNA Pay.
    "REFRESH_MIN_INTERVAL": 10,
    # Seconds after which the built-in page of a pending payment reloads itself.
    "PENDING_PAGE_REFRESH": 10,
    # Background work (docs/howto/background.rst)
    # Where work that talks to KUNA Pay runs: None in the request (no worker needed),
    # "django.tasks" on Django's Tasks framework (the django-tasks package on Django
    # 5.2), or "celery" through the shop's Celery app.
    "TASKS": None,
    # The django.tasks backend (an alias of the TASKS setting) the tasks are sent to.
    "TASKS_BACKEND": "default",
    # The queue of every task; None leaves it to the backend or to Celery's routing.
    "TASKS_QUEUE": None,
    # Invoices or orders per task when many are refreshed or created at once.
    "TASKS_CHUNK_SIZE": 25,
    # Admin selections of more rows than this are queued; smaller ones run at once.
    "TASKS_ADMIN_THRESHOLD": 20,
    # Retries of a task that met a provider timeout, a 5xx or a database error, after
    # TASKS_RETRY_BACKOFF seconds, doubling each time up to TASKS_RETRY_BACKOFF_MAX.
    "TASKS_MAX_RETRIES": 8,
    "TASKS_RETRY_BACKOFF": 5,
    "TASKS_RETRY_BACKOFF_MAX": 600,
    # Where staff can watch queued work (a URL or path, e.g. Flower or the task
    # results' admin page), named in the admin's message; empty: not named.
    "TASKS_MONITOR_URL": "",
    # The cache through which processes signing with one key share a nonce counter,
    # so nonces strictly increase across them (needs atomic incr: Redis, Memcached).
    # None: each process counts for itself.
    "NONCE_CACHE": "default",
    # Admin
    # Reads of KUNA Pay in flight at once when staff refresh many invoices together;
    # each thread has its own HTTP session. Read at every call.
    "REFRESH_WORKERS": 8,
    # REST API
    # Who may create an invoice for an order: permission classes or their dotted paths;
    # None uses DRF's DEFAULT_PERMISSION_CLASSES.
    "API_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "django_invoices.api.permissions.IsOrderOwnerOrStaff",
    ],
    # Authentication classes of the API views (classes or dotted paths); None uses DRF's
    # DEFAULT_AUTHENTICATION_CLASSES. The session only by default: DRF's own default
    # includes HTTP Basic, which would take a password on every request.
    "API_AUTH_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    # ScopedRateThrottle rates per scope; the shop's dict, then DRF's
    # DEFAULT_THROTTLE_RATES, are merged over these, and None switches a scope off.
    # "django_invoices_auth_failure" counts failed authentications (a wrong password
    # through Basic or a bad token, when the shop enables those) per client address and
    # username; "django_invoices_auth_failure_user" per username from any address.
    "API_THROTTLE_RATES": {
        "django_invoices_public": "60/min",
        "django_invoices_create": "10/min",
        "django_invoices_auth_failure": "20/hour",
        "django_invoices_auth_failure_user": "100/hour",
    },
}

# Options an account in ACCOUNTS may set; anything else comes from the top level.
ACCOUNT_KEYS = (
    "API_URL",
    "API_KEY",
    "PUBLIC_KEY",
    "PRIVATE_KEY",
    "AUTH_MODE",
    "CONNECT_TIMEOUT",
    "READ_TIMEOUT",
    "RETRIES",
    "RETRY_BACKOFF",
)
# Secrets are never inherited from the default account: a named account with no key
# of its own must fail loudly rather than sign with someone else's key.
SECRET_KEYS = ("API_KEY", "PUBLIC_KEY", "PRIVATE_KEY")


def late_payment_window() -> timedelta:
    value = get("LATE_PAYMENT_WINDOW")
    return value if isinstance(value, timedelta) else timedelta(days=float(value))


def read(setting: str, defaults: dict[str, Any], name: str) -> Any:
    """Key ``name`` of the Django setting ``setting`` (a dict), else its default."""
    configured = getattr(django_settings, setting, None) or {}
    return configured[name] if name in configured else defaults[name]


def get(name: str) -> Any:
    """Return one setting of ``DJANGO_INVOICES``, falling back to its default."""
    return read("DJANGO_INVOICES", DEFAULTS, name)


@dataclass(frozen=True)
class Account:
    """Credentials and transport options of one merchant account."""

    name: str
    api_url: str
    api_key: str
    public_key: str
    private_key: str
    auth_mode: str
    connect_timeout: float
    read_timeout: float
    retries: int
    retry_backoff: float

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return (
            f"Account(name={self.name!r}, api_url={self.api_url!r}, auth_mode={self.auth_mode!r})"
        )


def account_names() -> list[str]:
    accounts = get("ACCOUNTS") or {}
    return [DEFAULT_ACCOUNT, *[name for name in accounts if name != DEFAULT_ACCOUNT]]


def raw_account(name: str = DEFAULT_ACCOUNT) -> dict[str, Any]:
    """The merged option dict of one account (used by system checks and ``get_account``)."""
    options = {key: get(key) for key in ACCOUNT_KEYS}
    if name == DEFAULT_ACCOUNT:
        return options
    accounts = get("ACCOUNTS") or {}
    if not isinstance(accounts, dict) or name not in accounts:
        raise ImproperlyConfigured(f"DJANGO_INVOICES has no account named {name!r}.")
    own = accounts[name]
    if not isinstance(own, dict):
        raise ImproperlyConfigured(
            f"DJANGO_INVOICES['ACCOUNTS'][{name!r}] must be a dict of settings, "
            f"not {type(own).__name__}."
        )
    for key in SECRET_KEYS:
        options[key] = ""
    options.update({key: value for key, value in own.items() if key in ACCOUNT_KEYS})
    return options


def resolve_auth_mode(options: dict[str, Any]) -> str:
    mode = options.get("AUTH_MODE")
    if mode:
        return str(mode)
    if options.get("PUBLIC_KEY") and options.get("PRIVATE_KEY"):
        return AUTH_SIGNED
    return AUTH_API_KEY


def get_account(name: str = DEFAULT_ACCOUNT) -> Account:
    options = raw_account(name)
    return Account(
        name=name,
        api_url=str(options["API_URL"]).rstrip("/"),
        api_key=options["API_KEY"] or "",
        public_key=options["PUBLIC_KEY"] or "",
        private_key=options["PRIVATE_KEY"] or "",
        auth_mode=resolve_auth_mode(options),
        connect_timeout=float(options["CONNECT_TIMEOUT"]),
        read_timeout=float(options["READ_TIMEOUT"]),
        retries=int(options["RETRIES"]),
        retry_backoff=float(options["RETRY_BACKOFF"]),
    )
