"""The hosted payment page: statuses, deposits, signed callbacks, the way back, bad days."""

import json
import re
import threading
from decimal import Decimal

import pytest
import responses

from django_invoices.client import KunaPayClient
from django_invoices.sandbox import conf, delivery, simulate
from django_invoices.sandbox.models import CallbackDelivery, SandboxInvoice
from django_invoices.signing import verify_callback

API = "https://api.kunapay.test"
HOOK = "https://hooks.example/kunapay"
KEY = "test-private-key"


@pytest.fixture
def hook(kunapay):
    """The shop's callback URL, answering 200 and remembering what it got."""
    kunapay.mock.post(HOOK, status=200)
    return kunapay


def received(kunapay):
    """Callbacks that reached HOOK, parsed, after checking each signature."""
    bodies = []
    for call in kunapay.mock.calls:
        if call.request.url == HOOK:
            body = call.request.body
            assert (
                verify_callback(KEY, body, call.request.headers["kun-signature"]).__str__()
                == "sha384/hex/raw"
            )
            bodies.append(json.loads(body))
    return bodies


def summary(events):
    return [(e["event"], e["data"]["status"]) for e in events]


def make_invoice(**overrides):
    options = {
        "amount": "42.50",
        "asset": "USDT",
        "external_order_id": "A-1",
        "callback_url": HOOK,
        "redirect_url": "https://shop.example/invoices/return/?lang=uk",
        "redirect_button_title": "Back to the tea shop",
        "transactional_callbacks": True,
        "questionnaire_fields": ["email"],
    }
    options.update(overrides)
    created = KunaPayClient(API, api_key="test-api-key").create_invoice(**options)
    return SandboxInvoice.objects.get(pk=created.id)


def page(invoice):
    return f"/sandbox/pay/{invoice.pk}/"


def act(client, invoice, action, **data):
    return client.post(page(invoice), {"action": action, "q_email": "b@example.com", **data})


def test_the_page_shows_amount_questionnaire_and_choices(hook, client):
    invoice = make_invoice(product_description="Green tea")
    response = client.get(page(invoice))
    assert response.status_code == 200
    text = response.content.decode()
    assert "42.500000 USDT" in text  # in the asset's precision (6 places for USDT)
    assert "Green tea" in text
    assert 'name="q_email"' in text
    for action in ("pay", "pay_part", "overpay", "expire", "decline"):
        assert f'value="{action}"' in text
    assert 'name="viewport"' in text
    assert "data-return" not in text  # no way back before the buyer acted


def test_unknown_invoice_page_is_404(client, db):
    assert client.get("/sandbox/pay/506c695a-4187-4463-ac41-07dc0782cb0e/").status_code == 404


def test_pay_in_full(hook, client):
    invoice = make_invoice()
    response = act(client, invoice, "pay")
    assert response.status_code == 303
    invoice.refresh_from_db()
    assert invoice.status == "PAID"
    assert invoice.answers == {"email": "b@example.com"}
    assert invoice.completed_at is not None
    (tx,) = invoice.transactions.all()
    assert (tx.status, tx.amount, tx.asset) == ("Processed", Decimal("42.5"), "USDT")
    events = received(hook)
    assert summary(events) == [
        ("Invoice", "PAYMENT_AWAITING"),
        ("Invoice", "CONFIRMATION_AWAITING"),
        ("InvoiceDeposit", "Processed"),
        ("Invoice", "PAID"),
    ]
    deposit = events[2]["data"]
    assert deposit["type"] == "InvoiceDeposit"
    assert deposit["invoiceId"] == str(invoice.pk)
    assert deposit["externalOrderId"] == "A-1"
    assert (deposit["amount"], deposit["fee"], deposit["processedAmount"]) == ("42.5", "0", "42.5")
    assert deposit["txId"].startswith("0x")
    for key in ("paymentCode", "asset", "address", "createdAt", "updatedAt"):
        assert deposit[key]
    paid = events[3]["data"]
    assert paid["id"] == str(invoice.pk)
    assert paid["transactions"][0]["status"] == "Processed"
    assert paid["completedAt"].endswith("Z")
    assert all(d.state == "delivered" and d.attempts == 1 for d in hook.deliveries())
    # The way back, with invoiceId and orderId added and the shop's own parameter kept.
    text = client.get(page(invoice)).content.decode()
    assert "Back to the tea shop" in text
    assert (
        f"https://shop.example/invoices/return/?lang=uk&amp;invoiceId={invoice.pk}&amp;orderId=A-1"
        in text
    )


def test_the_questionnaire_is_required_for_a_payment(hook, client):
    invoice = make_invoice()
    response = client.post(page(invoice), {"action": "pay", "q_email": "not an email"})
    assert response.status_code == 400
    invoice.refresh_from_db()
    assert invoice.status == "CREATED"
    assert received(hook) == []


def test_a_fiat_invoice_is_paid_in_crypto(hook, client):
    invoice = make_invoice(asset="EUR", questionnaire_fields=[])
    client.post(page(invoice), {"action": "pay", "payment_asset": "USDT"})
    invoice.refresh_from_db()
    assert (invoice.payment_asset, invoice.payment_amount) == ("USDT", Decimal("46.75"))
    assert invoice.transactions.get().amount == Decimal("46.75")
    detail = hook.data(invoice)
    assert (detail["invoiceAmount"], detail["invoiceAssetCode"]) == ("42.5", "EUR")
    assert (detail["paymentAmount"], detail["paymentAssetCode"]) == ("46.75", "USDT")


def test_pay_part(hook, client):
    invoice = make_invoice()
    act(client, invoice, "pay_part")
    invoice.refresh_from_db()
    assert invoice.status == "PARTIALLY_PAID"
    assert invoice.transactions.get().amount == Decimal("21.25")
    assert summary(received(hook))[-1] == ("Invoice", "PARTIALLY_PAID")


def test_pay_part_with_a_chosen_amount_and_a_wrong_one(hook, client):
    invoice = make_invoice()
    response = act(client, invoice, "pay_part", amount="50")
    assert response.status_code == 400
    assert "less than 42.500000 USDT." in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == "CREATED" and not invoice.transactions.exists()
    act(client, invoice, "pay_part", amount="10.000001")
    assert invoice.transactions.get().amount == Decimal("10.000001")


def test_amounts_are_shown_in_the_assets_precision(hook, client):
    invoice = make_invoice(amount="24.9", asset="EUR", questionnaire_fields=[])
    text = client.get(page(invoice)).content.decode()
    assert "<title>Pay 24.90 EUR</title>" in text
    assert '<p class="amount" data-amount>24.90 EUR</p>' in text


def test_the_amount_field_names_its_currency_and_limit(hook, client):
    invoice = make_invoice(amount="59", asset="EUR", questionnaire_fields=[])
    text = client.get(page(invoice)).content.decode()
    # Before the buyer picks a currency, each choice says what is due in it.
    assert '<option value="USDT" selected>USDT (64.900000 USDT due)</option>' in text
    assert '<option value="BTC">BTC (0.00108167 BTC due)</option>' in text
    assert "Amount in the currency chosen above" in text
    response = client.post(page(invoice), {"action": "pay_part", "amount": "1000"})
    assert response.status_code == 400
    assert "A part payment must be more than 0 and less than 64.900000 USDT." in (
        response.content.decode()
    )
    # Once the currency is chosen, the field itself names it and the amount due.
    simulate._choose(invoice, "USDT", None)
    text = client.get(page(invoice)).content.decode()
    assert "Amount in USDT for a part payment or an overpayment" in text
    assert "64.900000 USDT is due: a part payment is less, an overpayment more." in text


def test_after_payment_the_page_says_what_was_received_not_what_to_pay(hook, client):
    invoice = make_invoice(amount="59", asset="EUR", questionnaire_fields=[])
    client.post(page(invoice), {"action": "pay_part", "amount": "20"})
    text = client.get(page(invoice)).content.decode()
    assert "To pay" not in text
    assert "data-to-pay" not in text
    assert "Received 20.000000 USDT of the 64.900000 USDT due." in text


def test_a_stored_callback_that_carries_no_status_shows_none(kunapay, client):
    invoice = make_invoice(questionnaire_fields=[])
    for body in ('{"event":"Invoice","data":{}}', '{"event":"Invoice","data":null}', "[]", "?"):
        CallbackDelivery.objects.create(
            invoice=invoice, url=HOOK, event="Invoice", body=body, due_at=invoice.created_at
        )
    response = client.get(page(invoice))
    assert response.status_code == 200
    assert "data-carried" not in response.content.decode()
    rows = response.context["deliveries"]
    assert [(row["status"], row["status_parts"]) for row in rows] == [("", [])] * 4


def test_each_callback_row_names_the_status_it_carried(hook, client):
    invoice = make_invoice(questionnaire_fields=[])
    client.post(page(invoice), {"action": "pay"})
    text = client.get(page(invoice)).content.decode()
    carried = re.findall(r"<span class=\"status status-(\w+)\" data-carried>(.*?)</span>", text)
    assert carried == [
        ("PAYMENT_AWAITING", "PAYMENT_<wbr>AWAITING"),
        ("CONFIRMATION_AWAITING", "CONFIRMATION_<wbr>AWAITING"),
        ("Processed", "Processed"),
        ("PAID", "PAID"),
    ]
    assert "break-all" not in text


def test_each_failure_mode_checkbox_sits_inside_its_own_label(hook, client):
    invoice = make_invoice()
    text = client.get(page(invoice)).content.decode()
    boxes = re.findall(
        r'<li><label for="(id_failures_\d+)"><input type="checkbox" name="failures" '
        r'value="(\w+)" id="(id_failures_\d+)"',
        text,
    )
    assert len(boxes) == len(conf.FAILURE_MODES)
    assert all(label_for == box_id for label_for, _mode, box_id in boxes)


def test_overpay(hook, client):
    invoice = make_invoice()
    act(client, invoice, "overpay")
    invoice.refresh_from_db()
    assert invoice.status == "PAID"
    assert invoice.transactions.get().amount == Decimal("63.75")


@pytest.mark.parametrize(
    ("amount", "action", "paid"),
    [("0.000003", "pay_part", "0.000001"), ("0.000001", "overpay", "0.000002")],
)
def test_half_of_a_tiny_amount_is_at_least_the_smallest_unit(hook, client, amount, action, paid):
    invoice = make_invoice(amount=amount)
    act(client, invoice, action)
    invoice.refresh_from_db()
    assert invoice.transactions.get().amount == Decimal(paid)


def test_let_it_expire(hook, client):
    invoice = make_invoice()
    client.post(page(invoice), {"action": "expire"})  # no questionnaire needed
    invoice.refresh_from_db()
    assert invoice.status == "TIMEOUT"
    assert not invoice.transactions.exists()
    assert summary(received(hook)) == [("Invoice", "TIMEOUT")]
    assert "invoiceId=" in client.get(page(invoice)).content.decode()


def test_decline(hook, client):
    invoice = make_invoice()
    act(client, invoice, "decline")
    invoice.refresh_from_db()
    assert invoice.status == "DECLINED"
    tx = invoice.transactions.get()
    assert (tx.status, tx.processed_amount) == ("Canceled", Decimal(0))
    assert summary(received(hook))[-2:] == [("InvoiceDeposit", "Canceled"), ("Invoice", "DECLINED")]


def test_without_transactional_callbacks_only_statuses_are_sent(hook, client):
    invoice = make_invoice(transactional_callbacks=False)
    act(client, invoice, "pay")
    assert {e["event"] for e in received(hook)} == {"Invoice"}


def test_a_settled_invoice_takes_no_more_actions(hook, client):
    invoice = make_invoice()
    act(client, invoice, "pay")
    response = act(client, invoice, "decline")
    assert response.status_code == 400
    invoice.refresh_from_db()
    assert invoice.status == "PAID"


def test_the_way_back_without_order_id_and_with_stale_parameters(hook, client):
    invoice = make_invoice(
        external_order_id=None, redirect_url="https://shop.example/back?invoiceId=old&x=1#top"
    )
    client.post(page(invoice), {"action": "expire"})
    text = client.get(page(invoice)).content.decode()
    assert f'href="https://shop.example/back?x=1&amp;invoiceId={invoice.pk}#top"' in text
    assert "orderId" not in text


def test_no_redirect_url_no_button(hook, client):
    invoice = make_invoice(redirect_url=None)
    client.post(page(invoice), {"action": "expire"})
    assert "data-return" not in client.get(page(invoice)).content.decode()


def test_unknown_action_is_400(hook, client):
    invoice = make_invoice()
    assert client.post(page(invoice), {"action": "steal"}).status_code == 400


# -- delivery --------------------------------------------------------------------------


def test_a_non_200_answer_is_retried(kunapay, client):
    kunapay.mock.post(HOOK, status=500)
    kunapay.mock.post(HOOK, status=202)
    kunapay.mock.post(HOOK, status=200)
    invoice = make_invoice(transactional_callbacks=False)
    client.post(page(invoice), {"action": "expire"})
    (sent,) = kunapay.deliveries(invoice)
    assert (sent.state, sent.attempts, sent.response_status) == ("delivered", 3, 200)


def test_delivery_gives_up_after_the_configured_attempts(kunapay, client, settings):
    kunapay.mock.post(HOOK, status=503, body="down")
    invoice = make_invoice()
    response = client.post(page(invoice), {"action": "expire"})
    assert response.status_code == 303
    (failed,) = kunapay.deliveries(invoice)
    assert (failed.state, failed.attempts, failed.response_status) == ("failed", 3, 503)
    assert failed.error == ""  # the status is kept, what the shop answered is not
    assert "failed" in client.get(page(invoice)).content.decode().lower()


def test_an_unreachable_shop_is_recorded_not_raised(kunapay, client, settings):
    settings.DJANGO_INVOICES_SANDBOX = {
        **settings.DJANGO_INVOICES_SANDBOX,
        "CALLBACK_HOSTS": ["nowhere.example"],
    }
    invoice = make_invoice(callback_url="https://nowhere.example/cb")
    client.post(page(invoice), {"action": "expire"})
    (failed,) = kunapay.deliveries(invoice)
    assert failed.state == "failed"
    assert failed.error == "ConnectionError"  # not its message: no port scanning


def test_delivery_waits_between_attempts(kunapay, monkeypatch, settings):
    waits = []
    monkeypatch.setattr(delivery, "sleep", waits.append)
    kunapay.mock.post(HOOK, status=500)
    invoice = make_invoice(transactional_callbacks=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(kunapay._sandbox_settings, "CALLBACK_BACKOFF", 0.25)
        patch.setitem(kunapay._sandbox_settings, "CALLBACK_ATTEMPTS", 4)
        kunapay.fail()  # re-applies the settings
        simulate.act(invoice, "expire")
    assert waits == [0.25, 0.5, 1.0]


# -- failure modes ---------------------------------------------------------------------


def test_callback_twice(hook, client):
    hook.fail("callback_twice")
    invoice = make_invoice()
    act(client, invoice, "pay")
    assert len(received(hook)) == 8
    assert summary(received(hook))[-2:] == [("Invoice", "PAID"), ("Invoice", "PAID")]


def test_callback_out_of_order(hook, client):
    hook.fail("callback_out_of_order")
    invoice = make_invoice()
    act(client, invoice, "pay")
    assert summary(received(hook)) == [
        ("Invoice", "CONFIRMATION_AWAITING"),
        ("InvoiceDeposit", "Processed"),
        ("Invoice", "PAID"),
        ("Invoice", "PAYMENT_AWAITING"),
    ]


def test_callback_with_a_bad_signature(hook, client):
    hook.fail("callback_bad_signature")
    invoice = make_invoice()
    act(client, invoice, "pay")
    calls = [c for c in hook.mock.calls if c.request.url == HOOK]
    assert len(calls) == 4
    for call in calls:
        signature = call.request.headers["kun-signature"]
        assert verify_callback(KEY, call.request.body, signature) is None


def test_late_callbacks_are_held_and_sent_on_demand(hook, client):
    hook.fail("callback_late")
    invoice = make_invoice()
    act(client, invoice, "pay")
    invoice.refresh_from_db()
    assert invoice.status == "PAID"
    assert received(hook) == []
    assert {d.state for d in hook.deliveries()} == {"held"}
    text = client.get(page(invoice)).content.decode()
    assert "data-return" in text  # the buyer can go back before the shop heard anything
    assert 'value="deliver_late"' in text
    assert client.post(page(invoice), {"action": "deliver_late"}).status_code == 303
    assert summary(received(hook))[-1] == ("Invoice", "PAID")
    assert {d.state for d in hook.deliveries()} == {"delivered"}


def test_late_callbacks_wait_until_due(hook, client):
    hook.fail("callback_late")
    invoice = make_invoice(transactional_callbacks=False)
    client.post(page(invoice), {"action": "expire"})
    assert delivery.deliver_due() == 0  # LATE_CALLBACK_DELAY is 10 s by default
    CallbackDelivery.objects.update(due_at="2000-01-01T00:00:00Z")
    assert delivery.deliver_due() == 1
    assert summary(received(hook)) == [("Invoice", "TIMEOUT")]


def test_paid_after_expiry(hook, client):
    hook.fail("paid_after_expiry")
    invoice = make_invoice()
    client.post(page(invoice), {"action": "expire"})
    invoice.refresh_from_db()
    assert invoice.status == "PAID"
    assert summary(received(hook)) == [
        ("Invoice", "TIMEOUT"),
        ("InvoiceDeposit", "Processed"),
        ("Invoice", "PAID"),
    ]


def test_failure_modes_per_invoice_from_the_page(hook, client):
    invoice = make_invoice()
    other = make_invoice(external_order_id="A-2")
    response = client.post(
        page(invoice), {"action": "failures", "failures": ["callback_twice", "api_error"]}
    )
    assert response.status_code == 303
    invoice.refresh_from_db()
    assert invoice.failures == ["callback_twice", "api_error"]
    assert "checked" in client.get(page(invoice)).content.decode()
    client.post(page(other), {"action": "expire"})
    assert len(received(hook)) == 1  # the other invoice is not affected
    client.post(page(invoice), {"action": "expire"})
    assert len(received(hook)) == 3
    bad = client.post(page(invoice), {"action": "failures", "failures": ["nonsense"]})
    assert bad.status_code == 400


@pytest.fixture
def twice_everywhere(settings):
    settings.DJANGO_INVOICES_SANDBOX = {
        **settings.DJANGO_INVOICES_SANDBOX,
        "FAILURES": ["callback_twice"],
    }


def test_failure_modes_globally_by_setting(twice_everywhere, hook, client):
    invoice = make_invoice(transactional_callbacks=False)
    text = client.get(page(invoice)).content.decode()
    assert "Every callback is sent twice" in text
    client.post(page(invoice), {"action": "expire"})
    assert len(received(hook)) == 2


@pytest.mark.django_db(transaction=True)
def test_late_callbacks_go_out_from_a_background_thread(settings):
    settings.DJANGO_INVOICES_SANDBOX = {
        **settings.DJANGO_INVOICES_SANDBOX,
        "FAILURES": ["callback_late"],
        "LATE_CALLBACK_DELAY": 0.05,
        "CALLBACK_BACKOFF": 0,
    }
    invoice = SandboxInvoice.objects.create(
        merchant=_merchant(),
        amount=Decimal("1"),
        asset="USDT",
        callback_url=HOOK,
        expire_at="2100-01-01T00:00:00Z",
    )
    with responses.RequestsMock() as mock:
        mock.post(HOOK, status=200)
        simulate.act(invoice, "expire")
        delivery.wait_for_late_callbacks()
        assert len(mock.calls) == 1
    assert CallbackDelivery.objects.get().state == "delivered"


def _late_invoice(settings, **options):
    settings.DJANGO_INVOICES_SANDBOX = {
        **settings.DJANGO_INVOICES_SANDBOX,
        "FAILURES": ["callback_late"],
        "CALLBACK_BACKOFF": 0,
        **options,
    }
    return SandboxInvoice.objects.create(
        merchant=_merchant(),
        amount=Decimal("1"),
        asset="USDT",
        callback_url=HOOK,
        expire_at="2100-01-01T00:00:00Z",
    )


def test_the_late_callback_timer_fires_once_they_are_due_and_never_keeps_a_process_up(
    settings, db, monkeypatch
):
    started = []

    class Timer(threading.Timer):
        def start(self):
            started.append(self)
            self.cancel()  # nothing is sent here: only how the timer was set is checked
            super().start()

    monkeypatch.setattr(delivery.threading, "Timer", Timer)
    for delay in (0, 3):
        simulate.act(_late_invoice(settings, LATE_CALLBACK_DELAY=delay), "expire")
    assert [timer.daemon for timer in started] == [True, True]
    # Just after the callbacks are due (never before: they would wait for the next one).
    assert 0 < started[0].interval < 0.5
    assert 3 < started[1].interval < 3.5


def test_held_callbacks_another_sender_took_meanwhile_are_not_sent_again(settings, db):
    invoice = _late_invoice(settings, LATE_CALLBACK_THREAD=False)
    simulate.act(invoice, "pay")
    _first, *others = CallbackDelivery.objects.order_by("id")
    assert others

    def shop(request):
        # While the first one is sent, the timer thread (say) sends all the others.
        CallbackDelivery.objects.filter(pk__in=[o.pk for o in others]).update(
            state=CallbackDelivery.DELIVERED
        )
        return 200, {}, ""

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, HOOK, callback=shop)
        assert delivery.deliver_due(force=True) == 1
        assert len(mock.calls) == 1


def test_deliver_due_counts_every_callback_it_sent(settings, db):
    invoice = _late_invoice(settings, LATE_CALLBACK_THREAD=False)
    simulate.act(invoice, "pay")
    held = CallbackDelivery.objects.count()
    assert held > 1
    with responses.RequestsMock() as mock:
        mock.post(HOOK, status=200)
        assert delivery.deliver_due(force=True) == held
        assert len(mock.calls) == held
    assert set(CallbackDelivery.objects.values_list("state", flat=True)) == {"delivered"}


def _merchant():
    from django_invoices.sandbox import conf

    return conf.credentials()[0].merchant


# -- found in review: odd URLs, browsers, double submits -------------------------------


def _created(**overrides):
    options = {"amount": "42.50", "asset": "USDT", "external_order_id": "R3-1"}
    options.update(overrides)
    created = KunaPayClient(API, api_key="test-api-key").create_invoice(**options)
    return SandboxInvoice.objects.get(pk=created.id)


def test_a_callback_url_requests_cannot_parse_fails_the_delivery_not_the_page(
    kunapay, client, settings
):
    settings.DJANGO_INVOICES_SANDBOX = {
        **settings.DJANGO_INVOICES_SANDBOX,
        "CALLBACK_HOSTS": ["a..b"],
    }
    invoice = _created(callback_url="http://a..b/hook")
    kunapay.mock.stop()  # the real requests stack: it fails before any network I/O
    try:
        response = client.post(f"/sandbox/pay/{invoice.pk}/", {"action": "pay"})
    finally:
        kunapay.mock.start()
    assert response.status_code == 303
    deliveries = CallbackDelivery.objects.filter(invoice=invoice)
    assert {d.state for d in deliveries} == {CallbackDelivery.FAILED}
    assert all("LocationParseError" in d.error or "Invalid" in d.error for d in deliveries)


def test_let_it_expire_skips_the_browsers_check_of_the_questionnaire(kunapay, client):
    invoice = _created(questionnaire_fields=["email"])
    html = client.get(f"/sandbox/pay/{invoice.pk}/").content.decode()
    assert 'name="q_email"' in html and "required" in html
    assert 'value="expire" formnovalidate>' in html
    assert html.count("formnovalidate") == 1  # paying still needs the answers


def test_a_double_submit_that_finds_the_invoice_locked_is_no_500(kunapay, client, monkeypatch):
    from django.db import OperationalError

    invoice = _created()

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(simulate, "act", locked)
    response = client.post(f"/sandbox/pay/{invoice.pk}/", {"action": "pay"})
    assert response.status_code == 400
    assert "being changed by another request" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "ref=caf%E9",
        "flag",
        "a=%7E&b=1+2",
        "invoiceId=old&x=1&orderId=old",
        # Old values of the two names go whatever they hold, and so do the bare names.
        "invoiceId=a=b&x=1&orderId",
    ],
)
def test_the_return_url_keeps_the_shops_parameters_byte_for_byte(db, query):
    from datetime import datetime, timezone

    from django_invoices.sandbox import wire

    invoice = SandboxInvoice(
        merchant="m",
        amount=1,
        asset="USDT",
        external_order_id="A-1",
        redirect_url=f"https://shop.example/return/?{query}",
        expire_at=datetime(2100, 1, 1, tzinfo=timezone.utc),
    )
    kept = "x=1" if query.startswith("invoiceId") else query
    assert wire.return_url(invoice) == (
        f"https://shop.example/return/?{kept}&invoiceId={invoice.id}&orderId=A-1"
    )
