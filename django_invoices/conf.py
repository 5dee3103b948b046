"""Settings of the app, read from the ``DJANGO_INVOICES`` dict.

Every key has a default here; docs/reference/settings.rst documents each one. Settings
are read on every access (never cached at import time) so ``override_settings`` works
in tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

DEFAULT_ACCOUNT = "default"

AUTH_SIGNED = "signed"
AUTH_API_KEY = "api_key"

DEFAULTS: dict[str, Any] = {
    # Provider
    "API_URL": "https://api.kunapay.io",
    "API_KEY": "",
    "PUBLIC_KEY": "",
    # One key, or a list of them newest first while a key is rotated: callbacks verify
    # with any of them, requests are signed with the first (docs/howto/rotate-keys.rst).
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
    # Where accounts come from: None for these settings, or the dotted path of an
    # AccountResolver (a class or an instance) that finds them anywhere, e.g. in a table
    # (docs/howto/accounts-from-the-database.rst).
    "ACCOUNT_RESOLVER": None,
    # Days an older key of a PRIVATE_KEY list may match no callback, after the newest
    # one verified its first, before the check W008 says it can be removed.
    "OLD_KEY_IDLE_DAYS": 30,
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
    # Monitoring (docs/howto/monitoring.rst)
    # Days the records of requests to KUNA Pay and of sweep runs are kept (the health
    # page draws 7 days); invoices_prune_callbacks deletes older ones.
    "MONITORING_MAX_AGE": 14,
    # Seconds the oldest pending callback may wait, and since the last sweep, before
    # the health page and the health check call it a problem.
    "HEALTH_PENDING_MAX_AGE": 600,
    "HEALTH_SWEEP_MAX_AGE": 3600,
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

# Options an account in ACCOUNTS (or from ACCOUNT_RESOLVER) may set; anything else
# comes from the top level.
ACCOUNT_KEYS = (
    "API_URL",
    "BASE_URL",
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


def get_many(names: Iterable[str]) -> dict[str, Any]:
    """``{name: get(name)}`` for each name, the setting read once (each callback reads
    an account's dozen options)."""
    configured = getattr(django_settings, "DJANGO_INVOICES", None) or {}
    return {name: configured[name] if name in configured else DEFAULTS[name] for name in names}


class UnknownAccount(ImproperlyConfigured):
    """No account of this name: none configured, or the resolver knows none."""

    def __init__(self, name: str) -> None:
        super().__init__(f"DJANGO_INVOICES has no account named {name!r}.")
        self.name = name


class AccountResolver(Protocol):
    """Where the app finds merchant accounts (the ``ACCOUNT_RESOLVER`` setting).

    ``get`` returns the options of one account, keyed like the ``ACCOUNTS`` setting
    (``API_KEY``, ``PUBLIC_KEY``, ``PRIVATE_KEY``, ``API_URL``...), or None when there
    is no such account; it is called for every callback and every client, so it should
    be one indexed query at most. ``names`` lists every account, for the system checks,
    the sweep and the admin's filter. Options an account leaves out come from the top
    level of ``DJANGO_INVOICES``, except the keys, which are never inherited.
    """

    def names(self) -> Iterable[str]: ...

    def get(self, name: str) -> Mapping[str, Any] | None: ...


class SettingsAccounts:
    """The default resolver: the top level of ``DJANGO_INVOICES`` is the account named
    "default", and each entry of its ``ACCOUNTS`` dict one more."""

    def names(self) -> list[str]:
        accounts = get("ACCOUNTS")
        named = list(accounts) if isinstance(accounts, dict) else []
        return [DEFAULT_ACCOUNT, *[name for name in named if name != DEFAULT_ACCOUNT]]

    def get(self, name: str) -> Mapping[str, Any] | None:
        if name == DEFAULT_ACCOUNT:
            return get_many(ACCOUNT_KEYS)
        accounts = get("ACCOUNTS")
        if not isinstance(accounts, dict) or name not in accounts:
            return None
        found = accounts[name]
        if not isinstance(found, Mapping):
            # Named, so not unknown: its callbacks are answered 503 until it is fixed.
            raise ImproperlyConfigured(
                f"ACCOUNTS[{name!r}] must be a dict of settings, not {type(found).__name__}."
            )
        return found


def resolver() -> AccountResolver:
    """The ``ACCOUNT_RESOLVER`` in use: a class is instantiated, anything else used as
    it is; none set means the settings (``SettingsAccounts``)."""
    chosen = get("ACCOUNT_RESOLVER")
    if not chosen:
        return SettingsAccounts()
    if isinstance(chosen, str):
        try:
            chosen = import_string(chosen)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"DJANGO_INVOICES['ACCOUNT_RESOLVER'] {chosen!r} cannot be imported: {exc}"
            ) from exc
    found: AccountResolver = chosen() if isinstance(chosen, type) else chosen
    return found


def account_names() -> list[str]:
    """Every account the resolver knows, in its order."""
    return [str(name) for name in resolver().names()]


def has_account(name: str) -> bool:
    """Whether the resolver knows an account of this name (one look-up, no listing).

    A known account whose settings are broken counts: using it raises
    ``ImproperlyConfigured``, which the callback view answers 503 so the provider sends
    the callback again once the settings are fixed.
    """
    try:
        return resolver().get(name) is not None
    except UnknownAccount:
        return False
    except ImproperlyConfigured:
        return True


def raw_account(name: str = DEFAULT_ACCOUNT) -> dict[str, Any]:
    """The merged option dict of one account (used by system checks and ``get_account``).

    Raises ``UnknownAccount`` for a name the resolver does not know, and
    ``ImproperlyConfigured`` (naming no value) for options that are not a mapping.
    """
    own = resolver().get(name)
    if own is None:
        raise UnknownAccount(name)
    if not isinstance(own, Mapping):
        raise ImproperlyConfigured(
            f"The settings of account {name!r} must be a dict, not {type(own).__name__}."
        )
    options = get_many(key for key in ACCOUNT_KEYS if key not in SECRET_KEYS)
    options.update(dict.fromkeys(SECRET_KEYS, ""))
    options.update({key: value for key, value in own.items() if key in ACCOUNT_KEYS})
    return options


def private_keys(value: Any) -> tuple[str, ...]:
    """A ``PRIVATE_KEY`` option as keys newest first: one string, or a list of them.

    The error names no value: a key is a secret even when it is set wrongly.
    """
    if value is None or isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (list, tuple)) and all(isinstance(k, str) and k for k in value):
        return tuple(value)
    raise ImproperlyConfigured(
        "PRIVATE_KEY must be a key (a string) or a list of keys, newest first; "
        f"it is a {type(value).__name__}"
        + (" with an empty or non-string item" if isinstance(value, (list, tuple)) else "")
        + "."
    )


def key_fingerprint(key: str) -> str:
    """A short name of a private key that tells keys apart and gives nothing of the key
    away (a SHA-256 of it, with a label of its own, cut to 16 hex digits)."""
    return hashlib.sha256(b"django-invoices private key\x00" + key.encode("utf-8")).hexdigest()[:16]


# The provider's API, as opposed to a sandbox or a test server: an account talking to
# it has live keys (docs/explanation/provider-api.rst, "Base URL").
LIVE_API_HOSTS = frozenset({"api.kunapay.io"})


def is_live(api_url: str) -> bool:
    try:
        host = urlsplit(str(api_url)).hostname
    except ValueError:
        return False
    return host in LIVE_API_HOSTS


@dataclass(frozen=True)
class Account:
    """Credentials and transport options of one merchant account."""

    name: str
    api_url: str
    api_key: str
    public_key: str
    # Newest first: requests are signed with the first, callbacks verify with any.
    private_keys: tuple[str, ...]
    auth_mode: str
    connect_timeout: float
    read_timeout: float
    retries: int
    retry_backoff: float

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return (
            f"Account(name={self.name!r}, api_url={self.api_url!r}, auth_mode={self.auth_mode!r})"
        )

    @property
    def private_key(self) -> str:
        """The newest private key, the one requests are signed with ("" if none)."""
        return self.private_keys[0] if self.private_keys else ""


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
        private_keys=private_keys(options["PRIVATE_KEY"]),
        auth_mode=resolve_auth_mode(options),
        connect_timeout=float(options["CONNECT_TIMEOUT"]),
        read_timeout=float(options["READ_TIMEOUT"]),
        retries=int(options["RETRIES"]),
        retry_backoff=float(options["RETRY_BACKOFF"]),
    )
