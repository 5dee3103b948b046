"""Rate limits of the REST API, per scope, from the ``API_THROTTLE_RATES`` setting."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from .. import conf

PUBLIC_SCOPE = "django_invoices_public"
CREATE_SCOPE = "django_invoices_create"
AUTH_FAILURE_SCOPE = "django_invoices_auth_failure"


class InvoicesRateThrottle(ScopedRateThrottle):
    """``ScopedRateThrottle`` whose rates are read on every request.

    The rate of a scope comes from ``DJANGO_INVOICES["API_THROTTLE_RATES"]``, else
    from DRF's ``DEFAULT_THROTTLE_RATES``, else from the app's defaults: a shop that
    sets one scope keeps the defaults of the others. A scope found nowhere (or
    set to None) is not throttled. Reading at request time lets ``override_settings``
    change it in tests.

    Anonymous callers are told apart by ``REMOTE_ADDR`` only, unless DRF's
    ``NUM_PROXIES`` says how many proxies to trust: DRF's own default would take the
    whole ``X-Forwarded-For`` header, which any client can write, so each made-up
    header would get a fresh allowance.
    """

    def get_rate(self) -> str | None:
        rates: dict[str, Any] = dict(conf.DEFAULTS["API_THROTTLE_RATES"])
        rates.update(api_settings.DEFAULT_THROTTLE_RATES or {})
        rates.update(conf.get("API_THROTTLE_RATES") or {})
        rate = rates.get(str(self.scope))
        return None if rate is None else str(rate)

    def get_ident(self, request: Request) -> Any:
        if api_settings.NUM_PROXIES is not None:
            return super().get_ident(request)
        return request.META.get("REMOTE_ADDR")


class AuthFailureThrottle(InvoicesRateThrottle):
    """Failed authentications per client address (scope ``django_invoices_auth_failure``).

    DRF authenticates before its throttles run, so a wrong password (HTTP Basic) or a
    bad token is answered 401/403 without ever being counted: passwords could be
    guessed without limit. The API views ask this throttle *before* authenticating and
    tell it about each failure; an address that used up its failures gets 429 until
    the oldest one is out of the window, whatever credentials it sends. Requests that
    authenticate (or send no credentials) are not counted.
    """

    scope = AUTH_FAILURE_SCOPE
    cache_format = "django_invoices_auth_failure_%(ident)s"

    def _load(self, request: Request) -> bool:
        """Read the rate and this address's recent failures; False when unthrottled."""
        self.rate = self.get_rate()
        if self.rate is None:
            return False
        number, seconds = self.parse_rate(self.rate)
        self.num_requests, self.duration = int(number or 0), int(seconds or 0)
        self.key = self.cache_format % {"ident": self.get_ident(request)}
        self.now = self.timer()
        self.history = [
            moment for moment in self.cache.get(self.key, []) if moment > self.now - self.duration
        ]
        return True

    def allow_request(self, request: Request, view: Any) -> bool:
        return not self._load(request) or len(self.history) < self.num_requests

    def record_failure(self, request: Request) -> None:
        if self._load(request):
            self.history.insert(0, self.now)
            self.cache.set(self.key, self.history, self.duration)
