"""What a shop's view sees of a request the sandbox sends it (KunaPaySandbox routes every
POST to the shop's BASE_URL through Django's test client), and what comes back to the
sender: the same request a real one over the network would make of it."""

import json
import sys
import traceback

import pytest
import requests
from django.apps import apps
from django.http import HttpResponse, JsonResponse
from django.urls import path

from django_invoices import services, signals
from django_invoices.sandbox import delivery
from django_invoices.sandbox.models import SandboxInvoice
from django_invoices.testing import KunaPaySandbox, set_invoice_status

from .conftest import API
from .test_pytest_plugin import ShippingFailed, broken_shipping  # noqa: F401 (a fixture)
from .urls import urlpatterns as app_urls

# BASE_URL of the test settings: the sandbox routes POSTs below it to the shop.
SHOP = "https://shop.example"


def echo(request):
    """A shop view that answers with what it was given."""
    return JsonResponse(
        {
            "body": request.body.decode("utf-8"),
            "content_type": request.headers.get("Content-Type"),
            "form": request.POST.dict(),
            "host": request.get_host(),
            "secure": request.is_secure(),
            "url": request.build_absolute_uri(),
            "user_agent": request.headers.get("User-Agent"),
        }
    )


def sets_a_cookie(request):
    answer = HttpResponse("received", content_type="text/html; charset=utf-8")
    answer.set_cookie("shop_session", "mutants3")
    answer["X-Shop-Answer"] = "mutants3"
    return answer


urlpatterns = [
    *app_urls,
    path("hooks/echo/", echo),
    path("hooks/cookie/", sets_a_cookie),
]

pytestmark = pytest.mark.urls(__name__)


def seen(**kwargs):
    answer = requests.post(f"{SHOP}/hooks/echo/", timeout=5, **kwargs)
    assert answer.status_code == 200
    return answer.json()


def test_a_shop_served_over_https_sees_a_secure_request_to_its_own_host(kunapay):
    # A shop builds absolute links (and trusts is_secure) from the request: they must
    # name the shop as the sender addressed it, not the test client's testserver.
    view = seen(params={"n": "mutants3"}, data=b"{}")
    assert view["secure"] is True
    assert view["host"] == "shop.example"
    assert view["url"] == "https://shop.example/hooks/echo/?n=mutants3"


def test_a_text_body_reaches_the_shop_as_utf8(kunapay):
    # requests keeps a str body as str; the shop must read the bytes it stands for.
    view = seen(data='{"note": "price in \u20ac, mutants3"}')
    assert view["body"] == '{"note": "price in \u20ac, mutants3"}'


def test_a_body_sent_without_a_type_reaches_the_shop_as_json(kunapay):
    # KUNA Pay's callbacks are JSON; the sandbox says so when its sender does not.
    view = seen(data=b'{"id": "mutants3"}')
    assert view["content_type"] == "application/json"
    assert view["body"] == '{"id": "mutants3"}'


def test_the_senders_content_type_reaches_the_shop(kunapay):
    view = seen(
        data=b"order=mutants3&paid=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert view["content_type"] == "application/x-www-form-urlencoded"
    assert view["form"] == {"order": "mutants3", "paid": "1"}


def test_the_senders_user_agent_reaches_the_shop(kunapay):
    view = seen(data=b"{}", headers={"User-Agent": "KunaPay-Callbacks/mutants3"})
    assert view["user_agent"] == "KunaPay-Callbacks/mutants3"


def test_the_sender_gets_the_shops_answer_as_plain_text_and_nothing_more(kunapay):
    # Only status and body come back: the shop's own headers (its cookies among them)
    # stay with the test client: a delivery reads only status and body.
    with requests.Session() as session:
        answer = session.post(f"{SHOP}/hooks/cookie/", data=b"{}", timeout=5)
        assert (answer.status_code, answer.text) == (200, "received")
        assert dict(answer.headers) == {"Content-Type": "text/plain"}
        assert not session.cookies


# -- leaving the sandbox's block -----------------------------------------------------------


@pytest.mark.usefixtures("broken_shipping")
def test_a_receiver_error_no_action_raised_fails_the_block_on_leaving(
    invoice, django_capture_on_commit_callbacks
):
    # set_invoice_status is no buyer action, so nothing raised the error yet: a test
    # must not pass as if the shop had shipped.
    with (
        pytest.raises(ShippingFailed, match="cannot ship A-1"),
        KunaPaySandbox(),
        django_capture_on_commit_callbacks(execute=True),
    ):
        set_invoice_status(invoice, "PAID")


@pytest.mark.usefixtures("broken_shipping")
def test_the_blocks_own_exception_is_not_replaced_by_a_receiver_error(
    invoice, django_capture_on_commit_callbacks
):
    # The test already fails for its own reason; that reason is what its author must see.
    with pytest.raises(LookupError, match="mutants3"), KunaPaySandbox() as sandbox:
        with django_capture_on_commit_callbacks(execute=True):
            set_invoice_status(invoice, "PAID")
        raise LookupError("mutants3")
    assert [str(error) for error in sandbox.receiver_errors] == ["cannot ship A-1"]


def test_a_sandbox_serves_again_when_entered_a_second_time(order):
    # A shop's fixture may keep one sandbox and open it for each test.
    sandbox = KunaPaySandbox()
    with sandbox:
        invoice = services.create_invoice(order)
    with sandbox:
        assert sandbox.get(invoice).external_order_id == "A-1"


# -- opening the sandbox -------------------------------------------------------------------


def test_without_the_sandbox_app_the_error_says_what_to_add(monkeypatch):
    installed = apps.is_installed
    monkeypatch.setattr(
        apps, "is_installed", lambda name: name != "django_invoices.sandbox" and installed(name)
    )
    with pytest.raises(RuntimeError) as raised, KunaPaySandbox():
        pass
    assert str(raised.value) == (
        'Add "django_invoices.sandbox" to INSTALLED_APPS of your test settings to use the '
        "KUNA Pay sandbox in tests."
    )


def test_a_shop_without_sandbox_settings_gets_a_sandbox(settings, order):
    # DJANGO_INVOICES_SANDBOX is optional: a shop's test settings need not name it.
    del settings.DJANGO_INVOICES_SANDBOX
    with KunaPaySandbox() as sandbox:
        invoice = services.create_invoice(order)
        assert sandbox.get(invoice).external_order_id == "A-1"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_every_method_reaches_the_sandbox_api(kunapay, method):
    # A method the sandbox does not take gets its own 405, as from KUNA Pay, rather
    # than the "Connection refused by Responses" of a URL nobody routed.
    answer = requests.request(method, f"{API}/v1/invoice/assets", timeout=5)
    assert (answer.status_code, answer.headers["Content-Type"]) == (405, "application/json")
    assert answer.json()["errors"][0]["code"] == "METHOD_NOT_ALLOWED"


def test_a_base_url_with_a_trailing_slash_still_reaches_the_shop(settings, db):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "BASE_URL": f"{SHOP}/"}
    with KunaPaySandbox():
        answer = requests.post(f"{SHOP}/hooks/echo/", data=b"{}", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["url"] == f"{SHOP}/hooks/echo/"


def test_the_shop_is_reached_while_no_account_is_known(settings, db):
    # A shop on django-tenants has no account outside a tenant: no API URL to route,
    # yet what goes to BASE_URL must still reach the shop.
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNT_RESOLVER": "tests.merchants.tenants.TenantAccounts",
    }
    with KunaPaySandbox() as sandbox:
        assert sandbox.api_urls() == []
        answer = requests.post(f"{SHOP}/hooks/echo/", data=b"{}", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["host"] == "shop.example"


def test_apis_of_two_accounts_under_the_shops_address_keep_answering(settings, db):
    # Were one of them also taken for the shop, responses would answer its second
    # request from the shop's route (the test client, without the API's headers).
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "API_URL": f"{SHOP}/sandbox",
        "ACCOUNTS": {"mutants3": {"API_URL": f"{SHOP}/sandbox-b"}},
    }
    with KunaPaySandbox():
        for api_url in (f"{SHOP}/sandbox", f"{SHOP}/sandbox-b"):
            for _ in range(2):
                answer = requests.post(f"{api_url}/v1/nowhere", data=b"{}", timeout=5)
                assert (answer.status_code, answer.headers["Content-Type"]) == (
                    404,
                    "application/json",
                )
                assert answer.json()["errors"][0]["code"] == "NOT_FOUND"


# -- what the sandbox API is sent ----------------------------------------------------------


def test_a_text_body_reaches_the_sandbox_api_as_utf8(kunapay):
    body = json.dumps({"amount": "5", "asset": "USDT", "externalOrderId": "M3-\u20ac"})
    answer = requests.post(
        f"{API}/v1/invoice", data=body, headers={"api-key": "test-api-key"}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    created = kunapay.get(answer.json()["data"]["id"])
    assert created.external_order_id == "M3-\u20ac"


def test_the_payment_page_form_posted_through_the_api_url_acts(kunapay, order):
    # The buyer's browser posts the page's form: the page must read it as a form.
    invoice = services.create_invoice(order)
    answer = requests.post(
        invoice.payment_url, data={"action": "expire"}, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 303
    assert kunapay.get(invoice).status == SandboxInvoice.TIMEOUT


def test_a_stalled_answer_says_which_request_timed_out(kunapay):
    kunapay.fail("api_timeout")
    with pytest.raises(requests.ReadTimeout) as raised:
        requests.get(f"{API}/v1/invoice/assets", headers={"api-key": "test-api-key"}, timeout=5)
    assert str(raised.value) == "the sandbox stalls GET /v1/invoice/assets"


# -- callbacks without waiting ---------------------------------------------------------------


def test_failed_callbacks_are_retried_without_waiting(kunapay, order, monkeypatch):
    waits = []
    monkeypatch.setattr(delivery, "sleep", waits.append)
    kunapay.fail("callback_bad_signature")  # the shop answers each attempt with an error
    kunapay.pay(order)
    assert waits  # retried, so there were pauses to shorten
    assert set(waits) == {0}


def test_late_callbacks_wait_for_deliver_late_not_for_a_thread(kunapay, order, monkeypatch):
    timers = []
    monkeypatch.setattr(delivery, "_start_timer", timers.append)
    kunapay.fail("callback_late")
    kunapay.pay(order)
    assert timers == []
    assert kunapay.deliver_late() >= 1


# -- what a failing receiver leaves behind ---------------------------------------------------


def test_a_receiver_error_logged_in_lenient_mode_names_the_receiver(kunapay, order, caplog):
    def ship_mutants3(sender, **kwargs):
        raise ShippingFailed("mutants3")

    kunapay.strict = False
    signals.order_paid.connect(ship_mutants3, weak=False)
    try:
        kunapay.pay(order)
    finally:
        signals.order_paid.disconnect(ship_mutants3)
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Receiver")]
    assert logged == [f"Receiver {ship_mutants3!r} of a django-invoices signal failed"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are new in 3.11")
def test_the_raised_receiver_error_counts_the_others(kunapay, order):
    def ship(sender, **kwargs):
        raise ShippingFailed("ship mutants3")

    def invoice_books(sender, **kwargs):
        raise ShippingFailed("books mutants3")

    signals.order_paid.connect(ship, weak=False)
    signals.invoice_paid.connect(invoice_books, weak=False)
    try:
        with pytest.raises(ShippingFailed) as raised:
            kunapay.pay(order)
    finally:
        signals.order_paid.disconnect(ship)
        signals.invoice_paid.disconnect(invoice_books)
    assert len(kunapay.receiver_errors) == 2
    # The note is shown with the traceback, where a developer reads it.
    shown = "".join(traceback.format_exception_only(type(raised.value), raised.value))
    assert shown.endswith(
        "Set kunapay.strict = False to only log it, as production does. "
        "1 more receiver error(s) in kunapay.receiver_errors.\n"
    )
