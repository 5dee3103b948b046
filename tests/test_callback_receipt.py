"""Store: what a stored callback keeps, authentic or refused (``services.receipt``)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from django_invoices.callbacks import parse
from django_invoices.models import CallbackEvent
from django_invoices.services import receipt, retention
from django_invoices.signing import sign_callback

from .callbacks_kit import KEY, invoice_event
from .conftest import INVOICE_ID

State = CallbackEvent.State


def receive(payload, *, account="default", key=KEY, remote_addr=None, headers=None):
    body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
    sent = {"kun-signature": sign_callback(key, body), **(headers or {})}
    stored = receipt.receive(account, body, sent, remote_addr)
    return stored.event, stored.rejection


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:DB8::0001", "2001:db8::1"),
        ("not an address", None),
        ("", None),
        (None, None),
    ],
)
def test_the_senders_address_is_kept_in_one_spelling_or_not_at_all(invoice, given, stored):
    event, rejection = receive(invoice_event("PAID"), remote_addr=given)
    assert rejection == ""
    assert CallbackEvent.objects.get(pk=event.pk).remote_addr == stored


def test_an_authentic_event_keeps_what_it_names_and_the_invoice_it_is_about(invoice):
    payload = invoice_event("PAID", updatedAt="2026-11-25T10:05:00Z")
    payload["event"] = "Invoice" + "x" * 100
    event, rejection = receive(payload)
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == ""
    assert stored.state == State.PENDING
    assert stored.verified is True
    assert stored.signature_variant == "sha384/hex/raw"
    assert stored.event_name == ("Invoice" + "x" * 100)[:64]
    assert (stored.object_id, stored.provider_status) == (INVOICE_ID, "PAID")
    assert stored.dedupe_key == parse(json.dumps(payload).encode()).dedupe_key
    assert stored.invoice == invoice
    assert (stored.outcome, stored.attempts, stored.processed_at) == ("", 0, None)
    assert stored.body == json.dumps(payload)
    assert stored.body_size == len(json.dumps(payload).encode())


def test_news_applied_already_is_stored_as_a_duplicate_and_waits_for_nothing(invoice):
    first, _ = receive(invoice_event("PAID"))
    CallbackEvent.objects.filter(pk=first.pk).update(state=State.APPLIED)
    # The same news in other bytes (the same bytes would be a replay, counted).
    again, rejection = receive(json.dumps(invoice_event("PAID"), indent=1).encode())
    stored = CallbackEvent.objects.get(pk=again.pk)
    assert rejection == ""
    assert (stored.state, stored.outcome, stored.attempts) == (
        State.DUPLICATE,
        "same news already applied",
        1,
    )
    assert stored.processed_at is not None
    assert stored.invoice == invoice


def test_news_only_waiting_is_no_duplicate(invoice):
    receive(invoice_event("PAID"))
    again, _ = receive(json.dumps(invoice_event("PAID"), indent=1).encode())
    assert CallbackEvent.objects.get(pk=again.pk).state == State.PENDING


def test_a_refused_callback_is_about_nothing(invoice):
    event, rejection = receive(invoice_event("PAID"), key="not the key")
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == receipt.REJECT_BAD_SIGNATURE
    assert (stored.invoice, stored.state, stored.verified) == (None, State.REJECTED, False)


def test_a_body_over_the_limit_is_refused_with_its_size(db):
    stored = receipt.receive("default", b'{"event":', {"kun-signature": "x"}, body_size=2_000_001)
    event = CallbackEvent.objects.get(pk=stored.event.pk)
    assert stored.rejection == receipt.REJECT_TOO_LARGE
    assert event.state == State.REJECTED
    assert event.outcome == "body of 2000001 bytes is over the limit"
    assert event.body_size == 2_000_001


def test_an_unknown_account_is_refused_and_its_name_cut_short(db):
    event, rejection = receive(invoice_event("PAID"), account="n" * 100)
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == receipt.REJECT_UNKNOWN_ACCOUNT
    assert stored.account == "n" * 64
    assert stored.outcome == receipt.REJECT_UNKNOWN_ACCOUNT
    assert stored.verified is False


def test_a_bad_signature_is_kept_cut_short_and_the_body_cut_to_the_setting(db, settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "REJECTED_BODY_KEEP": 10}
    body = json.dumps(invoice_event("PAID")).encode()
    stored = receipt.receive("default", body, {"kun-signature": "f" * 300})
    event = CallbackEvent.objects.get(pk=stored.event.pk)
    assert stored.rejection == receipt.REJECT_BAD_SIGNATURE
    assert event.signature == "f" * 256
    assert event.body == body[:10].decode()
    assert event.body_size == len(body)
    assert event.outcome == "bad_signature"


def test_a_negative_body_keep_keeps_nothing(db, settings):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "REJECTED_BODY_KEEP": -5}
    stored = receipt.receive("default", b'{"a": 1}', {})
    assert CallbackEvent.objects.get(pk=stored.event.pk).body == ""


def test_an_authentic_body_that_is_not_utf8_is_refused_as_malformed(db):
    body = b'{"event":"Invoice","data":{"id":"\xff"}}'
    event, rejection = receive(body)
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == receipt.REJECT_MALFORMED
    assert stored.verified is True
    assert stored.outcome == "body is not UTF-8"


def test_an_authentic_body_that_is_no_json_object_is_kept_whole(db):
    body = b'["Invoice", {"id": "x"}]'
    event, rejection = receive(body)
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert rejection == receipt.REJECT_MALFORMED
    assert (stored.verified, stored.body, stored.outcome) == (
        True,
        body.decode(),
        "body is not a JSON object",
    )


def test_storing_takes_two_queries_locate_and_insert(invoice, django_assert_num_queries):
    body = json.dumps(invoice_event("PAID")).encode()
    with django_assert_num_queries(2):
        receipt.receive("default", body, {"kun-signature": sign_callback(KEY, body)})


def test_prune_deletes_refused_events_from_the_age_given_on(db):
    old = receipt.receive("default", b'{"n": 1}', {}).event
    young = receipt.receive("default", b'{"n": 2}', {}).event
    now = timezone.now()
    CallbackEvent.objects.filter(pk=old.pk).update(received_at=now - timedelta(days=30, seconds=1))
    CallbackEvent.objects.filter(pk=young.pk).update(received_at=now - timedelta(days=29))

    assert retention.prune_rejected_events(older_than=timedelta(days=30), dry_run=True) == 1
    assert CallbackEvent.objects.count() == 2
    assert retention.prune_rejected_events(older_than=timedelta(days=30)) == 1
    assert list(CallbackEvent.objects.values_list("pk", flat=True)) == [young.pk]


def test_a_transaction_id_the_provider_could_never_know_is_refused_at_receipt(client, api, invoice):
    """A signed deposit callback whose id is ``<img src=x>`` names no invoice, no order
    and no UUID: it is settled as ignored when stored, never asked about, never
    retried (it used to wait through twelve lookups the provider refused)."""
    from .callbacks_kit import post

    payload = {"event": "InvoiceDeposit", "data": {"id": "<img src=x>", "status": "Processed"}}
    answer = post(client, payload).json()
    assert answer["state"] == "ignored"
    event = CallbackEvent.objects.get()
    assert (event.state, event.attempts) == (State.IGNORED, 1)
    assert event.outcome == "names no invoice we know; nothing changed"
    assert len(api.calls) == 0
