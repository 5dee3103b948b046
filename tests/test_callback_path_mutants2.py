"""More of the callback path that the mutation run showed no test pinned: the steps a
tracer sees, what the rate limit's log lines name, what a rate-limited replay says of
the callback it repeats, the lag ``callbacks_settled`` reports, and the words of a read
whose status cannot be stored."""

import json
from datetime import timedelta

import pytest
from django.db import OperationalError

from django_invoices import services, telemetry
from django_invoices.models import CallbackEvent, Invoice
from django_invoices.services import limits, pipeline, statements
from django_invoices.signing import sign_callback

from .callbacks_kit import KEY, invoice_event, post
from .conftest import ECHO_URL, INVOICE_ID, invoice_payload
from .test_callback_locate import THIRD_ID, make_invoice
from .test_pipeline_mutants import Clock

State = CallbackEvent.State


class Step:
    """A telemetry step that keeps what it was told."""

    def __init__(self, name, attributes):
        self.name = name
        self.attributes = dict(attributes)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None

    def set(self, **attributes):
        self.attributes.update(attributes)


@pytest.fixture
def traced():
    """The steps the app marks, as ``{name: attributes}`` once they are done."""
    steps = []

    def tracer(name, attributes):
        steps.append(Step(name, attributes))
        return steps[-1]

    previous = telemetry.use_tracer(tracer)
    yield lambda: {step.name: step.attributes for step in steps}
    telemetry.use_tracer(previous)


@pytest.fixture
def frozen_minute(monkeypatch):
    # 40 s into a minute, so the budget's window cannot roll over during the test.
    monkeypatch.setattr(limits.time, "time", lambda: 1_800_000_020.0)


def _body(payload):
    return json.dumps(payload).encode()


def _handle(account, payload, *, key=KEY, remote_addr="127.0.0.1"):
    body = _body(payload)
    headers = {"kun-signature": sign_callback(key, body)}
    return services.handle_callback(account, body, headers, remote_addr)


# -- tracing ------------------------------------------------------------------------------


def test_a_refused_callback_is_traced_as_refused(db, traced):
    _handle("a" * 70, invoice_event("PAID"))
    steps = traced()
    # What monitoring names the outcome, not the row's state ("rejected").
    assert steps["callback"]["outcome"] == "refused"
    assert steps["callback.receive"]["reason"] == "unknown_account"


def test_a_callback_that_cannot_be_stored_is_traced_under_its_account_name_cut_to_64(
    db, traced, monkeypatch
):
    def database_down(event):
        raise OperationalError("database is down")

    monkeypatch.setattr(statements, "store_event", database_down)
    with pytest.raises(OperationalError):
        _handle("a" * 70, invoice_event("PAID"))
    # Nothing stored names the step: the account it was opened with is all it has.
    assert traced()["callback"] == {"account": "a" * 64}


def test_waking_a_worker_is_a_step_of_its_own(client, invoice, queued, traced):
    post(client, invoice_event("PAID"))
    event = CallbackEvent.objects.get()
    assert traced()["callback.wake"] == {
        "event_id": event.pk,
        "account": "default",
        "invoice_id": invoice.pk,
        "provider_invoice_id": INVOICE_ID,
    }


def test_reading_an_invoice_is_traced_with_the_status_read(api, invoice, traced):
    api.get(ECHO_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    services.refresh_invoice(invoice)
    assert traced()["invoice.read"]["outcome"] == "PAYMENT_AWAITING"


# -- placing a callback ----------------------------------------------------------------------


def test_an_order_id_longer_than_an_order_holds_is_read_as_its_first_128_characters(
    client, db, queued
):
    invoice = make_invoice(THIRD_ID, "R" * 128)
    deposit = {"id": "tx-9", "externalOrderId": "R" * 128 + "-and-more", "status": "Processed"}
    assert post(client, {"event": "InvoiceDeposit", "data": deposit}).json()["state"] == "pending"
    assert CallbackEvent.objects.get().invoice == invoice


# -- the rate limit --------------------------------------------------------------------------


def test_refused_callbacks_from_no_readable_address_share_the_unknown_senders_budget(
    db, settings, frozen_minute, caplog
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REFUSED_PER_MINUTE": 1}
    first = _handle("default", invoice_event("PAID"), key="forged", remote_addr="no address")
    again = invoice_event("PAID", updatedAt="1")
    second = _handle("default", again, key="forged", remote_addr=None)
    assert (first.rejection, second.rejection) == ("bad_signature", "rate_limited")
    assert "Callback rate limit: refused requests from unknown over the budget" in caplog.messages


def test_replays_over_the_budget_are_logged_with_the_account_they_were_sent_to(
    api, invoice, settings, frozen_minute, caplog
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REPLAYS_PER_MINUTE": 1}
    api.get(ECHO_URL, json={"data": invoice_payload("PAID")})
    receipts = [_handle("default", invoice_event("PAID")) for _ in range(3)]
    assert [r.outcome for r in receipts] == ["applied", "replayed", "rate_limited"]
    assert "Callback rate limit: replayed requests from default over the budget" in caplog.messages


def test_a_rate_limited_replay_still_says_the_callback_it_repeats_was_settled(
    api, invoice, settings, frozen_minute
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REPLAYS_PER_MINUTE": 1}
    api.get(ECHO_URL, json={"data": invoice_payload("PAID")})
    _handle("default", invoice_event("PAID"))
    _handle("default", invoice_event("PAID"))
    limited = _handle("default", invoice_event("PAID"))
    assert limited.rejection == "rate_limited"
    assert limited.replayed is True
    assert limited.settled_before is True
    assert limited.answer["state"] == "duplicate"


# -- what the settlement reports ------------------------------------------------------------


def test_the_lag_of_a_callback_applied_within_a_second_is_its_fraction_of_a_second(
    api, invoice, monkeypatch, listen
):
    clock = Clock(monkeypatch)
    settled = listen("callbacks_settled", kwargs=True)
    event = CallbackEvent.objects.create(
        account="default",
        invoice=invoice,
        verified=True,
        state=State.PENDING,
        body=json.dumps(invoice_event("PAID")),
    )
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=clock.now - timedelta(seconds=0.25)
    )
    api.get(ECHO_URL, json={"data": invoice_payload("PAID")})
    pipeline.process_invoice(Invoice.objects.get(pk=invoice.pk), fast=False)
    assert [(sent["states"], sent["lags"]) for _, sent in settled] == [
        ({event.pk: "applied"}, [0.25])
    ]


# -- a read that cannot be stored -------------------------------------------------------------


def test_a_read_with_a_status_too_long_to_store_says_so_in_the_callbacks_answer(
    client, api, invoice
):
    api.get(ECHO_URL, json={"data": invoice_payload("S" * 65)})
    answer = post(client, invoice_event("PAID")).json()
    assert answer["state"] == "pending"
    assert answer["detail"] == (
        "will retry: KUNA Pay sent a status of 65 characters (at most 64 are stored)"
    )
    assert Invoice.objects.get(pk=invoice.pk).provider_status == ""
