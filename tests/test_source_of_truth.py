"""Issue 9: the provider's API is the only source of truth.

A callback is a hint that says which invoice to read; what an invoice, its deposits and
its order become is only what ``GET /v1/invoice/{id}`` answers. So every guess about
callbacks (the event's name, how a deposit names its invoice, the signature recipe,
whether callbacks come at all) can at worst delay a payment until one ``invoices_sync``,
and a signed lie changes nothing.

The sandbox plays each reading we are unsure of (``DJANGO_INVOICES_SANDBOX`` settings,
set here through ``kunapay.configure``), and its bad days (``kunapay.fail``): refused
signatures, a payment after expiry, more or less money than asked.
"""

import hashlib
import hmac
import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import docutils.core
import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase
from django.utils import timezone

from django_invoices import services
from django_invoices.models import CallbackEvent, Deposit, Invoice, Order
from django_invoices.sandbox.models import SandboxInvoice, SandboxTransaction
from django_invoices.services.sync import chunks, sync_invoice
from django_invoices.signing import ALL_RECIPES, sign_callback
from django_invoices.statuses import InvoiceStatus, OrderStatus
from django_invoices.testing import deliver_callback

from .conftest import API, INVOICE_ID, invoice_payload, states

KEY = "test-private-key"  # tests/settings.py
State = CallbackEvent.State
DETAIL_URL = f"{API}/v1/invoice/{INVOICE_ID}"


def sync(*args):
    """One ``invoices_sync`` run that reads everything due now (its commits' signals
    sent, as outside a test's transaction); its output."""
    out = StringIO()
    with TestCase.captureOnCommitCallbacks(execute=True):
        call_command("invoices_sync", "--older-than", "0", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def status_of(order):
    order.refresh_from_db()
    return order.status


def own_hmac_sha384_hex(body: bytes) -> str:
    """The recipe written out here, independently of django_invoices.signing."""
    return hmac.new(KEY.encode("utf-8"), body, hashlib.sha384).hexdigest()


def post_signed(client, payload):
    body = json.dumps(payload).encode("utf-8")
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.generic(
            "POST",
            "/invoices/callback/default/",
            data=body,
            content_type="application/json",
            headers={"kun-signature": own_hmac_sha384_hex(body)},
        )


# -- the sandbox plays each uncertain reading: the order still ends paid ------------------


def test_an_unknown_event_name_still_ends_paid_through_the_hint_read(kunapay, order):
    kunapay.configure(INVOICE_EVENT_NAME="InvoiceUpdated", DEPOSIT_EVENT_NAME="Payment")
    invoice = services.create_invoice(order)

    kunapay.pay(invoice)

    assert status_of(order) == OrderStatus.PAID
    names = set(CallbackEvent.objects.values_list("event_name", flat=True))
    assert names == {"InvoiceUpdated", "Payment"}
    assert set(CallbackEvent.objects.values_list("state", flat=True)) <= {
        State.APPLIED,
        State.DUPLICATE,
    }


def test_a_deposit_without_invoice_reference_is_placed_by_the_transaction_api(kunapay, order):
    # Only deposit callbacks, naming no invoice: GET /v1/transaction/{id} tells which.
    kunapay.configure(DEPOSIT_REFERENCES=False, INVOICE_EVENT_NAME="Ignored")
    invoice = services.create_invoice(order)
    CallbackEvent.objects.all().delete()
    Deposit.objects.all().delete()

    kunapay.pay(invoice)

    assert status_of(order) == OrderStatus.PAID
    deposit_event = CallbackEvent.objects.get(event_name="InvoiceDeposit")
    assert deposit_event.state in (State.APPLIED, State.DUPLICATE)
    assert deposit_event.invoice_id == invoice.pk
    assert "invoiceId" not in json.loads(deposit_event.body)["data"]
    assert Invoice.objects.get().paid_amount > 0


def test_a_deposit_the_transaction_api_places_is_read_even_when_first(kunapay, order, client):
    kunapay.configure(DEPOSIT_REFERENCES=False, SEND_CALLBACKS=False)
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    tx = SandboxTransaction.objects.get()
    body = {"event": "SomethingNew", "data": {"id": str(tx.id), "status": "Processed"}}

    response = deliver_callback(client, body)

    assert response.json()["state"] == State.APPLIED
    assert status_of(order) == OrderStatus.PAID
    paths = [call.request.path_url for call in kunapay.mock.calls]
    assert f"/v1/transaction/{tx.id}" in paths


def test_signatures_in_another_recipe_are_refused_and_still_end_paid(kunapay, order):
    kunapay.configure(SIGNATURE_RECIPE="sha512/base64/data")
    invoice = services.create_invoice(order)

    kunapay.pay(invoice)

    assert {d.response_status for d in kunapay.deliveries(invoice)} == {401}
    assert not CallbackEvent.objects.filter(verified=True).exists()
    # The first refused callback set off one throttled read, which found the payment.
    assert status_of(order) == OrderStatus.PAID


def test_the_recipe_setting_accepts_another_recipe_in_one_line(kunapay, order, settings):
    kunapay.configure(SIGNATURE_RECIPE="sha256/hex/compact")
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "CALLBACK_SIGNATURE_RECIPES": ["sha256/hex/compact"],
    }
    invoice = services.create_invoice(order)

    kunapay.pay(invoice)

    assert {d.response_status for d in kunapay.deliveries(invoice)} == {200}
    assert set(CallbackEvent.objects.values_list("signature_variant", flat=True)) == {
        "sha256/hex/compact"
    }
    assert status_of(order) == OrderStatus.PAID


def test_no_callbacks_at_all_ends_paid_after_one_sync(kunapay, order):
    kunapay.configure(SEND_CALLBACKS=False)
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    assert status_of(order) == OrderStatus.AWAITING_PAYMENT

    out = sync()

    assert status_of(order) == OrderStatus.PAID
    assert f"Invoice {invoice.provider_id}: created -> paid" in out


def test_a_late_payment_after_expiry_ends_paid_through_the_callbacks(kunapay, order, sent):
    kunapay.fail("paid_after_expiry")
    invoice = services.create_invoice(order)

    kunapay.expire(invoice)

    assert status_of(order) == OrderStatus.PAID
    assert sent.count("invoice_paid_late") == 1


def test_a_late_payment_after_an_expiry_already_recorded_is_found_by_one_sync(kunapay, order, sent):
    kunapay.configure(SEND_CALLBACKS=False)
    invoice = services.create_invoice(order)
    kunapay.expire(invoice)
    sync()
    assert status_of(order) == OrderStatus.EXPIRED
    pay_late(kunapay, invoice)

    sync()

    assert status_of(order) == OrderStatus.PAID
    assert sent.count("invoice_paid_late") == 1


def pay_late(kunapay, invoice):
    """The provider records a payment into an invoice that already timed out."""
    found = kunapay.get(invoice)
    found.payment_asset, found.payment_amount = "USDT", Decimal("46.75")
    SandboxTransaction.objects.create(
        invoice=found,
        status=SandboxTransaction.PROCESSED,
        asset="USDT",
        payment_code="USDT",
        amount=Decimal("46.75"),
        fee=Decimal("0"),
        processed_amount=Decimal("46.75"),
    )
    found.status = SandboxInvoice.PAID
    found.save()


def test_an_invoice_that_ended_outside_the_late_payment_window_is_not_read(kunapay, order):
    kunapay.configure(SEND_CALLBACKS=False)
    invoice = services.create_invoice(order)
    kunapay.expire(invoice)
    sync()
    Invoice.objects.filter(pk=invoice.pk).update(
        expires_at=timezone.now() - timedelta(days=8), synced_at=None
    )
    pay_late(kunapay, invoice)
    calls = len(kunapay.mock.calls)

    out = sync()

    assert "Nothing to read" in out
    assert len(kunapay.mock.calls) == calls
    assert status_of(order) == OrderStatus.EXPIRED


# -- the sandbox's bad days and odd payments, end to end --------------------------------
# What a shop rehearsing a bad day would write with the ``kunapay`` fixture.


@pytest.fixture
def payment_outcomes(listen):
    """The names of the signals of how a payment ended, as sent (not the status changes
    and deposits ``sent`` records too)."""
    return listen("order_paid", "invoice_paid_late", "invoice_overpaid", "invoice_partially_paid")


def test_unverifiable_callbacks_are_refused_and_one_throttled_read_finds_the_truth(
    kunapay, order, sent
):
    kunapay.fail("callback_bad_signature")
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    order.refresh_from_db()
    assert set(states()) == {"rejected"}
    # No body was applied; the first refused callback's read found the payment.
    assert order.status == OrderStatus.PAID
    assert sent.count("order_paid") == 1


def test_a_payment_after_expiry_is_paid_and_announced(kunapay, order, sent):
    kunapay.fail("paid_after_expiry")
    invoice = services.create_invoice(order)
    kunapay.expire(invoice)  # TIMEOUT, then the transfer lands anyway
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert "invoice_paid_late" in sent
    assert sent.count("order_paid") == 1


def test_an_overpayment_is_paid_and_announced(kunapay, order, sent):
    invoice = services.create_invoice(order)
    kunapay.overpay(invoice)
    assert "invoice_overpaid" in sent
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_a_part_payment_is_not_paid(kunapay, order, payment_outcomes):
    invoice = services.create_invoice(order)
    kunapay.pay_part(invoice)
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_PAID
    assert payment_outcomes == ["invoice_partially_paid"]


# -- signed lies (the signing key is known to an attacker) change nothing ------------------


@pytest.fixture
def awaiting(btc_invoice, api):
    """An invoice the API says is awaiting payment, with no transactions."""
    api.get(DETAIL_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    return btc_invoice


def test_a_signed_declined_while_the_api_says_awaiting_changes_nothing(client, awaiting, sent):
    payload = {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "DECLINED"}}

    response = post_signed(client, payload)

    assert response.status_code == 200
    assert status_of(awaiting.order) == OrderStatus.AWAITING_PAYMENT
    awaiting.refresh_from_db()
    assert awaiting.status == InvoiceStatus.AWAITING_PAYMENT
    assert "invoice_declined" not in sent and "invoice_status_changed" in sent
    event = CallbackEvent.objects.get()
    assert event.verified
    assert event.outcome.endswith("the API says 'PAYMENT_AWAITING', not 'DECLINED'; will ask again")


def test_a_signed_deposit_the_api_does_not_list_changes_no_amount(client, awaiting, sent):
    payload = {
        "event": "InvoiceDeposit",
        "data": {
            "id": "tx-forged",
            "invoiceId": INVOICE_ID,
            "amount": "999999",
            "processedAmount": "999999",
            "status": "Processed",
        },
    }

    post_signed(client, payload)
    post_signed(client, {**payload, "event": "Invoice"})  # under another name: the same

    awaiting.refresh_from_db()
    assert awaiting.paid_amount == Decimal("0")
    assert not Deposit.objects.exists()
    assert status_of(awaiting.order) == OrderStatus.AWAITING_PAYMENT
    assert "deposit_received" not in sent
    # As a deposit, it waits for the API to list it (a bounded number of times); as an
    # invoice event, its own id names no invoice we know: nothing is read for it.
    states = list(CallbackEvent.objects.order_by("pk").values_list("state", "outcome"))
    assert states[0][0] == State.PENDING
    assert states[1] == (State.IGNORED, "names no invoice we know; nothing changed")


def test_a_signed_paid_while_the_api_says_awaiting_changes_nothing(client, awaiting, sent):
    post_signed(client, {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "PAID"}})

    assert status_of(awaiting.order) == OrderStatus.AWAITING_PAYMENT
    assert "order_paid" not in sent


def test_a_lie_is_asked_about_a_bounded_number_of_times(client, awaiting):
    post_signed(client, {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "DECLINED"}})
    for _ in range(12):
        services.drain_callbacks(due_only=False)

    event = CallbackEvent.objects.get()
    assert event.state == State.FAILED
    assert event.attempts == 12
    assert status_of(awaiting.order) == OrderStatus.AWAITING_PAYMENT


def test_only_deposits_count_towards_what_was_received(client, awaiting, api):
    deposit = {"id": "tx-1", "type": "Deposit", "status": "Processed", "amount": "0.0004"}
    refund = {"id": "tx-2", "type": "Refund", "status": "Processed", "amount": "0.0004"}
    odd = {"id": "tx-3", "type": "Withdraw", "status": "Processed", "amount": "5"}
    for item in (deposit, refund, odd):
        item["processedAmount"] = item["amount"]
    api.replace(
        "GET",
        DETAIL_URL,
        json={"data": invoice_payload("PARTIALLY_PAID", transactions=[deposit, refund, odd])},
    )

    post_signed(client, {"event": "Invoice", "data": {"id": INVOICE_ID}})

    awaiting.refresh_from_db()
    assert awaiting.paid_amount == Decimal("0.0004")
    assert dict(Deposit.objects.values_list("provider_id", "type")) == {
        "tx-1": "Deposit",
        "tx-2": "Refund",
        "tx-3": "Withdraw",
    }


# -- refused callbacks: stored short, a throttled read at most --------------------------


def test_an_unverified_body_is_stored_cut_short_with_the_whole_bodys_hash(client, awaiting):
    body = json.dumps({"event": "Invoice", "data": {"id": INVOICE_ID, "pad": "x" * 20_000}})

    response = client.generic(
        "POST",
        "/invoices/callback/default/",
        data=body,
        content_type="application/json",
        headers={"kun-signature": "0" * 96},
    )

    assert response.status_code == 401
    event = CallbackEvent.objects.get()
    assert len(event.body) == 4096 and body.startswith(event.body)
    assert event.body_size == len(body)
    assert event.body_sha256 == hashlib.sha256(body.encode()).hexdigest()
    assert event.signature == "0" * 96


def test_refused_callbacks_set_off_at_most_one_read_per_interval(client, awaiting, api):
    payload = {"event": "Invoice", "data": {"id": INVOICE_ID, "status": "PAID"}}
    for _ in range(5):
        response = client.generic(
            "POST",
            "/invoices/callback/default/",
            data=json.dumps(payload),
            content_type="application/json",
            headers={"kun-signature": "f" * 96},
        )
        assert response.status_code == 401
    assert len(api.calls) == 1  # the read, throttled by REFRESH_MIN_INTERVAL
    awaiting.refresh_from_db()
    assert awaiting.status == InvoiceStatus.AWAITING_PAYMENT  # what the API said
    assert awaiting.synced_at is not None


def test_a_refused_callback_about_a_settled_or_unknown_invoice_reads_nothing(
    client, btc_invoice, api
):
    Invoice.objects.filter(pk=btc_invoice.pk).update(status=InvoiceStatus.PAID)
    for invoice_id in (INVOICE_ID, "99999999-9999-9999-9999-999999999999"):
        payload = {"event": "Invoice", "data": {"id": invoice_id}}
        client.generic(
            "POST", "/invoices/callback/default/", data=json.dumps(payload),
            content_type="application/json",
        )  # fmt: skip
    assert len(api.calls) == 0


def test_prune_deletes_old_refused_events_only(client, awaiting):
    post_signed(client, {"event": "Invoice", "data": {"id": INVOICE_ID}})
    for n in range(3):
        client.generic("POST", "/invoices/callback/default/", data=f"{{{n}}}", content_type="x/y")
    CallbackEvent.objects.update(received_at=timezone.now() - timedelta(days=31))
    out = StringIO()

    call_command("invoices_prune_callbacks", "--dry-run", stdout=out)
    assert CallbackEvent.objects.count() == 4
    call_command("invoices_prune_callbacks", stdout=out)
    call_command("invoices_prune_callbacks", "--older-than", "0", stdout=out)

    nothing_else = "0 duplicate callbacks, 0 callbacks for unknown accounts"
    # The read the signed callback made is recorded; only --older-than 0 reaches it.
    kept, read = "0 records of requests to KUNA Pay", "1 record of a request to KUNA Pay"
    assert out.getvalue().splitlines() == [
        f"Dry run: 3 refused callbacks, {nothing_else}, {kept}, 0 sweep runs would be deleted.",
        f"Deleted 3 refused callbacks, {nothing_else}, {kept}, 0 sweep runs.",
        f"Deleted 0 refused callbacks, {nothing_else}, {read}, 0 sweep runs.",
    ]
    assert list(CallbackEvent.objects.values_list("verified", flat=True)) == [True]


# -- invoices_check_signatures --------------------------------------------------------


@pytest.mark.parametrize("recipe", [str(r) for r in ALL_RECIPES])
def test_check_signatures_names_the_recipe_refused_callbacks_were_signed_with(client, db, recipe):
    for n in range(2):
        # Indented JSON with Cyrillic text, so the raw bytes, their compact form, the
        # same with non-ASCII escaped, and Python's default JSON all differ.
        payload = {"event": "Invoice", "data": {"id": f"i-{n}", "status": "PAID", "n": "Ключ"}}
        body = json.dumps(payload, indent=1, ensure_ascii=False)
        signature = sign_callback(KEY, body.encode(), recipe)
        client.generic(
            "POST", "/invoices/callback/default/", data=body,
            content_type="application/json", headers={"kun-signature": signature},
        )  # fmt: skip
    expected_status = 200 if recipe in ("sha384/hex/raw", "sha384/hex/compact") else 401
    if expected_status == 200:
        assert not CallbackEvent.objects.filter(verified=False).exists()
        return  # today's recipes verify them: nothing is refused, nothing to diagnose
    out = StringIO()

    call_command("invoices_check_signatures", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines == [
        f"{recipe} matches 2 of 2 refused callbacks.",
        f'Set DJANGO_INVOICES["CALLBACK_SIGNATURE_RECIPES"] = ["{recipe}"].',
    ]


def test_check_signatures_says_when_nothing_matches(client, db):
    client.generic(
        "POST", "/invoices/callback/default/", data=b'{"event":"x"}',
        content_type="application/json", headers={"kun-signature": "forged"},
    )  # fmt: skip
    out = StringIO()
    call_command("invoices_check_signatures", "--account", "default", stdout=out)
    assert out.getvalue() == (
        "No recipe matches: the callbacks were not signed with this account's PRIVATE_KEY "
        "in any known way (forgeries, or another key).\n"
    )


def test_check_signatures_refuses_an_unknown_account(db):
    with pytest.raises(CommandError, match="no account named"):
        call_command("invoices_check_signatures", "--account", "nobody", stdout=StringIO())


def _refused(n, *, recipe="sha256/hex/raw", cut_short=False):
    """``n`` callbacks refused for their signature, stored as the callback view stores
    them, signed with this account's key in ``recipe`` (or cut short when stored)."""
    CallbackEvent.objects.bulk_create(
        CallbackEvent(
            account="default",
            state=CallbackEvent.State.REJECTED,
            verified=False,
            outcome="bad_signature",
            body=body,
            body_size=len(body) + (1000 if cut_short else 0),
            signature=sign_callback(KEY, body.encode(), recipe),
        )
        for body in (
            json.dumps({"event": "Invoice", "data": {"id": f"r-{i}"}}, indent=1) for i in range(n)
        )
    )


def check_signatures(*args):
    out = StringIO()
    call_command("invoices_check_signatures", *args, stdout=out)
    return out.getvalue().splitlines()


def test_check_signatures_checks_the_newest_200_unless_told(db):
    _refused(201)
    assert check_signatures()[0] == "sha256/hex/raw matches 200 of 200 refused callbacks."
    assert check_signatures("--limit", "1") == [
        "sha256/hex/raw matches 1 of 1 refused callback.",
        'Set DJANGO_INVOICES["CALLBACK_SIGNATURE_RECIPES"] = ["sha256/hex/raw"].',
    ]


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_check_signatures_refuses_a_limit_below_one(db, limit):
    with pytest.raises(CommandError) as refused:
        check_signatures("--limit", limit)
    assert str(refused.value) == "--limit must be 1 or more."


def test_check_signatures_says_what_it_could_not_check(db):
    assert check_signatures() == ["No refused callback of account default to check."]
    _refused(1, cut_short=True)
    assert check_signatures() == [
        "1 refused callback was stored cut short and cannot be checked.",
        "No refused callback of account default to check.",
    ]
    _refused(1, cut_short=True)
    assert check_signatures()[0] == (
        "2 refused callbacks were stored cut short and cannot be checked."
    )


def test_check_signatures_options_say_what_they_do():
    from django.core.management import load_command_class

    command = load_command_class("django_invoices", "invoices_check_signatures")
    parser = command.create_parser("manage.py", "invoices_check_signatures")
    options = {
        a.dest: (a.default, a.help) for a in parser._actions if a.dest in ("account", "limit")
    }
    assert options == {
        "account": ("default", "Merchant account (default: default)."),
        "limit": (200, "At most this many refused callbacks."),
    }


# -- the sweep ------------------------------------------------------------------------


def test_sync_dry_run_lists_and_reads_nothing(kunapay, order):
    kunapay.configure(SEND_CALLBACKS=False)
    invoice = services.create_invoice(order)
    calls = len(kunapay.mock.calls)

    out = sync("--dry-run")

    assert out.splitlines() == [
        f"would read invoice {invoice.provider_id} (order {order.external_order_id})",
        "Dry run: 1 invoice, 0 orders, 0 callback events; nothing was read.",
    ]
    assert len(kunapay.mock.calls) == calls


def test_sync_exits_non_zero_when_something_could_not_be_read(kunapay, order):
    invoice = services.create_invoice(order)
    kunapay.fail("api_error", invoice=invoice)
    err = StringIO()

    with pytest.raises(CommandError, match="1 item could not be read"):
        call_command("invoices_sync", "--older-than", "0", stdout=StringIO(), stderr=err)

    assert str(invoice.provider_id) in err.getvalue()


def test_overlapping_sweeps_apply_nothing_twice(kunapay, order, sent, monkeypatch):
    kunapay.configure(SEND_CALLBACKS=False)
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    client = services.get_client()
    original = client.get_invoice
    reads = []
    nested = []

    def read_while_another_sweep_runs(invoice_id):
        reads.append(invoice_id)
        data = original(invoice_id)
        if not nested:
            nested.append(StringIO())  # the other sweep runs while this one reads
            call_command("invoices_sync", "--older-than", "0", stdout=nested[0])
        return data

    monkeypatch.setattr(client, "get_invoice", read_while_another_sweep_runs)

    out = sync()

    assert status_of(order) == OrderStatus.PAID
    assert sent.count("order_paid") == sent.count("deposit_received") == 1
    # The other sweep found the invoice held by this one's read and left it to it.
    assert len(reads) == 1
    assert "created -> paid" in out
    assert "created -> paid" not in nested[0].getvalue()


def test_sync_settles_pending_events_with_one_read(kunapay, order):
    invoice = services.create_invoice(order)
    with kunapay.failing("api_error"):
        kunapay.pay(invoice)  # every callback's read fails: all stay pending
    pending = CallbackEvent.objects.filter(state=State.PENDING).count()
    assert pending >= 3
    calls = len(kunapay.mock.calls)

    out = sync()

    assert len(kunapay.mock.calls) - calls == 1
    assert status_of(order) == OrderStatus.PAID
    assert not CallbackEvent.objects.filter(state=State.PENDING).exists()
    assert f"settled {pending} callback events (0 still pending)" in out


def reconciling(order):
    Order.objects.filter(pk=order.pk).update(
        needs_reconciliation=True, updated_at=timezone.now() - timedelta(hours=1)
    )


def test_sync_adopts_a_lost_invoice_whose_amount_and_asset_match(kunapay, order):
    kunapay.configure(SEND_CALLBACKS=False)
    created = kunapay.get(services.get_client().create_invoice(
        amount="42.5", asset="EUR", external_order_id="A-1"
    ).id)  # fmt: skip
    reconciling(order)

    out = sync()

    order.refresh_from_db()
    assert not order.needs_reconciliation and order.reconciliation_issue == ""
    assert str(order.invoices.get().provider_id) == str(created.pk)
    assert "(1 adopted, 0 flagged for staff)" in out


def test_sync_flags_a_lost_invoice_with_another_amount_for_staff(kunapay, order):
    kunapay.configure(SEND_CALLBACKS=False)
    services.get_client().create_invoice(amount="1", asset="EUR", external_order_id="A-1")
    reconciling(order)

    out = sync()

    order.refresh_from_db()
    assert not order.invoices.exists()
    assert "for this order with 1 EUR, not 42.5 EUR; not adopted" in order.reconciliation_issue
    assert "(0 adopted, 1 flagged for staff)" in out


def test_create_invoice_never_adopts_a_mismatching_invoice(kunapay, order):
    kunapay.configure(SEND_CALLBACKS=False)
    services.get_client().create_invoice(amount="1", asset="USDT", external_order_id="A-1")
    Order.objects.filter(pk=order.pk).update(needs_reconciliation=True)
    order.refresh_from_db()

    invoice = services.create_invoice(order)

    assert kunapay.get(invoice).amount == Decimal("42.5")
    order.refresh_from_db()
    assert "not adopted" in order.reconciliation_issue


def test_the_sweep_is_made_of_ids_that_can_be_handed_out(kunapay, order):
    kunapay.configure(SEND_CALLBACKS=False)
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    plan = services.plan_sync(older_than=timedelta(0))
    assert plan.invoices == [invoice.pk]
    assert list(chunks(list(range(5)), 2)) == [[0, 1], [2, 3], [4]]

    first = sync_invoice(invoice.pk)
    again = sync_invoice(invoice.pk)

    assert (first.old_status, first.new_status, first.changed) == ("created", "paid", True)
    assert (again.changed, again.error) == (False, "")


# -- the docs of this issue render ------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("page", ["explanation/source-of-truth.rst", "howto/sync.rst"])
def test_the_pages_of_the_principle_render_without_warnings(page):
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives

    class LiteralInclude(Directive):
        """Sphinx's directive, as far as these pages use it (the sync guide's blocks,
        which tests/test_guide_sync.py runs)."""

        required_arguments = 1
        option_spec = dict.fromkeys(("language", "start-after", "end-before"), directives.unchanged)

        def run(self):
            text = (DOCS / page).parent.joinpath(self.arguments[0]).read_text(encoding="utf-8")
            text = text.split(self.options["start-after"], 1)[1]
            text = text.split(self.options["end-before"], 1)[0]
            assert text.strip(), self.arguments[0]
            return [nodes.literal_block(text, text)]

    directives.register_directive("literalinclude", LiteralInclude)
    try:
        docutils.core.publish_string(
            (DOCS / page).read_text(encoding="utf-8"),
            writer="null",
            settings_overrides={"report_level": 2, "halt_level": 2},
        )
    finally:
        directives._directives.pop("literalinclude", None)


# -- the commands speak in sentences, with plurals (issue 12) -----------------------------


def test_command_summaries_use_plurals_in_english_and_ukrainian():
    from django.utils import translation

    from django_invoices.management.commands.invoices_process_callbacks import describe_counts

    assert describe_counts({"applied": 1, "ignored": 2}) == (
        "Acted on 3 callback events: 1 applied (the invoice read from KUNA Pay); "
        "2 ignored (name no invoice we know)."
    )
    with translation.override("uk"):
        assert describe_counts({"duplicate": 5}) == "Оброблено 5 колбеків: 5 дублікатів."
        assert describe_counts({"duplicate": 2}) == "Оброблено 2 колбеки: 2 дублікати."


def test_the_admin_says_which_recipe_verified_an_event_and_what_its_body_is(
    admin_client, btc_invoice, api
):
    api.get(DETAIL_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    raw = b'{"event": "Invoice", "data": {"id": "%s", "status": "X", "status": "Y"}}' % (
        INVOICE_ID.encode()
    )
    compact = json.dumps(json.loads(raw), separators=(",", ":")).encode()
    admin_client.generic(
        "POST", "/invoices/callback/default/", data=raw, content_type="application/json",
        headers={"kun-signature": own_hmac_sha384_hex(compact)},
    )  # fmt: skip
    event = CallbackEvent.objects.get()
    # Issue 11: the duplicate key is stored as the signed re-serialisation kept it.
    assert event.body.encode() == compact and '"status":"Y"' in event.body

    page = admin_client.get(f"/admin/django_invoices/callbackevent/{event.pk}/change/")

    assert page.status_code == 200
    assert "sha384/hex/compact: the signature covers a re-serialisation" in page.content.decode()


def test_events_naming_nothing_known_are_counted_in_the_admin(admin_client, db, api):
    api.get(f"{API}/v1/transaction/w-1", status=404, json={"errors": []})
    body = {"event": "BrandNewEvent", "data": {"id": "w-1"}}
    assert deliver_callback(admin_client, body).json()["state"] == State.IGNORED

    page = admin_client.get("/admin/django_invoices/callbackevent/?state__exact=ignored")
    assert "BrandNewEvent" in page.content.decode()
    # "Show counts": the state filter counts them (on demand, as the log may be huge).
    page = admin_client.get("/admin/django_invoices/callbackevent/?_facets=True")
    assert "Ignored (1)" in page.content.decode()


def test_a_refused_callbacks_read_that_breaks_still_answers_401(client, awaiting, monkeypatch):
    from django_invoices.services import customer

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(customer, "refresh_if_stale", broken)
    payload = {"event": "Invoice", "data": {"id": INVOICE_ID}}
    response = client.generic(
        "POST", "/invoices/callback/default/", data=json.dumps(payload),
        content_type="application/json", headers={"kun-signature": "0" * 96},
    )  # fmt: skip
    assert response.status_code == 401
    assert CallbackEvent.objects.get().state == State.REJECTED
