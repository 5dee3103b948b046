"""Accounts that grow (issue 22): several private keys while one is rotated, accounts
from a resolver (here the shop's own table, ``tests/merchants``), and the recipe the
first live callbacks settle."""

import hashlib
import hmac
import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from django_invoices import checks, conf, services
from django_invoices.models import CallbackEvent, Invoice, Order
from django_invoices.signing import match_callback, sign_callback

from .conftest import API, INVOICE_ID, invoice_payload
from .merchants.models import Merchant
from .settings import DJANGO_INVOICES

NEW, OLD = "new-key", "old-key"
# conf.key_fingerprint: SHA-256 of b"django-invoices private key\x00" + the key, 16 hex
# digits (computed apart from the code, with hashlib).
NEW_FINGERPRINT, OLD_FINGERPRINT = "5174d0584896aa1d", "968be3941d1fe0e4"
RESOLVER = "tests.merchants.resolver.MerchantAccounts"


def rotating(**extra):
    return override_settings(
        DJANGO_INVOICES={**DJANGO_INVOICES, "PRIVATE_KEY": [NEW, OLD], **extra}
    )


def post(client, payload, key, account="default"):
    body = json.dumps(payload).encode()
    return client.generic(
        "POST",
        f"/invoices/callback/{account}/",
        data=body,
        content_type="application/json",
        headers={"kun-signature": sign_callback(key, body)},
    )


# -- several private keys --------------------------------------------------------------


def test_callbacks_signed_with_the_old_and_the_new_key_both_verify_during_rotation_and_the_matching_key_is_recorded(  # noqa: E501
    client, btc_invoice, echo_provider
):
    with rotating():
        old = post(
            client, {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "CREATED"}}, OLD
        )
        new = post(client, {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "PAID"}}, NEW)
        forged = post(client, {"event": "Invoice", "data": {"id": INVOICE_ID}}, "other-key")

    assert (old.status_code, new.status_code, forged.status_code) == (200, 200, 401)
    rows = CallbackEvent.objects.order_by("pk").values_list("verified", "key_fingerprint")
    assert list(rows) == [(True, OLD_FINGERPRINT), (True, NEW_FINGERPRINT), (False, "")]
    btc_invoice.refresh_from_db()
    assert btc_invoice.status == "paid"


def test_a_fingerprint_gives_nothing_of_the_key_away_and_tells_keys_apart():
    assert conf.key_fingerprint(NEW) == NEW_FINGERPRINT
    assert conf.key_fingerprint(OLD) == OLD_FINGERPRINT
    assert NEW not in NEW_FINGERPRINT and len(NEW_FINGERPRINT) == 16


def test_keys_are_tried_newest_first_and_the_match_names_the_key_by_position():
    body = b'{"event":"Invoice"}'
    assert match_callback([NEW, OLD], body, sign_callback(OLD, body)).key_index == 1
    assert match_callback([NEW, OLD], body, sign_callback(NEW, body)).key_index == 0
    assert match_callback([NEW, OLD], body, sign_callback("x", body)) is None
    assert match_callback([], body, sign_callback(NEW, body)) is None


def test_requests_are_signed_with_the_newest_key(api, db):
    order = Order.objects.create(external_order_id="A-1", amount=Decimal("42.50"), asset="EUR")
    api.post(f"{API}/v1/invoice", json={"data": invoice_payload()})
    with rotating(PUBLIC_KEY="public", AUTH_MODE="signed"):
        services.create_invoice(order)

    request = api.calls[0].request
    path = request.path_url
    message = f"{path}{request.headers['nonce']}".encode() + request.body
    assert request.headers["public-key"] == "public"
    assert request.headers["signature"] == hmac.new(NEW.encode(), message, "sha384").hexdigest()
    assert request.headers["signature"] != hmac.new(OLD.encode(), message, "sha384").hexdigest()


@pytest.mark.parametrize("value", [["new-key", ""], ["new-key", 3], {"new": "key"}, 42], ids=repr)
def test_a_private_key_setting_of_the_wrong_shape_is_an_error_naming_no_key(value):
    with pytest.raises(ImproperlyConfigured) as caught:
        conf.private_keys(value)
    assert "new-key" not in str(caught.value)
    with override_settings(DJANGO_INVOICES={**DJANGO_INVOICES, "PRIVATE_KEY": value}):
        errors = [m for m in run_checks() if m.id == "django_invoices.E015"]
    assert len(errors) == 1 and "new-key" not in errors[0].msg


def test_one_key_or_a_list_of_them_newest_first():
    assert conf.private_keys("k") == ("k",)
    assert conf.private_keys(["a", "b"]) == ("a", "b")
    assert conf.private_keys(("a",)) == ("a",)
    assert conf.private_keys("") == conf.private_keys(None) == conf.private_keys([]) == ()


def _verified(key, days_ago, account="default"):
    event = CallbackEvent.objects.create(
        account=account, verified=True, key_fingerprint=conf.key_fingerprint(key),
        body_sha256=f"{key}{days_ago}", state=CallbackEvent.State.APPLIED,
    )  # fmt: skip
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(days=days_ago)
    )


def _database_checks():
    return [m for m in run_checks(databases=["default"]) if m.id.startswith("django_invoices.W")]


@pytest.mark.parametrize(
    ("new_first", "old_last", "warned"),
    [
        (31, None, True),  # the new key signs since 31 days, the old never did
        (40, 31, True),  # the old key's last callback is 31 days old
        (40, 29, False),  # ...29 days: still in use
        (29, None, False),  # the new key is too new to say
        (None, 2, False),  # the new key has verified nothing yet
    ],
)
def test_an_older_key_that_verified_nothing_for_old_key_idle_days_is_named(
    db, new_first, old_last, warned
):
    if new_first is not None:
        _verified(NEW, new_first)
    if old_last is not None:
        _verified(OLD, old_last)
    with rotating(OLD_KEY_IDLE_DAYS=30):
        found = [m for m in _database_checks() if m.id == "django_invoices.W008"]
    assert len(found) == (1 if warned else 0)
    if warned:
        assert (found[0].msg, found[0].hint) == (
            f"DJANGO_INVOICES: private key 2 of account 'default' (fingerprint "
            f"{OLD_FINGERPRINT}) has verified no callback for 31 days.",
            "Since the newest key verified its first callback, KUNA Pay has not signed with "
            "this one; remove it from PRIVATE_KEY (docs/howto/rotate-keys.rst). "
            "OLD_KEY_IDLE_DAYS sets how long to wait.",
        )


def test_the_key_checks_run_only_as_database_checks(db):
    _verified(NEW, 60)
    with rotating():
        assert not [m for m in run_checks() if m.id == "django_invoices.W008"]
        assert [m.id for m in run_checks(databases=["default"]) if m.id.endswith("W008")] == [
            "django_invoices.W008"
        ]


# -- the first live callbacks ----------------------------------------------------------


def test_live_keys_no_callback_was_verified_with_are_named_until_one_is(db):
    live = {**DJANGO_INVOICES, "API_URL": "https://api.kunapay.io"}
    with override_settings(DJANGO_INVOICES=live):
        before = [m for m in _database_checks() if m.id == "django_invoices.W009"]
        CallbackEvent.objects.create(account="default", verified=False, body_sha256="x")
        refused_only = [m for m in _database_checks() if m.id == "django_invoices.W009"]
        _verified("test-private-key", 0)
        after = [m for m in _database_checks() if m.id == "django_invoices.W009"]
    assert len(before) == len(refused_only) == 1
    assert (before[0].msg, before[0].hint) == (
        "DJANGO_INVOICES: no callback of account 'default', which has live keys, has been "
        "verified yet.",
        "KUNA Pay does not publish how it signs callbacks. When the first live callbacks "
        "arrive (they are stored, refused or not), run manage.py invoices_check_signatures "
        "--account default and set the recipe it names (docs/howto/going-live.rst).",
    )
    assert after == []
    # The test settings talk to api.kunapay.test, no live API: nothing to say.
    assert not [m for m in _database_checks() if m.id == "django_invoices.W009"]


# A callback whose JSON was written with every non-ASCII character escaped, compact, and
# signed that way: HMAC-SHA384 with "test-private-key" over ASCII_MESSAGE, in hex
# (computed apart from the code, with Python's hmac and json modules).
ASCII_BODY = (
    '{"event": "Invoice", "data": {"id": "506c695a-4187-4463-ac41-07dc0782cb0e", '
    '"status": "PAID", "productDescription": "Оплата замовлення"}}'
)
ASCII_MESSAGE = (
    '{"event":"Invoice","data":{"id":"506c695a-4187-4463-ac41-07dc0782cb0e",'
    '"status":"PAID","productDescription":"\\u041e\\u043f\\u043b\\u0430\\u0442\\u0430 '
    '\\u0437\\u0430\\u043c\\u043e\\u0432\\u043b\\u0435\\u043d\\u043d\\u044f"}}'
)
ASCII_SIGNATURE = (
    "d2d8e8b4caed1f53f03597ea35a6120a1cf0faa7824f6402288803d3082394f4"
    "6eb30164ad26cb18b56cb9d89711863f"
)


def test_check_signatures_names_the_ascii_escaped_recipe_for_a_body_with_non_ascii_text(client, db):
    assert (
        hmac.new(b"test-private-key", ASCII_MESSAGE.encode("ascii"), hashlib.sha384).hexdigest()
        == ASCII_SIGNATURE
    )
    response = client.generic(
        "POST", "/invoices/callback/default/", data=ASCII_BODY.encode("utf-8"),
        content_type="application/json", headers={"kun-signature": ASCII_SIGNATURE},
    )  # fmt: skip
    assert response.status_code == 401  # no recipe of today's setting covers it
    out = StringIO()

    call_command("invoices_check_signatures", stdout=out)

    assert out.getvalue().splitlines() == [
        "sha384/hex/ascii matches 1 of 1 refused callback.",
        'Set DJANGO_INVOICES["CALLBACK_SIGNATURE_RECIPES"] = ["sha384/hex/ascii"].',
    ]
    with override_settings(
        DJANGO_INVOICES={**DJANGO_INVOICES, "CALLBACK_SIGNATURE_RECIPES": ["sha384/hex/ascii"]}
    ):
        again = client.generic(
            "POST", "/invoices/callback/default/", data=ASCII_BODY.encode("utf-8"),
            content_type="application/json", headers={"kun-signature": ASCII_SIGNATURE},
        )  # fmt: skip
    assert again.status_code == 200
    stored = CallbackEvent.objects.get(verified=True)
    assert stored.signature_variant == "sha384/hex/ascii"
    assert stored.body == ASCII_MESSAGE  # what the signature covers


def test_check_signatures_names_the_key_of_each_match_while_keys_rotate(client, db):
    body = json.dumps({"event": "Invoice", "data": {"id": "x"}}, indent=2).encode()
    for key in (NEW, OLD):
        client.generic(
            "POST", "/invoices/callback/default/", data=body, content_type="application/json",
            headers={"kun-signature": sign_callback(key, body, "sha256/hex/raw")},
        )  # fmt: skip
    out = StringIO()
    with rotating():
        call_command("invoices_check_signatures", stdout=out)
    assert out.getvalue().splitlines() == [
        "sha256/hex/raw matches 2 of 2 refused callbacks.",
        f"The key with fingerprint {NEW_FINGERPRINT} signed 1 of them.",
        f"The key with fingerprint {OLD_FINGERPRINT} signed 1 of them.",
        'Set DJANGO_INVOICES["CALLBACK_SIGNATURE_RECIPES"] = ["sha256/hex/raw"].',
    ]


# -- accounts from the database ----------------------------------------------------------

MERCHANT_KEYS = ("merchant-public-key", "merchant-new-private-key", "merchant-old-private-key")


@pytest.fixture
def merchant(db):
    public, new, old = MERCHANT_KEYS
    merchant = Merchant.objects.create(slug="acme", public_key=public, private_keys=f"{new}\n{old}")
    with override_settings(DJANGO_INVOICES={**DJANGO_INVOICES, "ACCOUNT_RESOLVER": RESOLVER}):
        yield merchant


def test_an_account_resolved_from_a_database_table_creates_an_invoice_verifies_its_callbacks_and_appears_in_the_admin_without_its_secrets(  # noqa: E501
    merchant, api, admin_client
):
    order = Order.objects.create(external_order_id="A-1", amount=Decimal("42.50"), asset="EUR")
    api.post(f"{API}/v1/invoice", json={"data": invoice_payload()})
    invoice = services.create_invoice(order, account="acme")

    sent = api.calls[0].request
    assert sent.headers["public-key"] == "merchant-public-key"
    message = f"{sent.path_url}{sent.headers['nonce']}".encode() + sent.body
    new_key = MERCHANT_KEYS[1].encode()
    assert sent.headers["signature"] == hmac.new(new_key, message, "sha384").hexdigest()
    assert json.loads(sent.body)["callbackUrl"] == "https://shop.example/invoices/callback/acme/"
    assert invoice.account == "acme"

    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    paid = {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "PAID"}}
    assert post(admin_client, paid, MERCHANT_KEYS[2], account="acme").status_code == 200
    assert post(admin_client, paid, "default-account-key", account="acme").status_code == 401
    event = CallbackEvent.objects.get(verified=True)
    assert (event.account, event.key_fingerprint) == (
        "acme",
        conf.key_fingerprint(MERCHANT_KEYS[2]),
    )
    invoice.refresh_from_db()
    assert invoice.status == "paid"

    pages = [
        "/admin/django_invoices/invoice/",
        "/admin/django_invoices/invoice/?account=acme",
        f"/admin/django_invoices/invoice/{invoice.pk}/change/",
        "/admin/django_invoices/callbackevent/",
        f"/admin/django_invoices/callbackevent/{event.pk}/change/",
    ]
    for url in pages:
        html = admin_client.get(url).content.decode()
        assert "acme" in html, url
        for secret in MERCHANT_KEYS:
            assert secret not in html, (url, secret)
    assert Invoice.objects.filter(account="acme").count() == 1


def test_a_name_neither_the_settings_nor_the_table_know_is_an_unknown_account(merchant, client):
    Merchant.objects.create(slug="gone", public_key="p", private_keys="k", active=False)
    assert conf.account_names() == ["default", "acme"]
    assert conf.has_account("acme") and conf.has_account("default")
    assert not conf.has_account("gone") and not conf.has_account("nobody")
    response = post(client, {"event": "Invoice", "data": {"id": INVOICE_ID}}, "k", account="gone")
    assert response.status_code == 404
    assert CallbackEvent.objects.get().outcome == "unknown_account"
    with pytest.raises(conf.UnknownAccount):
        conf.get_account("gone")


def test_a_resolved_account_inherits_no_secret_and_the_other_options_of_the_settings(merchant):
    shown = repr(conf.get_account("acme"))
    assert "acme" in shown and not any(secret in shown for secret in MERCHANT_KEYS)
    merchant.private_keys = ""
    merchant.public_key = ""
    merchant.save()
    account = conf.get_account("acme")
    assert (account.api_key, account.public_key, account.private_keys) == ("", "", ())
    assert account.api_url == API  # not a secret: from DJANGO_INVOICES


def test_a_resolved_accounts_settings_are_checked_with_the_database_checks(merchant):
    Merchant.objects.create(slug="broken", public_key="", private_keys="", api_url="")
    assert not [m for m in run_checks() if "broken" in m.msg]
    found = {m.id for m in run_checks(databases=["default"]) if "'broken'" in m.msg}
    assert found == {"django_invoices.E001", "django_invoices.E002"}


def test_a_resolver_whose_table_cannot_be_read_is_an_error_of_the_database_checks(merchant):
    from django.db import DatabaseError

    with mock.patch.object(conf, "account_names", side_effect=DatabaseError("no such table")):
        found = [(m.id, m.msg, m.hint) for m in checks.check_resolved_accounts(databases=["x"])]
        keys = [(m.id, m.msg) for m in checks.check_keys(databases=["x"])]
    unreadable = (
        "django_invoices.E016",
        "DJANGO_INVOICES: the accounts of ACCOUNT_RESOLVER cannot be read: DatabaseError.",
        "The resolver reads them from the database; run migrate, or fix the resolver.",
    )
    assert found == [unreadable]
    assert keys == [unreadable[:2]]
    assert checks.check_resolved_accounts(databases=None) == []
    assert checks.check_keys(databases=[]) == []


def test_without_a_resolver_an_unreadable_table_is_no_key_check_message(db):
    from django.db import DatabaseError

    with mock.patch.object(conf, "account_names", side_effect=DatabaseError("no such table")):
        assert checks.check_keys(databases=["default"]) == []
    assert checks.check_resolved_accounts(databases=["default"]) == []  # settings: no DB


def test_a_resolver_that_cannot_be_imported_is_an_error():
    with override_settings(
        DJANGO_INVOICES={**DJANGO_INVOICES, "ACCOUNT_RESOLVER": "tests.nowhere.Accounts"}
    ):
        errors = [m for m in run_checks() if m.id == "django_invoices.E016"]
        with pytest.raises(ImproperlyConfigured):
            conf.get_account()
    assert len(errors) == 1 and "tests.nowhere.Accounts" in errors[0].msg


class _Tenant:
    """What django-tenants puts on the connection: the tenant's row (with the fields the
    shop added to it) and its domains."""

    kunapay_public_key = "tenant-public"
    kunapay_private_keys = "tenant-private"

    def get_primary_domain(self):
        class Domain:
            domain = "acme.shops.example"

        return Domain()


def test_a_tenant_resolver_gives_each_tenant_its_keys_and_its_own_callback_domain(
    api, db, client, monkeypatch
):
    from django.db import connection

    tenants = {**DJANGO_INVOICES, "ACCOUNT_RESOLVER": "tests.merchants.tenants.TenantAccounts"}
    order = Order.objects.create(external_order_id="A-1", amount=Decimal("42.50"), asset="EUR")
    api.post(f"{API}/v1/invoice", json={"data": invoice_payload()})
    with override_settings(DJANGO_INVOICES=tenants):
        assert conf.account_names() == []  # outside a tenant: no account at all
        monkeypatch.setattr(connection, "tenant", _Tenant(), raising=False)
        assert conf.account_names() == ["default"]
        services.create_invoice(order)
        sent = json.loads(api.calls[0].request.body)
        assert sent["callbackUrl"] == "https://acme.shops.example/invoices/callback/default/"
        assert sent["customization"]["redirectUrl"] == "https://acme.shops.example/invoices/return/"
        api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
        paid = {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "PAID"}}
        assert post(client, paid, "tenant-private").status_code == 200
        assert post(client, paid, "test-private-key").status_code == 401
