"""Rate limits of the REST API, per scope, from the ``API_THROTTLE_RATES`` setting."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from .. import conf

PUBLIC_SCOPE = "django_invoices_public"
CREATE_SCOPE = "django_invoices_create"


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
