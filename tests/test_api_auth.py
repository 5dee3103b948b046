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
