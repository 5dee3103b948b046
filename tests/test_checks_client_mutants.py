"""System checks and the KUNA Pay client at edges the rest of the suite left open,
pinned because mutants of ``django_invoices/checks.py`` and ``client.py`` survived it.

- ``TASKS = "celery"`` is an error exactly when Celery cannot be found (a module that
  is there but cannot be looked up counts as missing).
- Published demo values are reported in every account, even after an account whose
  settings are broken, and in the accounts of an ``ACCOUNT_RESOLVER`` (with DEBUG off
  only).
- ``invoices_check_signatures`` names the key that signed, even after a key that
  signed nothing; the ``kunapay`` fixture refuses an unknown failure mode by name.
- ``provider_request`` names a transaction read by its endpoint and its id, as it does
  an invoice read.

Survivors of these modules (and of the commands, the pytest plugin and the testing
helpers) that no test can kill are explained in
``.ci/mutation_survivors/api-checks-client.txt``.
"""

import sys
import types

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from django_invoices import checks
from django_invoices.client import TRANSACTION_ITEM, KunaPayClient

from .conftest import API, INVOICE_ID
from .settings import DJANGO_INVOICES

GOOD = {
    "API_URL": "https://api.kunapay.io",
    "API_KEY": "k",
    "PRIVATE_KEY": "p",
    "BASE_URL": "https://shop.example",
}
RESOLVER = "tests.merchants.resolver.MerchantAccounts"


def messages(id_, **options):
    return [message for message in run_checks(**options) if message.id == id_]


# -- TASKS = "celery" -------------------------------------------------------------------


def test_celery_as_the_task_system_is_no_error_when_it_is_installed(settings):
    pytest.importorskip("celery")
    settings.DJANGO_INVOICES = {**GOOD, "TASKS": "celery"}
    assert messages("django_invoices.E011") == []


def test_a_celery_that_cannot_be_looked_up_counts_as_not_installed(settings, monkeypatch):
    """A module in ``sys.modules`` without a spec (a stub, a broken install) makes
    ``find_spec`` raise: Celery is then reported missing, not the check crashing."""
    stub = types.ModuleType("celery")
    stub.__spec__ = None
    monkeypatch.setitem(sys.modules, "celery", stub)
    settings.DJANGO_INVOICES = {**GOOD, "TASKS": "celery"}
    (error,) = messages("django_invoices.E011")
    assert error.msg == 'DJANGO_INVOICES: TASKS is "celery" but Celery is not installed.'


# -- the demo's published values ------------------------------------------------------


def test_demo_values_are_found_in_the_accounts_after_a_broken_one(settings):
    settings.DEBUG = False
    settings.DJANGO_INVOICES = {
        **GOOD,
        "ACCOUNTS": {
            "broken": {"PUBLIC_KEY": "pub", "PRIVATE_KEY": 5},  # E-something of its own
            "eu": {"API_KEY": "sandbox-api-key", "PRIVATE_KEY": "own-key"},
        },
    }
    (error,) = messages("django_invoices.E020")
    assert error.msg == (
        "DEBUG is off, and values published for the demo shop are in use: ACCOUNTS['eu'] API_KEY."
    )


@pytest.fixture
def demo_merchant(db):
    from .merchants.models import Merchant

    Merchant.objects.create(slug="acme", public_key="pub", private_keys="sandbox-private-key")
    with override_settings(DJANGO_INVOICES={**DJANGO_INVOICES, "ACCOUNT_RESOLVER": RESOLVER}):
        yield


def test_demo_values_of_resolved_accounts_are_an_error_of_the_database_checks(
    demo_merchant, settings
):
    settings.DEBUG = False
    assert messages("django_invoices.E020") == []  # the resolver is read by database checks
    (error,) = messages("django_invoices.E020", databases=["default"])
    assert "ACCOUNTS['acme'] PRIVATE_KEY" in error.msg
    assert "sandbox-private-key" not in error.msg


def test_demo_values_of_resolved_accounts_are_allowed_with_debug_on(demo_merchant, settings):
    settings.DEBUG = True
    assert messages("django_invoices.E020", databases=["default"]) == []


# -- what the settings checks say ----------------------------------------------------


def said(id_, **options):
    return [(m.msg, m.hint) for m in run_checks(**options) if m.id == id_]


def test_an_accounts_own_absolute_base_url_is_no_error(settings):
    own = {"API_KEY": "k", "PRIVATE_KEY": "p", "BASE_URL": "https://eu.shop.example"}
    settings.DJANGO_INVOICES = {**GOOD, "ACCOUNTS": {"eu": own}}
    assert said("django_invoices.E003") == []


def test_an_empty_api_url_is_named_as_empty(settings):
    own = {"API_KEY": "k", "PRIVATE_KEY": "p", "API_URL": ""}
    settings.DJANGO_INVOICES = {**GOOD, "ACCOUNTS": {"eu": own}}
    assert said("django_invoices.E004") == [
        (
            "DJANGO_INVOICES: API_URL of account 'eu' is '', not an absolute URL.",
            'Use a URL with scheme and host, e.g. "https://api.kunapay.io".',
        )
    ]


def test_an_empty_base_url_is_named_as_empty(settings):
    settings.DJANGO_INVOICES = {**GOOD, "BASE_URL": ""}
    assert [msg for msg, _hint in said("django_invoices.E003")] == [
        "DJANGO_INVOICES: BASE_URL is '', not an absolute URL."
    ]


@pytest.mark.parametrize("base_url", ["ftp://shop.example", "//shop.example"])
def test_a_base_url_needs_both_an_http_scheme_and_a_host(settings, base_url):
    settings.DJANGO_INVOICES = {**GOOD, "BASE_URL": base_url}
    assert [msg for msg, _hint in said("django_invoices.E003")] == [
        f"DJANGO_INVOICES: BASE_URL is {base_url!r}, not an absolute URL."
    ]


@pytest.mark.parametrize(
    "first",
    [
        {"EU shop": {"API_KEY": "k", "PRIVATE_KEY": "p"}},  # a name no URL can carry
        {"bad": "not a dict"},
    ],
    ids=["bad-name", "not-a-dict"],
)
def test_the_accounts_after_a_broken_one_are_still_checked(settings, first):
    settings.DJANGO_INVOICES = {**GOOD, "ACCOUNTS": {**first, "eu": {"API_KEY": "k"}}}
    assert len(said("django_invoices.E007")) == 1
    assert [msg for msg, _hint in said("django_invoices.E002")] == [
        "DJANGO_INVOICES: account 'eu' has no PRIVATE_KEY, so its callbacks cannot be verified."
    ]


def test_a_project_without_the_setting_is_told_what_is_missing(settings):
    del settings.DJANGO_INVOICES
    found = {m.id for m in run_checks() if m.id.startswith("django_invoices.")}
    assert {"django_invoices.E001", "django_invoices.E002", "django_invoices.E003"} <= found
    assert "django_invoices.W005" not in found


def test_caches_without_a_default_are_left_to_djangos_own_check(settings):
    settings.DEBUG = False
    settings.CACHES = {"other": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    found = {m.id for m in run_checks()}
    assert "caches.E001" in found
    assert "django_invoices.W002" not in found


def test_the_nonce_warning_names_every_account_that_signs(settings):
    signed = {"PUBLIC_KEY": "pub", "PRIVATE_KEY": "p"}
    settings.DEBUG = False
    settings.DJANGO_INVOICES = {
        **GOOD,
        **signed,
        "NONCE_CACHE": None,
        "ACCOUNTS": {"eu": signed},
    }
    assert [msg for msg, _hint in said("django_invoices.W003")] == [
        "DJANGO_INVOICES: signed requests of 'default', 'eu' count their nonces per "
        "process (NONCE_CACHE is None)."
    ]


def test_an_unknown_tasks_backend_is_told_the_configured_ones(settings, monkeypatch):
    pytest.importorskip("django_tasks")
    from .conftest import TASKS_BACKENDS

    dummy = {"BACKEND": f"{TASKS_BACKENDS}.dummy.DummyBackend"}
    settings.DJANGO_INVOICES = {**GOOD, "TASKS": "django.tasks", "TASKS_BACKEND": "q"}
    settings.TASKS = {"default": dummy, "bulk": dummy}
    assert said("django_invoices.E012") == [
        (
            "DJANGO_INVOICES: TASKS_BACKEND is 'q', not a backend of the TASKS setting.",
            "Configured: bulk, default.",
        )
    ]
    # A TASKS setting that configures no backend at all.
    monkeypatch.setattr(checks, "_task_backends", lambda: types.SimpleNamespace(settings={}))
    assert [hint for _msg, hint in said("django_invoices.E012")] == ["Configured: none."]


# -- the client's monitoring ----------------------------------------------------------


def test_a_transaction_read_is_reported_by_its_endpoint_and_id(api, listen):
    seen = listen("provider_request", kwargs=True)
    api.get(f"{API}/v1/transaction/tx-1", json={"data": {"id": "tx-1", "invoiceId": INVOICE_ID}})
    client = KunaPayClient(API, api_key="the-api-key", retries=0, sleep=lambda s: None)
    client.get_transaction("tx-1")
    [(_name, sent)] = seen
    assert (sent["method"], sent["endpoint"], sent["object_id"]) == (
        "GET",
        "/v1/transaction/{id}",
        "tx-1",
    )
    assert TRANSACTION_ITEM == "/v1/transaction/{id}"


# -- invoices_check_signatures --------------------------------------------------------


def test_check_signatures_names_the_old_key_when_only_it_signed(client, db):
    import json
    from io import StringIO

    from django.core.management import call_command

    from django_invoices.conf import key_fingerprint
    from django_invoices.signing import sign_callback

    for invoice_id in ("x", "y"):
        body = json.dumps({"event": "Invoice", "data": {"id": invoice_id}}, indent=2).encode()
        client.generic(
            "POST",
            "/invoices/callback/default/",
            data=body,
            content_type="application/json",
            headers={"kun-signature": sign_callback("old-key", body, "sha256/hex/raw")},
        )
    out = StringIO()
    with override_settings(DJANGO_INVOICES={**DJANGO_INVOICES, "PRIVATE_KEY": ["new", "old-key"]}):
        call_command("invoices_check_signatures", stdout=out)
    assert out.getvalue().splitlines() == [
        "sha256/hex/raw matches 2 of 2 refused callbacks.",
        f"The key with fingerprint {key_fingerprint('old-key')} signed 2 of them.",
        'Set DJANGO_INVOICES["CALLBACK_SIGNATURE_RECIPES"] = ["sha256/hex/raw"].',
    ]


# -- the kunapay fixture --------------------------------------------------------------


def test_the_sandbox_refuses_a_failure_mode_it_does_not_know(kunapay):
    from django_invoices.sandbox.conf import FAILURE_MODES

    with pytest.raises(ValueError) as refused:
        kunapay.fail("api_error", "meteor_strike")
    assert str(refused.value) == (
        f"unknown failure modes ['meteor_strike']; known: {list(FAILURE_MODES)}"
    )
