"""Settings of the sandbox, read from the ``DJANGO_INVOICES_SANDBOX`` dict.

Read on every access, so ``override_settings`` works. With nothing configured the sandbox
accepts the keys of every account in ``DJANGO_INVOICES``, so a project pointed at its own
sandbox works without any extra setting.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
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
    # Database alias of the sandbox's tables (with routers.SandboxRouter installed).
    "DATABASE": "default",
    # Credentials the sandbox accepts. Empty: those of every DJANGO_INVOICES account.
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
    # The readings of the provider nobody has confirmed (kunapay-api.md §5), played so
    # a shop can see that each still ends in the right state (issue: source of truth):
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


def credentials() -> list[Credentials]:
    own = Credentials(
        api_key=str(get("API_KEY") or ""),
        public_key=str(get("PUBLIC_KEY") or ""),
        private_key=str(get("PRIVATE_KEY") or ""),
    )
    if own.api_key or own.public_key or own.private_key:
        return [own]
    found: list[Credentials] = []
    for name in app_conf.account_names():
        try:
            options = app_conf.raw_account(name)
        except (ImproperlyConfigured, AttributeError, TypeError):
            continue  # a broken account is reported by the app's own checks
        creds = Credentials(
            api_key=str(options.get("API_KEY") or ""),
            public_key=str(options.get("PUBLIC_KEY") or ""),
            private_key=str(options.get("PRIVATE_KEY") or ""),
        )
        if (creds.api_key or creds.public_key) and creds not in found:
            found.append(creds)
    return found


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
