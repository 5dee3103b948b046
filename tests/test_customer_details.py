"""The details of the customer's way back (``returns`` and ``services.customer``) that
the mutation run (docs/mutation.rst) found no test for: page context, URL forms,
malformed lookups that must cost no query, and the re-read limit's bookkeeping."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import NoReverseMatch
from django.utils import timezone

from django_invoices import returns, services
from django_invoices.models import Invoice, Order
from django_invoices.services import customer

from .conftest import API, INVOICE_ID, invoice_payload, spy_on_clients

SETTINGS = {
    "API_URL": API,
    "API_KEY": "test-api-key",
    "BASE_URL": "https://shop.example",
    "RETRY_BACKOFF": 0,
    "RETRIES": 0,
}
OTHER_API = "https://other.kunapay.test"
SECOND_ID = "22222222-3333-4444-8555-666666666666"


# -- returns: the page's context --------------------------------------------------------


def test_the_page_context_of_a_pending_payment(invoice):
    with override_settings(DJANGO_INVOICES={**SETTINGS, "PENDING_PAGE_REFRESH": 0}):
        context = returns.page_context(invoice, "pending", provider_error=True)
    assert context == {
        "invoice": invoice,
        "order": invoice.order,
        "outcome": "pending",
        "is_paid": False,
        "is_pending": True,
        "is_failed": False,
        "overpaid": False,
        "due_total": "",
        "received_total": "",
        "excess": "",
        "status": "created",
        "status_label": "Created",
        "amount": "42.50",
        "asset": "EUR",
        "paid_amount": "",  # nothing arrived yet
        "payment_url": "https://pay.example/i/1",
        "refresh_seconds": 1,  # never 0: a page reloading itself without pause
        "provider_error": True,
    }


def test_the_page_context_of_a_failed_payment_offers_no_payment_or_reload(invoice):
    invoice.paid_amount = Decimal("0.5")
    context = returns.page_context(invoice, "failed", provider_error=False)
    assert (context["is_failed"], context["is_paid"], context["is_pending"]) == (
        True,
        False,
        False,
    )
    assert context["paid_amount"] == "0.50"
    assert context["payment_url"] == ""
    assert context["refresh_seconds"] is None


def test_display_amount_of_nothing_is_empty():
    assert returns.display_amount(None) == ""
    assert returns.display_amount(Decimal("7")) == "7.00"


# -- returns: which texts are URLs --------------------------------------------------------


@pytest.mark.parametrize("url", ["./thanks/", "../thanks/", "/thanks/", "https://shop.example/t"])
def test_a_callable_may_answer_relative_and_absolute_urls(db, url):
    order = Order(external_order_id="A-1")
    assert returns.resolve_target(lambda o: url, order) == url


def test_paths_starting_with_a_dot_are_taken_as_they_are(db):
    order = Order(external_order_id="A-1")
    assert returns.resolve_target("./thanks/", order) == "./thanks/"
    assert returns.resolve_target("../thanks/", order) == "../thanks/"


@pytest.mark.parametrize("name", ["nowhere", "shop:no.such-page"])
def test_a_name_that_is_no_url_name_nor_dotted_path_says_so(db, name):
    """A bare word or a namespaced name is a URL name that does not exist, not an
    import path to try."""
    with pytest.raises(NoReverseMatch):
        returns.resolve_target(name, Order(external_order_id="A-1"))


def test_a_callable_answering_a_bare_word_is_named_in_the_error(db):
    with pytest.raises(returns.NotAURL, match="'thanks' is not a path or an absolute URL"):
        returns.resolve_target(lambda order: "thanks", Order(external_order_id="A-1"))


# -- customer: malformed lookups are refused before any query ---------------------------


@pytest.mark.parametrize(
    ("invoice_id", "order_id"),
    [
        ("nope", "A-1"),
        (None, "A-1"),
        (INVOICE_ID, None),
        (INVOICE_ID, 7),
        (INVOICE_ID, ""),
        (INVOICE_ID, "x" * 129),
        (INVOICE_ID, "A\x00"),
        ("506c695a4-187-4463-ac41-07dc0782cb0e", "A-1"),  # a UUID, hyphens misplaced
    ],
)
def test_malformed_lookups_answer_none_without_a_query(
    invoice, django_assert_num_queries, invoice_id, order_id
):
    with django_assert_num_queries(0):
        assert services.find_customer_invoice(invoice_id, order_id) is None


def test_only_the_usual_uuid_spelling_is_an_invoice_id():
    assert str(customer.parse_invoice_id(INVOICE_ID.upper())) == INVOICE_ID
    assert customer.parse_invoice_id("506c695a4-187-4463-ac41-07dc0782cb0e") is None


# -- customer: the re-read limit -----------------------------------------------------------


@pytest.fixture
def reads(api):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAYMENT_AWAITING")})
    api.get(
        f"{API}/v1/invoice/{SECOND_ID}",
        json={"data": invoice_payload("PAYMENT_AWAITING", invoice_id=SECOND_ID)},
    )
    return api


def _second_invoice(order):
    other = Order.objects.create(external_order_id="A-2", amount=Decimal("1"), asset="EUR")
    return Invoice.objects.create(
        provider_id=SECOND_ID, order=other, invoice_amount=Decimal("1"), invoice_asset="EUR"
    )


def test_a_recent_sync_alone_holds_a_re_read_back(reads, invoice):
    invoice.synced_at = timezone.now()
    cache.clear()  # no attempt recorded: only synced_at says "recently"
    result = services.refresh_if_stale(invoice, min_interval=60)
    assert result.refreshed is False
    assert len(reads.calls) == 0


def test_a_sync_exactly_one_interval_old_is_read_again(reads, invoice, monkeypatch):
    synced = timezone.now() - timedelta(seconds=30)
    invoice.synced_at = synced
    monkeypatch.setattr(customer.dj_timezone, "now", lambda: synced + timedelta(seconds=30))
    assert services.refresh_if_stale(invoice, min_interval=30).refreshed is True


def test_an_interval_of_one_second_still_limits(reads, invoice):
    assert services.refresh_if_stale(invoice, min_interval=1).refreshed is True
    again = services.refresh_if_stale(Invoice.objects.get(pk=invoice.pk), min_interval=1)
    assert again.refreshed is False
    assert len(reads.calls) == 1


def test_each_invoice_has_its_own_attempt(reads, invoice):
    second = _second_invoice(invoice.order)
    assert services.refresh_if_stale(invoice, min_interval=60).refreshed is True
    assert services.refresh_if_stale(second, min_interval=60).refreshed is True
    assert len(reads.calls) == 2


@pytest.mark.parametrize(("interval", "timeout"), [(0.2, 1), (10, 10), (2.5, 3)])
def test_an_attempt_is_remembered_for_the_interval_rounded_up(reads, invoice, interval, timeout):
    with mock.patch.object(customer.cache, "add", wraps=cache.add) as add:
        services.refresh_if_stale(invoice, min_interval=interval)
    [call] = add.call_args_list
    assert call.args[0] == f"django_invoices:refresh-attempt:{invoice.pk}"
    assert call.kwargs == {"timeout": timeout}


def test_a_re_read_uses_the_invoices_account_and_the_short_timeout(api, invoice, monkeypatch):
    Invoice.objects.filter(pk=invoice.pk).update(account="other")
    invoice.refresh_from_db()
    api.get(f"{OTHER_API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    asked = spy_on_clients(monkeypatch, customer.reads)
    accounts = {"other": {"API_URL": OTHER_API, "API_KEY": "k2"}}
    with override_settings(DJANGO_INVOICES={**SETTINGS, "ACCOUNTS": accounts}):
        result = services.refresh_if_stale(invoice, min_interval=0)
    assert asked == [("other", True)]
    assert result.refreshed is True
    assert result.invoice.status == "paid"


def test_after_a_failed_re_read_the_invoice_comes_with_its_order(
    api, invoice, django_assert_num_queries
):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", status=500)
    with override_settings(DJANGO_INVOICES=SETTINGS):
        result = services.refresh_if_stale(invoice, min_interval=0)
    assert result.refreshed is False
    assert result.error is not None
    with django_assert_num_queries(0):
        assert result.invoice.order.external_order_id == "A-1"


def test_an_order_id_of_the_longest_allowed_length_is_found_with_its_order(
    invoice, django_assert_num_queries
):
    longest = "x" * 128  # Order.external_order_id's max_length
    Order.objects.filter(pk=invoice.order_id).update(external_order_id=longest)
    with django_assert_num_queries(1):
        found = services.find_customer_invoice(INVOICE_ID, longest)
        assert found is not None
        assert found.order.external_order_id == longest
    assert found.pk == invoice.pk


# -- customer: what counts as an overpayment ----------------------------------------------


def _paid_with(invoice, *amounts):
    Invoice.objects.filter(pk=invoice.pk).update(status="paid")
    for number, amount in enumerate(amounts):
        invoice.deposits.create(
            provider_id=f"tx-{number}", status="Processed", amount=Decimal(amount)
        )
    return Invoice.objects.get(pk=invoice.pk)


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        (["0.001"], None),  # exactly what was due
        (["0.0005", "0.0005"], None),
        (["0.0009"], None),
        (["0.0006", "0.0005"], (Decimal("0.0011"), Decimal("0.001"))),
    ],
)
def test_only_more_than_the_payment_amount_is_an_overpayment(btc_invoice, amounts, expected):
    assert services.overpayment(_paid_with(btc_invoice, *amounts)) == expected


def test_an_unpaid_invoice_is_never_overpaid(btc_invoice):
    btc_invoice.deposits.create(provider_id="tx-0", status="Processed", amount=Decimal("1"))
    assert services.overpayment(btc_invoice) is None


# -- customer: ended invoices are read only when asked to ---------------------------------


def _expired_just_now(invoice):
    Invoice.objects.filter(pk=invoice.pk).update(status="expired", expires_at=timezone.now())
    return Invoice.objects.select_related("order").get(pk=invoice.pk)


def test_an_invoice_that_ended_unpaid_is_not_read_again_by_default(api, invoice):
    expired = _expired_just_now(invoice)
    with override_settings(DJANGO_INVOICES=SETTINGS):
        result = services.refresh_if_stale(expired, min_interval=0)
    assert result == customer.Refresh(expired, refreshed=False, error=None)
    assert result.invoice is expired
    assert len(api.calls) == 0


def test_late_payments_reads_an_invoice_that_ended_unpaid_recently(api, invoice):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    with override_settings(DJANGO_INVOICES=SETTINGS):
        result = services.refresh_if_stale(
            _expired_just_now(invoice), min_interval=0, late_payments=True
        )
    assert result.refreshed is True
    assert result.invoice.status == "paid"


def test_late_payments_leaves_a_paid_invoice_alone(api, invoice):
    Invoice.objects.filter(pk=invoice.pk).update(status="paid")
    paid = Invoice.objects.select_related("order").get(pk=invoice.pk)
    with override_settings(DJANGO_INVOICES=SETTINGS):
        result = services.refresh_if_stale(paid, min_interval=0, late_payments=True)
    assert result.invoice is paid
    assert result.refreshed is False
    assert result.error is None
    assert len(api.calls) == 0


def test_a_failed_attempt_holds_the_next_one_back_without_an_error(api, invoice):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", status=500)
    with override_settings(DJANGO_INVOICES=SETTINGS):
        first = services.refresh_if_stale(invoice, min_interval=60)
        again = services.refresh_if_stale(invoice, min_interval=60)
    assert first.refreshed is False
    assert first.error is not None
    assert again == customer.Refresh(invoice, refreshed=False, error=None)
    assert again.invoice is invoice
    assert len(api.calls) == 1


def test_late_payments_decides_at_one_instant_however_long_it_takes(api, invoice, monkeypatch):
    """Whether the invoice is still inside the window is judged at the time the
    refresh began, not at some later reading of the clock."""
    began = timezone.now()
    Invoice.objects.filter(pk=invoice.pk).update(
        status="expired", expires_at=began - timedelta(days=6, hours=23)
    )
    expired = Invoice.objects.select_related("order").get(pk=invoice.pk)
    readings = iter(began + timedelta(days=n) for n in range(100))
    monkeypatch.setattr(timezone, "now", lambda: next(readings))
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAID")})
    with override_settings(DJANGO_INVOICES=SETTINGS):
        result = services.refresh_if_stale(expired, min_interval=0, late_payments=True)
    assert result.refreshed is True
