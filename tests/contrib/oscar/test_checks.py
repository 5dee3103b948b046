"""The integration's system checks: each fires on the setup it is about, and the
test settings (the how-to's) raise none."""

from __future__ import annotations

import pytest
from django.core import checks
from django.test import override_settings

from django_invoices.contrib.oscar import checks as oscar_checks

MINE = "django_invoices.oscar."


def ids(**settings_overrides) -> list[str]:
    """The ids of what the integration's registered checks say under these settings."""
    ours = [
        check
        for check in checks.registry.registry.get_checks()
        if check.__module__ == oscar_checks.__name__
    ]
    assert len(ours) == 5
    with override_settings(**settings_overrides):
        found = [message for check in ours for message in check(app_configs=None)]
    assert all(message.id.startswith(MINE) for message in found)
    return sorted(message.id for message in found)


def test_the_how_tos_setup_passes_every_check():
    assert ids() == []


@pytest.mark.parametrize(
    "value",
    [
        "Paid",
        {"PENDING": "x"},
        {"PENDING_STATUS": ""},
        {"STATUSES": {"refunded": "Refunded"}},
        {"STATUSES": {"paid": 3}},
        {"EVENTS": []},
    ],
)
def test_a_malformed_setting_is_an_error(value):
    assert ids(DJANGO_INVOICES_OSCAR=value) == [f"{MINE}E001"]


def test_two_endings_of_one_invoice_must_not_share_an_event():
    assert ids(DJANGO_INVOICES_OSCAR={"EVENTS": {"partly_paid": "Settled"}}) == [f"{MINE}E002"]
    # Paid and paid late never happen to the same invoice: they may share one.
    assert ids(DJANGO_INVOICES_OSCAR={"EVENTS": {"paid_late": "Settled"}}) == []


def test_a_checkout_without_the_mixin_is_a_warning(monkeypatch):
    from oscar.apps.checkout import views

    monkeypatch.setattr(
        "oscar.core.loading.get_class", lambda module, name: views.PaymentDetailsView
    )
    messages = oscar_checks.check_checkout()
    assert [message.id for message in messages] == [f"{MINE}W001"]
    assert "oscar.apps.checkout.views.PaymentDetailsView" in messages[0].msg


def test_a_pipeline_without_the_endings_is_a_warning(settings):
    settings.OSCAR_ORDER_STATUS_PIPELINE = {"Pending payment": ("Paid", "Cancelled")}
    (message,) = oscar_checks.check_pipeline()
    assert message.id == f"{MINE}W002"
    assert "'Overpaid', 'Paid late', 'Partly paid'" in message.msg
    assert "'Paid'," not in message.msg


def test_urls_not_included_are_a_warning():
    assert ids(ROOT_URLCONF="tests.urls") == [f"{MINE}W003"]


def test_listed_after_oscar_the_dashboard_lacks_the_invoices(settings):
    from django.apps import apps

    names = [config.name for config in apps.get_app_configs()]
    assert names.index(oscar_checks.OWN_APP) < names.index("oscar")
    reordered = [name for name in names if name != oscar_checks.OWN_APP]
    reordered.append(oscar_checks.OWN_APP)
    configs = {config.name: config for config in apps.get_app_configs()}
    original = apps.app_configs.copy()
    try:
        apps.app_configs = {configs[name].label: configs[name] for name in reordered}
        assert [m.id for m in oscar_checks.check_app_order()] == [f"{MINE}W004"]
    finally:
        apps.app_configs = original
