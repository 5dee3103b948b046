"""Mutants of services/bulk.py, keys.py, retention.py, monitoring.py, signatures.py and
orders.py that survived the rest of the suite, pinned here by the behaviour they changed:

- ``create_invoices``: which orders count as having an open invoice (only open invoices
  of these orders), the outage carried by the orders not attempted after it, the
  created invoice in the outcome, an invoice made in the same clock tick;
- ``current_invoices`` hands out invoices with their order; ``refresh_orders`` honours
  ``max_workers`` and passes on each invoice's refreshed row and reason;
- ``idle_keys``: the newest key's first callback against an older key's last, and the
  age limit itself; ``unverified_live_accounts``: live keys only, per account, past a
  broken account;
- pruning deletes unless told to count, and ``prune_rejected_events`` only refused ones;
- ``diagnose_signatures``: which refused callbacks it tries (the account's, with a
  signature, newest first, 200 unless told otherwise), read in one query;
- ``order_for``: its defaults, its bounds, its messages and the race it may lose.
"""

import json
import re
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.utils import timezone

from django_invoices import conf, services
from django_invoices.exceptions import InvoiceCreationError, ProviderUnavailable
from django_invoices.models import CallbackEvent, Invoice, Order, ProviderRequest, SweepRun
from django_invoices.services import Outcome, monitoring
from django_invoices.services.keys import IdleKey
from django_invoices.signing import sign_callback
from django_invoices.statuses import InvoiceStatus

from .conftest import API, invoice_payload
from .settings import DJANGO_INVOICES

CREATE_URL = f"{API}/v1/invoice"
DETAIL_URL = re.compile(rf"{re.escape(API)}/v1/invoice/[0-9a-f-]{{36}}$")


def make_order(ref):
    return Order.objects.create(external_order_id=ref, amount=Decimal("1"), asset="EUR")


def make_invoice(order, status=InvoiceStatus.AWAITING_PAYMENT, **fields):
    return Invoice.objects.create(
        provider_id=uuid.uuid4(),
        order=order,
        status=status,
        invoice_amount=order.amount,
        invoice_asset=order.asset,
        **fields,
    )


def created_by_provider(request):
    invoice_id = str(uuid.uuid4())
    return 200, {}, json.dumps({"data": {"id": invoice_id, "paymentLink": "https://pay.example"}})


# -- create_invoices ---------------------------------------------------------------------


def test_an_order_whose_invoices_all_ended_unpaid_gets_a_new_one(api, db):
    order = make_order("A-1")
    expired = make_invoice(order, status=InvoiceStatus.EXPIRED)
    api.add_callback("POST", CREATE_URL, callback=created_by_provider)

    [outcome] = services.create_invoices([order])

    assert outcome.outcome == Outcome.CREATED
    assert outcome.invoice == Invoice.objects.exclude(pk=expired.pk).get()
    assert outcome.invoice.status == InvoiceStatus.CREATED


def test_after_an_outage_an_order_with_an_open_invoice_is_still_skipped(api, db):
    first, with_open, last = make_order("A-1"), make_order("A-2"), make_order("A-3")
    open_invoice = make_invoice(with_open)
    api.post(CREATE_URL, body=requests.ConnectionError("connection refused"))
    api.get(CREATE_URL, body=requests.ConnectionError("connection refused"))

    outcomes = services.create_invoices([first, with_open, last])

    assert [(o.order, o.outcome) for o in outcomes] == [
        (first, Outcome.FAILED),
        (with_open, Outcome.SKIPPED),
        (last, Outcome.FAILED),
    ]
    outage = outcomes[0].error
    assert isinstance(outage, ProviderUnavailable)
    assert outcomes[1].invoice == open_invoice
    # The order not attempted fails with the outage that stopped the others.
    assert outcomes[2].error is outage
    assert outcomes[2].reason == "not attempted after KUNA Pay became unavailable"


def test_an_invoice_made_in_the_clock_tick_the_action_started_counts_as_created(
    api, db, monkeypatch
):
    # A coarse clock: the action starts and the invoice is stored at the same instant.
    instant = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: instant)
    order = make_order("A-1")
    api.add_callback("POST", CREATE_URL, callback=created_by_provider)

    [outcome] = services.create_invoices([order])

    assert outcome.outcome == Outcome.CREATED
    assert outcome.invoice.created_at == instant


def test_an_invoice_another_process_made_meanwhile_is_reported_for_its_order(db, monkeypatch):
    from django_invoices.services import bulk

    order = make_order("A-1")
    made_meanwhile = make_invoice(order)
    Invoice.objects.filter(pk=made_meanwhile.pk).update(
        created_at=timezone.now() - timedelta(seconds=1)
    )
    made_meanwhile.refresh_from_db()
    # The bulk look-up runs first and finds nothing open; then another process wins.
    monkeypatch.setattr(bulk, "OPEN_STATUSES", frozenset())
    monkeypatch.setattr(bulk, "create_invoice", lambda order, account: made_meanwhile)

    [outcome] = services.create_invoices([order])

    assert (outcome.order, outcome.outcome, outcome.invoice) == (
        order,
        Outcome.SKIPPED,
        made_meanwhile,
    )
    assert outcome.reason == f"it already has the open invoice {made_meanwhile}"


# -- current_invoices and refresh_orders -------------------------------------------------


def test_current_invoices_come_with_their_order(db, django_assert_num_queries):
    orders = [make_order(f"A-{i}") for i in range(3)]
    for order in orders:
        make_invoice(order)

    current = services.current_invoices(orders)

    with django_assert_num_queries(0):
        refs = sorted(invoice.order.external_order_id for invoice in current.values())
    assert refs == ["A-0", "A-1", "A-2"]


def test_refresh_orders_reads_with_no_more_threads_than_max_workers(api, db, settings):
    settings.DJANGO_INVOICES = {**DJANGO_INVOICES, "REFRESH_WORKERS": 4}
    orders = [make_order(f"A-{i}") for i in range(4)]
    for order in orders:
        make_invoice(order, status=InvoiceStatus.CREATED)
    threads = set()

    def answer(request):
        threads.add(threading.current_thread().name)
        time.sleep(0.05)  # still busy when the next read is handed out
        invoice_id = request.url.rsplit("/", 1)[1]
        return 200, {}, json.dumps({"data": invoice_payload("PAYMENT_AWAITING", invoice_id)})

    api.add_callback("GET", DETAIL_URL, callback=answer)

    outcomes = services.refresh_orders(orders, max_workers=1)

    assert {o.outcome for o in outcomes} == {Outcome.REFRESHED}
    assert len(threads) == 1


def test_refresh_orders_hands_back_the_refreshed_invoice(api, db):
    order = make_order("A-1")
    invoice = make_invoice(order, status=InvoiceStatus.CREATED)
    api.get(
        f"{API}/v1/invoice/{invoice.provider_id}",
        json={"data": invoice_payload("PAYMENT_AWAITING", str(invoice.provider_id))},
    )

    [outcome] = services.refresh_orders([order])

    assert outcome.outcome == Outcome.REFRESHED
    assert outcome.invoice.pk == invoice.pk
    assert outcome.invoice.status == InvoiceStatus.AWAITING_PAYMENT


def test_refresh_orders_says_why_an_invoice_could_not_be_read(api, db):
    order = make_order("A-1")
    make_invoice(order, account="gone")

    [outcome] = services.refresh_orders([order])

    assert outcome.outcome == Outcome.FAILED
    assert outcome.reason == "its merchant account gone is not configured"
    assert not api.calls


# -- keys --------------------------------------------------------------------------------

NEW, OLD = "new-key", "old-key"


def verified(key, at, account="default"):
    event = CallbackEvent.objects.create(
        account=account,
        verified=True,
        key_fingerprint=conf.key_fingerprint(key),
        body_sha256=uuid.uuid4().hex,
        state=CallbackEvent.State.APPLIED,
    )
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=at)


@pytest.fixture
def rotating(settings):
    settings.DJANGO_INVOICES = {
        **DJANGO_INVOICES,
        "PRIVATE_KEY": [NEW, OLD],
        "OLD_KEY_IDLE_DAYS": 30,
    }


def test_an_older_key_is_idle_since_its_last_callback_or_the_newest_keys_first(db, rotating):
    now = timezone.now()
    verified(NEW, now - timedelta(days=100))  # the newest key's first callback
    verified(NEW, now - timedelta(days=1))
    verified(OLD, now - timedelta(days=200))
    verified(OLD, now - timedelta(days=40))  # the older key's last, after the newest's first

    assert services.idle_keys("default", now=now) == [
        IdleKey("default", 1, conf.key_fingerprint(OLD), now - timedelta(days=40), timedelta(40))
    ]


def test_an_older_key_is_idle_once_exactly_old_key_idle_days_have_passed(db, rotating):
    now = timezone.now()
    verified(NEW, now - timedelta(days=30))

    assert services.idle_keys("default", now=now) == [
        IdleKey(
            "default", 1, conf.key_fingerprint(OLD), now - timedelta(days=30), timedelta(days=30)
        )
    ]
    assert services.idle_keys("default", now=now - timedelta(seconds=1)) == []


def test_live_accounts_named_are_those_with_keys_and_no_verified_callback_of_their_own(
    db, settings
):
    live = "https://api.kunapay.io"
    settings.DJANGO_INVOICES = {
        **DJANGO_INVOICES,
        "ACCOUNTS": {
            "live": {"API_URL": live, "API_KEY": "k", "PRIVATE_KEY": "p"},
            "verified": {"API_URL": live, "API_KEY": "k", "PRIVATE_KEY": "p"},
            "keyless": {"API_URL": live, "API_KEY": "k"},
            "sandbox": {"API_KEY": "k", "PRIVATE_KEY": "p"},
        },
    }
    verified("p", timezone.now(), account="verified")

    # "missing" is configured nowhere: a broken account, passed over.
    names = ["missing", "default", "keyless", "sandbox", "verified", "live"]
    assert services.unverified_live_accounts(names) == ["live"]


# -- retention and monitoring ------------------------------------------------------------


def old_event(state, days=10, **fields):
    event = CallbackEvent.objects.create(body_sha256=uuid.uuid4().hex, state=state, **fields)
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(days=days)
    )
    return event


def test_prune_callbacks_deletes_unless_asked_to_count(db):
    old_event(CallbackEvent.State.REJECTED)
    old_event(CallbackEvent.State.DUPLICATE)

    counts = services.prune_callbacks(older_than=timedelta(days=1))

    assert (counts["refused"], counts["duplicates"]) == (1, 1)
    assert not CallbackEvent.objects.exists()


def test_prune_rejected_events_deletes_only_refused_callbacks(db):
    kept = [
        old_event(state)
        for state in (
            CallbackEvent.State.APPLIED,
            CallbackEvent.State.DUPLICATE,
            CallbackEvent.State.FAILED,
        )
    ]
    old_event(CallbackEvent.State.REJECTED)

    assert services.prune_rejected_events(older_than=timedelta(days=1)) == 1
    assert sorted(CallbackEvent.objects.values_list("pk", flat=True)) == [e.pk for e in kept]


def test_monitoring_prune_deletes_unless_asked_to_count(db):
    long_ago = timezone.now() - timedelta(days=30)
    ProviderRequest.objects.create(
        started_at=long_ago,
        account="default",
        method="GET",
        endpoint="/v1/invoice/{id}",
        result="ok",
        milliseconds=5,
    )
    SweepRun.objects.create(kind="sweep", started_at=long_ago, finished_at=long_ago)

    assert monitoring.prune(older_than=timedelta(days=1)) == {
        "provider requests": 1,
        "sweep runs": 1,
    }
    assert not ProviderRequest.objects.exists()
    assert not SweepRun.objects.exists()


def test_diagnose_signatures_tries_the_newest_200_refused_callbacks_by_default(db):
    CallbackEvent.objects.bulk_create(
        CallbackEvent(
            body='{"event": "Invoice"}',
            body_sha256=uuid.uuid4().hex,
            signature="not-a-signature",
            state=CallbackEvent.State.REJECTED,
        )
        for _ in range(201)
    )

    diagnosis = services.diagnose_signatures()

    assert (diagnosis.checked, diagnosis.unmatched) == (200, 200)


def refused(signature, *, ago=0, body='{"event": "Invoice"}', **fields):
    event = CallbackEvent.objects.create(
        body=body,
        body_size=len(body),
        body_sha256=uuid.uuid4().hex,
        signature=signature,
        state=fields.pop("state", CallbackEvent.State.REJECTED),
        **fields,
    )
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(days=ago)
    )
    return event


def well_signed():
    body = '{"event": "Invoice", "data": {"id": "x"}}'
    return refused(sign_callback("test-private-key", body.encode()), body=body)


def test_diagnose_signatures_tries_only_the_accounts_refused_callbacks_with_a_signature(db):
    well_signed()
    refused("")  # no signature to try
    refused("bad", account="other")
    refused("bad", state=CallbackEvent.State.IGNORED)
    refused("bad", verified=True)

    diagnosis = services.diagnose_signatures()

    assert (diagnosis.checked, diagnosis.unmatched) == (1, 0)
    assert diagnosis.matches


def test_diagnose_signatures_tries_the_last_received_first(db):
    well_signed()
    refused("bad", ago=1)  # made later, received earlier

    diagnosis = services.diagnose_signatures(limit=1)

    assert (diagnosis.checked, diagnosis.unmatched) == (1, 0)


def test_diagnose_signatures_reads_the_callbacks_in_one_query(db, django_assert_num_queries):
    well_signed()
    refused("bad")
    refused("worse")

    with django_assert_num_queries(1):
        diagnosis = services.diagnose_signatures()

    assert (diagnosis.checked, diagnosis.unmatched) == (3, 2)


# -- order_for ---------------------------------------------------------------------------


@pytest.fixture
def shop_object(db):
    return get_user_model().objects.create(username="shop-order-7")


def order_for(shop_object, **changes):
    options = {"external_order_id": "shop-1", "amount": Decimal("24.90"), "asset": "EUR"}
    return services.order_for(shop_object, **{**options, **changes})


def test_an_order_made_without_description_or_email_has_neither(shop_object):
    order = order_for(shop_object)

    order.refresh_from_db()
    assert (order.description, order.email) == ("", "")


def test_an_amount_under_one_and_a_reference_of_the_longest_length_are_orders(shop_object):
    longest = "x" * Order._meta.get_field("external_order_id").max_length

    order = order_for(shop_object, external_order_id=longest, amount=Decimal("0.5"))

    order.refresh_from_db()
    assert (order.external_order_id, order.amount) == (longest, Decimal("0.5"))


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"amount": Decimal("0")}, "order_for needs a positive Decimal amount, not Decimal('0')"),
        (
            {"external_order_id": "x" * 200},
            f"external_order_id {'x' * 40!r} cannot be stored",
        ),
    ],
)
def test_what_cannot_be_an_order_is_said_in_the_value_error(shop_object, changes, said):
    with pytest.raises(ValueError) as caught:
        order_for(shop_object, **changes)
    assert str(caught.value) == said


def test_an_unsaved_object_is_said_in_the_value_error(db):
    with pytest.raises(ValueError) as caught:
        order_for(get_user_model()(username="unsaved"))
    assert str(caught.value) == "order_for needs a saved object to link the order to"


def test_a_reference_of_another_object_is_refused_in_words(shop_object):
    order_for(shop_object)
    other = get_user_model().objects.create(username="another-order")

    with pytest.raises(InvoiceCreationError) as caught:
        order_for(other)
    assert str(caught.value) == "Order reference shop-1 is already used by another order."


def test_a_changed_amount_is_refused_in_words_with_the_orders_status(shop_object):
    made = order_for(shop_object)
    Order.objects.filter(pk=made.pk).update(status="awaiting_payment")

    with pytest.raises(InvoiceCreationError) as caught:
        order_for(shop_object, amount=Decimal("25"))
    assert str(caught.value) == ("Order shop-1 was sent to pay 24.9 EUR; it now asks for 25 EUR.")
    assert caught.value.order_status == "awaiting_payment"


def test_losing_the_race_to_another_objects_order_is_refused(shop_object, monkeypatch):
    other = get_user_model().objects.create(username="another-order")
    winner = order_for(other)  # the concurrent call, for another object, won the reference
    real = Order.objects.get_or_create

    def lost_the_race(**kwargs):
        monkeypatch.setattr(Order.objects, "get_or_create", real)
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(Order.objects, "get_or_create", lost_the_race)

    with pytest.raises(InvoiceCreationError, match="already used by another order"):
        order_for(shop_object)
    assert Order.objects.get() == winner
    assert winner.shop_object == other
