"""Settings of the sandbox, read from the ``DJANGO_INVOICES_SANDBOX`` dict.

Read on every access, so ``override_settings`` works. With no keys of its own the sandbox
accepts the keys of the ``DJANGO_INVOICES`` accounts whose ``API_URL`` points at it, so a
project pointed at its own sandbox works without any extra setting; the keys of an account
that talks to anything else are real keys, and the sandbox never takes or signs with them.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.translation import gettext_lazy as _

from .. import conf as app_conf

# Failure modes; the names are used in settings and forms.
API_ERROR = "api_error"
API_TIMEOUT = "api_timeout"
CALLBACK_TWICE = "callback_twice"
CALLBACK_OUT_OF_ORDER = "callback_out_of_order"
CALLBACK_LATE = "callback_late"
CALLBACK_BAD_SIGNATURE = "callback_bad_signature"
PAID_AFTER_EXPIRY = "paid_after_expiry"

FAILURE_MODES = {
    API_ERROR: _("The API answers 503 for this invoice"),
    API_TIMEOUT: _("The API answers too late (the client times out)"),
    CALLBACK_TWICE: _("Every callback is sent twice"),
    CALLBACK_OUT_OF_ORDER: _("Callbacks arrive out of order (the first one comes last)"),
    CALLBACK_LATE: _("Callbacks are held back and sent late"),
    CALLBACK_BAD_SIGNATURE: _("Callbacks carry a wrong signature"),
    PAID_AFTER_EXPIRY: _("A payment is reported after the invoice expired"),
}

DEFAULTS: dict[str, Any] = {
    # Whether the sandbox answers at all. None: only while DEBUG is on. True with DEBUG
    # off also needs ALLOW_WITHOUT_DEBUG (otherwise: system check E110, and every
    # sandbox URL stays a 404); False: never.
    "ENABLED": None,
    "ALLOW_WITHOUT_DEBUG": False,
    # API_URLs at which this sandbox is reached, besides BASE_URL + the prefix its URLs
    # are mounted at; accounts with one of these API_URLs are sandbox accounts.
    "API_URLS": [],
    # Hosts ("host" or "host:port") callbacks may go to besides BASE_URL's host and port.
    "CALLBACK_HOSTS": [],
    # Database alias of the sandbox's tables (with routers.SandboxRouter installed).
    "DATABASE": "default",
    # Credentials the sandbox accepts. Empty: those of the DJANGO_INVOICES accounts whose
    # API_URL points at this sandbox. Never a key of any other account (check E111).
    "API_KEY": "",
    "PUBLIC_KEY": "",
    "PRIVATE_KEY": "",
    # Failure modes switched on for every invoice and request (names from FAILURE_MODES).
    "FAILURES": [],
    # Seconds the API stalls in the "api_timeout" mode; None: the client's READ_TIMEOUT + 1.
    "API_TIMEOUT_DELAY": None,
    # Callback delivery: seconds to wait for the shop, attempts in all, first back-off
    # (doubles after each failed attempt).
    "CALLBACK_TIMEOUT": 2.0,
    "CALLBACK_ATTEMPTS": 3,
    "CALLBACK_BACKOFF": 0.5,
    # Seconds "late" callbacks are held back, and whether a background thread sends them
    # when due (otherwise: the payment page's button, or delivery.deliver_due()).
    "LATE_CALLBACK_DELAY": 10.0,
    "LATE_CALLBACK_THREAD": True,
    # The readings of the provider nobody has confirmed
    # (``docs/explanation/provider-api.rst`` ("Callbacks" and "Callback signature")),
    # played so a shop can see that each still ends in the right state (issue: source of
    # truth):
    # the name of the invoice-status event and of the deposit event, whether deposit
    # callbacks carry invoiceId/externalOrderId, the signature recipe ("sha384/hex/raw",
    # see django_invoices.signing), and whether callbacks are sent at all.
    "INVOICE_EVENT_NAME": "Invoice",
    "DEPOSIT_EVENT_NAME": "InvoiceDeposit",
    "DEPOSIT_REFERENCES": True,
    "SIGNATURE_RECIPE": "sha384/hex/raw",
    "SEND_CALLBACKS": True,
    # Seconds an invoice lives (expireAt); percentage taken as fee from each deposit.
    "INVOICE_LIFETIME": 3600,
    "FEE_PERCENT": "0",
}


def get(name: str) -> Any:
    return app_conf.read("DJANGO_INVOICES_SANDBOX", DEFAULTS, name)


@dataclass(frozen=True)
class Credentials:
    """One merchant key set the sandbox accepts."""

    api_key: str
    public_key: str
    private_key: str

    def __repr__(self) -> str:  # secrets stay out of logs and tracebacks
        return f"Credentials(merchant={self.merchant!r})"

    @property
    def merchant(self) -> str:
        """A stable, non-secret name of this key set, stored on its invoices."""
        seed = f"{self.api_key}\x00{self.public_key}\x00{self.private_key}"
        return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]

    @property
    def creator_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-merchant:{self.merchant}"))


def _own() -> Credentials:
    return Credentials(
        api_key=str(get("API_KEY") or ""),
        public_key=str(get("PUBLIC_KEY") or ""),
        private_key=str(get("PRIVATE_KEY") or ""),
    )


def _accounts() -> list[tuple[str, str, Credentials]]:
    """(name, API_URL, keys) of every readable ``DJANGO_INVOICES`` account."""
    found = []
    try:
        names = app_conf.account_names()
    except ImproperlyConfigured:  # an ACCOUNT_RESOLVER that cannot be imported: E016
        return []
    for name in names:
        try:
            options = app_conf.raw_account(name)
        except (ImproperlyConfigured, AttributeError, TypeError):
            continue  # a broken account is reported by the app's own checks
        try:  # a list of keys while one is rotated: the newest signs
            private_key = next(iter(app_conf.private_keys(options.get("PRIVATE_KEY"))), "")
        except ImproperlyConfigured:
            continue
        creds = Credentials(
            api_key=str(options.get("API_KEY") or ""),
            public_key=str(options.get("PUBLIC_KEY") or ""),
            private_key=private_key,
        )
        found.append((name, str(options.get("API_URL") or ""), creds))
    return found


def _accepted() -> list[tuple[str, Credentials]]:
    """(where they are set, keys) of the key sets the sandbox would accept."""
    own = _own()
    if own.api_key or own.public_key or own.private_key:
        return [("DJANGO_INVOICES_SANDBOX", own)]
    addresses = addresses_served()
    return [
        (f"DJANGO_INVOICES account {name!r}", creds)
        for name, api_url, creds in _accounts()
        if _normalise(api_url) in addresses and (creds.api_key or creds.public_key)
    ]


def credentials() -> list[Credentials]:
    """The key sets the sandbox accepts: its own, else those of the accounts whose
    API_URL points at it (never those of an account of the real provider)."""
    found: list[Credentials] = []
    for _where, creds in _accepted():
        if creds not in found:
            found.append(creds)
    return found


def real_keys_in_use() -> list[str]:
    """The keys the sandbox would accept that are also keys of an account it does not
    serve, by where they are set (never their values).

    Such a sandbox would take requests and sign callbacks with a real merchant's keys;
    it refuses to answer instead (system check E111).
    """
    addresses = addresses_served()
    real: set[str] = set()
    for _name, api_url, creds in _accounts():
        if _normalise(api_url) not in addresses:
            real |= {v for v in (creds.api_key, creds.public_key, creds.private_key) if v}
    if not real:
        return []
    return [
        f"{key} in {where}"
        for where, creds in _accepted()
        for key, value in (
            ("API_KEY", creds.api_key),
            ("PUBLIC_KEY", creds.public_key),
            ("PRIVATE_KEY", creds.private_key),
        )
        if value and value in real
    ]


# -- where the sandbox lives, and whether it answers -----------------------------------


def _normalise(url: str) -> str:
    """A URL compared by scheme, host (any case), port and path (no trailing slash)."""
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    port = port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}{parts.path.rstrip('/')}"


def mount_path() -> str | None:
    """The path the sandbox's URLs are mounted at in ROOT_URLCONF (e.g. "/sandbox")."""
    try:
        path = reverse("invoices_sandbox:invoices")
    except NoReverseMatch:
        return None
    prefix = get_script_prefix()  # BASE_URL already holds it, when there is one
    if path.startswith(prefix):
        path = "/" + path[len(prefix) :]
    return path[: -len("/v1/invoice")]


def addresses_served() -> set[str]:
    """The API_URLs (normalised) that reach this sandbox."""
    urls = [str(url) for url in get("API_URLS") or []]
    base = str(app_conf.get("BASE_URL") or "").rstrip("/")
    mounted = mount_path()
    if base and mounted is not None:
        urls.append(base + mounted)
    return {address for address in map(_normalise, urls) if address}


def is_enabled() -> bool:
    """Whether the settings switch the sandbox on (DEBUG, or ENABLED acknowledged)."""
    enabled = get("ENABLED")
    if enabled is False:
        return False
    if settings.DEBUG:
        return True
    # Only the literal True counts: a string from the environment ("0", "False") must
    # not switch a payment simulator on.
    return enabled is True and get("ALLOW_WITHOUT_DEBUG") is True


def refusal() -> str | None:
    """Why the sandbox answers nothing now (every URL a 404), or None when it serves."""
    if not is_enabled():
        return "the sandbox is switched off (DEBUG is off and it is not enabled)"
    if real_keys_in_use():
        return "the sandbox is configured with the keys of a real account"
    return None


def _host_and_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower(), port


def callback_host_allowed(url: str) -> bool:
    """Whether callbacks may go to ``url``: BASE_URL's host and port, or CALLBACK_HOSTS.

    Anyone holding an API key picks the ``callbackUrl``; without this limit the sandbox
    would POST wherever they say, from inside the shop's network.
    """
    target = _host_and_port(url)
    if target is None:
        return False
    if target == _host_and_port(str(app_conf.get("BASE_URL") or "")):
        return True
    host, port = target
    for entry in get("CALLBACK_HOSTS") or []:
        try:  # "host", "host:port", "[::1]:8000"
            allowed = urlsplit(f"//{str(entry).strip()}")
            allowed_port = allowed.port
        except ValueError:
            continue
        if (allowed.hostname or "").lower() == host and allowed_port in (None, port):
            return True
    return False


def by_merchant(merchant: str) -> Credentials | None:
    for creds in credentials():
        if creds.merchant == merchant:
            return creds
    return None


def global_failures() -> set[str]:
    configured = get("FAILURES") or []
    return {str(mode) for mode in configured if str(mode) in FAILURE_MODES}


def api_timeout_delay() -> float:
    delay = get("API_TIMEOUT_DELAY")
    if delay is None:
        return float(app_conf.get("READ_TIMEOUT")) + 1.0
    return float(delay)


def database() -> str:
    return str(get("DATABASE") or "default")
