"""System checks of the Oscar integration (``django_invoices.oscar.*``).

- ``E001``: ``DJANGO_INVOICES_OSCAR`` is malformed.
- ``E002``: two endings that can follow each other on one invoice record the same
  payment event (only ``paid`` and ``paid_late`` may share one), so the second would
  be taken for the first and never recorded.
- ``W001``: Oscar's checkout does not take KUNA Pay (its ``PaymentDetailsView`` lacks
  ``KunaPayPaymentMixin``).
- ``W002``: ``OSCAR_ORDER_STATUS_PIPELINE`` does not lead from ``PENDING_STATUS`` to
  the status of an ending: such an order keeps its status (a note says why).
- ``W003``: ``django_invoices.contrib.oscar.urls`` is not included: buyers whose
  invoice cannot be made get Oscar's thank-you page instead of a page to try again.
- ``W004``: this app comes after Oscar's in ``INSTALLED_APPS``: the dashboard's order
  page is Oscar's own, without the invoices.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.urls import NoReverseMatch, reverse

from . import conf

OWN_APP = "django_invoices.contrib.oscar"


def register() -> None:
    checks.register(check_settings)
    checks.register(check_checkout)
    checks.register(check_pipeline)
    checks.register(check_urls, checks.Tags.urls)
    checks.register(check_app_order)


def _mapping_errors(name: str, value: Any) -> list[str]:
    if not isinstance(value, dict):
        return [f"{name} must be a dict"]
    problems = [f"{name} has an unknown key {key!r}" for key in value if key not in conf.OUTCOMES]
    problems += [
        f"{name}[{key!r}] must be a non-empty string"
        for key, text in value.items()
        if key in conf.OUTCOMES and not (isinstance(text, str) and text.strip())
    ]
    return problems


def settings_errors() -> list[str]:
    """What is wrong with ``DJANGO_INVOICES_OSCAR``, in words."""
    value = getattr(settings, conf.SETTING, None)
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{conf.SETTING} must be a dict"]
    problems = [f"unknown key {key!r}" for key in value if key not in conf.DEFAULTS]
    for key in ("ACCOUNT", "PENDING_STATUS", "SOURCE_TYPE"):
        if key in value and not (isinstance(value[key], str) and value[key].strip()):
            problems.append(f"{key} must be a non-empty string")
    for key in conf.MAPPINGS:
        if key in value:
            problems += _mapping_errors(key, value[key])
    return problems


def check_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    problems = settings_errors()
    if problems:
        return [
            checks.Error(
                f"{conf.SETTING}: " + "; ".join(problems) + ".",
                hint="See docs/howto/oscar.rst for every key and its default.",
                id="django_invoices.oscar.E001",
            )
        ]
    events = conf.get("EVENTS")
    found: dict[str, str] = {}
    messages: list[checks.CheckMessage] = []
    for outcome in conf.OUTCOMES:
        name = events[outcome]
        other = found.setdefault(name, outcome)
        if other != outcome and {other, outcome} != {conf.PAID, conf.PAID_LATE}:
            messages.append(
                checks.Error(
                    f"{conf.SETTING}['EVENTS'] names the payment event {name!r} for both "
                    f"{other!r} and {outcome!r}: an invoice that ends one way and then the "
                    "other would have the second taken for the first.",
                    hint="Give each ending its own event name (only 'paid' and 'paid_late' "
                    "may share one).",
                    id="django_invoices.oscar.E002",
                )
            )
    return messages


def check_checkout(**kwargs: Any) -> list[checks.CheckMessage]:
    from oscar.core.exceptions import AppNotFoundError, ClassNotFoundError
    from oscar.core.loading import get_class

    from .mixins import KunaPayPaymentMixin

    try:
        view = get_class("checkout.views", "PaymentDetailsView")
    except (ImportError, AppNotFoundError, ClassNotFoundError) as exc:
        return [
            checks.Warning(
                f"Oscar's checkout views cannot be loaded ({exc}).",
                id="django_invoices.oscar.W001",
            )
        ]
    if issubclass(view, KunaPayPaymentMixin):
        return []
    return [
        checks.Warning(
            f"Oscar's checkout does not take KUNA Pay: {view.__module__}.{view.__name__} "
            "does not use KunaPayPaymentMixin.",
            hint='Put "django_invoices.contrib.oscar.checkout.apps.CheckoutConfig" in '
            'INSTALLED_APPS instead of "oscar.apps.checkout.apps.CheckoutConfig", or mix '
            "django_invoices.contrib.oscar.mixins.KunaPayPaymentMixin into your forked "
            "checkout's PaymentDetailsView.",
            id="django_invoices.oscar.W001",
        )
    ]


def check_pipeline(**kwargs: Any) -> list[checks.CheckMessage]:
    if settings_errors():
        return []
    pipeline = getattr(settings, "OSCAR_ORDER_STATUS_PIPELINE", None) or {}
    if not isinstance(pipeline, dict) or not pipeline:
        return []  # no pipeline: Oscar refuses every status change, and says so itself
    pending = conf.get("PENDING_STATUS")
    allowed = pipeline.get(pending, ())
    missing = [
        conf.status_for(outcome)
        for outcome in conf.OUTCOMES
        if conf.status_for(outcome) not in allowed and conf.status_for(outcome) != pending
    ]
    if not missing:
        return []
    return [
        checks.Warning(
            f"OSCAR_ORDER_STATUS_PIPELINE does not lead from {pending!r} to "
            + ", ".join(repr(status) for status in dict.fromkeys(missing))
            + ": orders whose invoice ends that way keep their status.",
            hint="Add those statuses to the pipeline, or map the endings to statuses it "
            f"has ({conf.SETTING}['STATUSES']); see docs/howto/oscar.rst.",
            id="django_invoices.oscar.W002",
        )
    ]


def check_urls(**kwargs: Any) -> list[checks.CheckMessage]:
    try:
        reverse("django_invoices_oscar:waiting")
    except NoReverseMatch:
        return [
            checks.Warning(
                "django_invoices.contrib.oscar.urls is not included.",
                hint='Add path("kunapay/", include("django_invoices.contrib.oscar.urls")) '
                "to your URLs, before Oscar's.",
                id="django_invoices.oscar.W003",
            )
        ]
    return []


def check_app_order(**kwargs: Any) -> list[checks.CheckMessage]:
    names = [config.name for config in apps.get_app_configs()]
    if "oscar" in names and names.index(OWN_APP) > names.index("oscar"):
        return [
            checks.Warning(
                f"{OWN_APP} comes after Oscar in INSTALLED_APPS: the dashboard's order "
                "page does not show the order's KUNA Pay invoices.",
                hint=f'List "{OWN_APP}" before "oscar.config.Shop", or add '
                "{% load kunapay_oscar %}{% kunapay_invoices order %} to your own "
                "oscar/dashboard/orders/order_detail.html.",
                id="django_invoices.oscar.W004",
            )
        ]
    return []
