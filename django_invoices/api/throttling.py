"""Rate limits of the REST API, per scope, from the ``API_THROTTLE_RATES`` setting."""

from __future__ import annotations

import base64
import hashlib
import logging
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from .. import conf

PUBLIC_SCOPE = "django_invoices_public"
CREATE_SCOPE = "django_invoices_create"
logger = logging.getLogger("django_invoices")

AUTH_FAILURE_SCOPE = "django_invoices_auth_failure"
AUTH_FAILURE_USER_SCOPE = "django_invoices_auth_failure_user"


_said: list[bool] = []


def _proxy_not_configured() -> None:
    """A proxy forwards requests and DRF does not know it (check W006): said once."""
    if _said:
        return
    _said.append(True)
    logger.warning(
        "Requests arrive through a proxy (X-Forwarded-For) but REST_FRAMEWORK['NUM_PROXIES']"
        " is not set: the REST API's throttles count every client as the proxy's address."
    )


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
        if "HTTP_X_FORWARDED_FOR" in request.META:
            _proxy_not_configured()
        return request.META.get("REMOTE_ADDR")


class AuthFailureThrottle(InvoicesRateThrottle):
    """Failed logins, counted per credential so that only the one guessing is stopped.

    DRF authenticates before its throttles run, so a wrong password (HTTP Basic) or a
    bad token is answered 401/403 without ever being counted: passwords could be
    guessed without limit. The API views ask this throttle *before* authenticating a
    request that presents credentials (an ``Authorization`` header) and tell it how
    the attempt went. Two budgets:

    - per address and username (scope ``django_invoices_auth_failure``): the address
      that guessed gets 429 for that username, whatever password it sends, until the
      oldest failure is out of the window;
    - per username across addresses (scope ``django_invoices_auth_failure_user``):
      past it, guesses at that username from anywhere get 429, except from an address
      where that username logged in successfully within the window.

    A request without credentials (a session, an anonymous caller) is never asked
    about, and another username's credentials from the same address are not either: a
    client is never refused because someone else guessed wrong.
    """

    scope = AUTH_FAILURE_SCOPE
    user_scope = AUTH_FAILURE_USER_SCOPE

    def __init__(self, request: Request) -> None:
        super().__init__()
        self.who = presented_credential(request)
        self.address = str(self.get_ident(request))

    def _history(self, scope: str, key: str) -> tuple[list[float], int, int] | None:
        """The recent failures under ``key`` and the scope's rate; None when off."""
        self.scope = scope
        rate = self.get_rate()
        if rate is None:
            return None
        number, seconds = self.parse_rate(rate)
        now = self.timer()
        recent = [t for t in self.cache.get(key, []) if t > now - int(seconds or 0)]
        return recent, int(number or 0), int(seconds or 0)

    def _keys(self) -> tuple[str, str, str]:
        assert self.who is not None
        digest = hashlib.sha256(self.who.encode("utf-8")).hexdigest()[:24]
        return (
            f"django_invoices_auth_failure:{self.address}:{digest}",
            f"django_invoices_auth_failure_user:{digest}",
            f"django_invoices_auth_success:{self.address}:{digest}",
        )

    def allow(self) -> bool:
        """Whether this attempt may be checked at all."""
        if self.who is None:
            return True
        pair, user, success = self._keys()
        found = self._history(self.scope, pair)
        if found is not None and len(found[0]) >= found[1]:
            self.wait_seconds = self._wait(found)
            return False
        found = self._history(self.user_scope, user)
        if found is not None and len(found[0]) >= found[1] and not self.cache.get(success):
            self.wait_seconds = self._wait(found)
            return False
        return True

    def _wait(self, found: tuple[list[float], int, int]) -> float:
        recent, _number, seconds = found
        return max(1.0, min(recent) + seconds - self.timer()) if recent else 1.0

    def failed(self) -> None:
        if self.who is None:
            return
        pair, user, _success = self._keys()
        for scope, key in ((AUTH_FAILURE_SCOPE, pair), (AUTH_FAILURE_USER_SCOPE, user)):
            found = self._history(scope, key)
            if found is not None:
                recent, _number, seconds = found
                self.cache.set(key, [self.timer(), *recent], seconds)

    def succeeded(self) -> None:
        if self.who is None:
            return
        found = self._history(AUTH_FAILURE_USER_SCOPE, self._keys()[1])
        if found is not None:
            self.cache.set(self._keys()[2], True, found[2])

    def wait(self) -> float | None:
        return getattr(self, "wait_seconds", None)


def presented_credential(request: Request) -> str | None:
    """Who an ``Authorization`` header claims to be: the username of HTTP Basic, else a
    digest of the header (a token); None without one."""
    # Split as DRF's authentication classes split it, on any whitespace: a guess sent
    # with a tab after the scheme is checked by DRF, so it must be counted here too.
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if not parts:
        return None
    scheme, value = parts[0], " ".join(parts[1:])
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return "basic:?"
        return "basic:" + decoded.partition(":")[0]
    return scheme.lower() + ":" + hashlib.sha256(value.encode("utf-8")).hexdigest()
