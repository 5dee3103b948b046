"""Who the REST API believes: the session by default, and failed logins are limited."""

import base64

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from django_invoices import conf
from django_invoices.api.views import InvoicesAPIView
from django_invoices.models import Invoice

from .conftest import API, INVOICE_ID

CREATE_URL = reverse("django_invoices:api-invoice-create")
ASSETS_URL = reverse("django_invoices:api-assets")
CREATED = {"data": {"id": INVOICE_ID, "paymentLink": "https://pay.example/i/1"}}
BASIC = ["rest_framework.authentication.BasicAuthentication"]
SESSION = "rest_framework.authentication.SessionAuthentication"


def invoices_settings(**extra):
    base = {"API_URL": API, "API_KEY": "k", "BASE_URL": "https://shop.example", "RETRIES": 0}
    return override_settings(DJANGO_INVOICES={**base, **extra})


def basic(username, password):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("clerk", password="right", is_staff=True)


@pytest.fixture
def catalogue(api):
    api.get(f"{API}/v1/invoice/assets", json={"data": [{"code": "EUR"}]})
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": []})
    return api


def test_the_default_is_the_session_alone():
    assert conf.DEFAULTS["API_AUTH_CLASSES"] == [
        "rest_framework.authentication.SessionAuthentication"
    ]
    with invoices_settings():
        names = [type(a).__name__ for a in InvoicesAPIView().get_authenticators()]
    assert names == ["SessionAuthentication"]


def test_a_password_in_a_basic_header_is_not_even_read_by_default(catalogue, staff, order):
    """Even the right password: no password is taken over the API unless the shop
    asks for Basic (so none can be guessed there)."""
    client = APIClient()
    with invoices_settings():
        response = client.post(
            CREATE_URL, {"orderId": "A-1"}, format="json", **basic("clerk", "right")
        )
    assert response.status_code == 403
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert Invoice.objects.count() == 0


def test_a_signed_in_session_pays_with_its_csrf_token(catalogue, staff, order):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)
    with invoices_settings():
        refused = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
        token = "csrf" * 8  # what a page of the shop would have set as the cookie
        client.cookies["csrftoken"] = token
        accepted = client.post(
            CREATE_URL, {"orderId": "A-1"}, format="json", HTTP_X_CSRFTOKEN=token
        )
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("CSRF Failed")
    assert accepted.status_code == 201


def test_failed_basic_logins_are_throttled_before_the_password_is_checked(catalogue, staff, order):
    client = APIClient()
    rates = {"django_invoices_auth_failure": "3/hour"}
    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=rates):
        guesses = [
            client.get(ASSETS_URL, **basic("clerk", f"guess-{n}")).status_code for n in range(5)
        ]
        right = client.get(ASSETS_URL, **basic("clerk", "right"))
        elsewhere = client.get(ASSETS_URL, REMOTE_ADDR="198.51.100.7", **basic("clerk", "right"))
    assert guesses == [401, 401, 401, 429, 429]
    # The right password does not get through from the address that guessed...
    assert right.status_code == 429
    assert "Retry-After" in right
    # ...but another address is not blocked by someone else's guesses.
    assert elsewhere.status_code == 200


@pytest.mark.parametrize("separator", ["\t", "  ", " \t "])
def test_guesses_are_counted_however_the_header_spaces_its_scheme(catalogue, staff, separator):
    """DRF splits the Authorization header on any whitespace, so a password sent after a
    tab is checked like any other: it must count towards the same limit."""
    client = APIClient()
    rates = {"django_invoices_auth_failure": "2/hour"}

    def guess(n):
        token = base64.b64encode(f"clerk:guess-{n}".encode()).decode()
        return client.get(ASSETS_URL, HTTP_AUTHORIZATION=f"Basic{separator}{token}").status_code

    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=rates):
        guesses = [guess(n) for n in range(4)]
        right = client.get(ASSETS_URL, **basic("clerk", "right")).status_code
    assert guesses == [401, 401, 429, 429]
    assert right == 429


def test_successful_logins_and_anonymous_calls_are_not_counted(catalogue, staff):
    client = APIClient()
    rates = {"django_invoices_auth_failure": "2/hour", "django_invoices_public": None}
    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=rates):
        codes = [client.get(ASSETS_URL, **basic("clerk", "right")).status_code for _ in range(4)]
        codes += [client.get(ASSETS_URL).status_code for _ in range(4)]
    assert codes == [200] * 8


def test_the_failed_login_limit_can_be_switched_off(catalogue, staff):
    client = APIClient()
    rates = {"django_invoices_auth_failure": None, "django_invoices_public": None}
    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=rates):
        codes = {client.get(ASSETS_URL, **basic("clerk", "wrong")).status_code for _ in range(25)}
    assert codes == {401}


STATUS_URL = reverse("django_invoices:api-invoice-status")


def test_twenty_wrong_passwords_from_one_address_lock_out_only_that_guess(catalogue, staff, order):
    """Behind a NAT (one address for everyone), a guesser locks out the username it
    guesses at from that address, and nobody else: a signed-in session, another user's
    right password and anonymous callers from the same address still get through."""
    other = get_user_model().objects.create_user("cashier", password="also-right")
    client, session = APIClient(), APIClient()
    session.force_login(staff)
    with invoices_settings(API_AUTH_CLASSES=[*BASIC, SESSION]):
        guesses = [
            client.get(ASSETS_URL, **basic("clerk", f"guess-{n}")).status_code for n in range(21)
        ]
        assert guesses == [401] * 20 + [429]
        assert client.get(ASSETS_URL, **basic("clerk", "right")).status_code == 429
        assert session.get(ASSETS_URL).status_code == 200
        assert client.get(ASSETS_URL, **basic(other.username, "also-right")).status_code == 200
        assert client.get(ASSETS_URL).status_code == 200
        lookup = {"invoiceId": INVOICE_ID, "orderId": "A-1"}
        assert client.get(STATUS_URL, lookup).status_code == 404  # answered, not locked out


def test_guesses_at_one_username_from_many_addresses_stop_except_where_it_logged_in(
    catalogue, staff
):
    client = APIClient()
    rates = {"django_invoices_auth_failure_user": "5/hour", "django_invoices_public": None}
    home = "203.0.113.10"
    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=rates):
        assert (
            client.get(ASSETS_URL, REMOTE_ADDR=home, **basic("clerk", "right")).status_code == 200
        )
        spread = [
            client.get(
                ASSETS_URL, REMOTE_ADDR=f"198.51.100.{n}", **basic("clerk", "wrong")
            ).status_code
            for n in range(7)
        ]
        assert spread == [401] * 5 + [429] * 2
        # A new address is refused even with the right password while the guessing
        # lasts; the address the user logged in from keeps working.
        new = client.get(ASSETS_URL, REMOTE_ADDR="192.0.2.1", **basic("clerk", "right"))
        assert new.status_code == 429
        assert (
            client.get(ASSETS_URL, REMOTE_ADDR=home, **basic("clerk", "right")).status_code == 200
        )


def test_the_failed_login_budgets_are_twenty_per_address_and_a_hundred_per_username():
    rates = conf.DEFAULTS["API_THROTTLE_RATES"]
    assert rates["django_invoices_auth_failure"] == "20/hour"
    assert rates["django_invoices_auth_failure_user"] == "100/hour"


def test_a_proxy_django_knows_of_and_drf_does_not_is_warned_of(settings):
    from django.core.checks import run_checks

    def w006():
        return [m.id for m in run_checks() if m.id == "django_invoices.W006"]

    assert w006() == []
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert w006() == ["django_invoices.W006"]
    settings.REST_FRAMEWORK = {"NUM_PROXIES": 1}
    assert w006() == []


def test_a_request_through_an_unknown_proxy_is_logged_once(catalogue, caplog, monkeypatch):
    from django_invoices.api import throttling

    monkeypatch.setattr(throttling, "_said", [])
    client = APIClient()
    with invoices_settings():
        for _ in range(3):
            client.get(ASSETS_URL, HTTP_X_FORWARDED_FOR="203.0.113.5")
    said = [r for r in caplog.records if "NUM_PROXIES" in r.getMessage()]
    assert len(said) == 1


def test_a_lock_out_lasts_until_the_oldest_failure_is_out_of_the_window(
    catalogue, staff, monkeypatch
):
    """Three failures an hour allowed: the fourth request waits, and is told how long,
    until the oldest of them is an hour old (the failures are kept that long too)."""
    from types import SimpleNamespace

    from django.core.cache.backends import base, locmem

    from django_invoices.api.throttling import AuthFailureThrottle

    now = [1_000_000.0]
    monkeypatch.setattr(AuthFailureThrottle, "timer", lambda self: now[0])
    for module in (base, locmem):  # when the cache's entries expire
        monkeypatch.setattr(module, "time", SimpleNamespace(time=lambda: now[0]))
    client = APIClient()
    rates = {"django_invoices_auth_failure": "3/hour", "django_invoices_public": None}
    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=rates):

        def attempt(password, at):
            now[0] = 1_000_000.0 + at
            return client.get(ASSETS_URL, **basic("clerk", password))

        assert [attempt("wrong", at).status_code for at in (0, 10, 20)] == [401] * 3
        waiting = attempt("right", 600)
        assert (waiting.status_code, waiting["Retry-After"]) == (429, "3000")
        assert attempt("right", 3599)["Retry-After"] == "1"
        assert attempt("right", 3600).status_code == 200
