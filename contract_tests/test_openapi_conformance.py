"""schemathesis against the REST API's own OpenAPI schema, in process (WSGI).

Run with ``make schemathesis`` (not part of ``make test``: it generates hundreds of
requests). The app answers through Django's real WSGI handler, CSRF checks included;
KUNA Pay is played by ``responses``. Each operation is tried by an anonymous caller and
by a signed-in staff session, with a bounded number of examples; every answer must pass
schemathesis' standard checks: no server error, a documented status code, a body valid
by that code's schema, a documented content type.
"""

import os
from decimal import Decimal

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client, override_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from django_invoices.models import Invoice, Order
from tests.conftest import API, INVOICE_ID, invoice_payload
from tests.http_mock import strict_mock

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
# Bounded: examples per operation and caller (SCHEMATHESIS_MAX_EXAMPLES to change it).
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "60"))
CSRF_TOKEN = "schemathesisCsrfToken" + "0" * 11  # 32 letters and digits, as Django wants

SETTINGS = {
    "API_URL": API,
    "API_KEY": "test-api-key",
    "BASE_URL": "https://shop.example",
    "RETRIES": 0,
    "RETRY_BACKOFF": 0,
    # Throttled answers (429) would soon be all there is to see; tests/test_api_schema.py
    # checks them against the schema.
    "API_THROTTLE_RATES": {
        "django_invoices_public": None,
        "django_invoices_create": None,
        "django_invoices_auth_failure": None,
    },
}


@pytest.fixture(autouse=True)
def _wsgi_on_the_test_database(db):
    """Django's WSGI handler closes the connection after each request, which would end
    the test's transaction (and the in-memory database): switched off, as Django's own
    test client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        with override_settings(DJANGO_INVOICES=SETTINGS):
            yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def provider():
    """KUNA Pay: its catalogues, an invoice to create, and that invoice to re-read."""
    with strict_mock() as api:
        api.get(
            f"{API}/v1/invoice/assets",
            json={
                "data": [
                    {"code": "EUR", "name": "Euro", "precision": 2, "position": 1},
                    {"code": "BTC", "icons": {"svg": "https://i.example/btc.svg"}},
                ]
            },
        )
        api.get(f"{API}/v1/invoice/questionnaire", json={"data": [{"name": "email"}]})
        api.post(
            f"{API}/v1/invoice",
            json={"data": {"id": INVOICE_ID, "paymentLink": "https://pay.example/i/1"}},
        )
        api.get(
            f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAYMENT_AWAITING")}
        )
        yield api


@pytest.fixture(autouse=True)
def shop(db):
    """The orders the schema's examples name: A-1 to pay, P-1 already paid."""
    Order.objects.create(external_order_id="A-1", amount=Decimal("42.50"), asset="EUR")
    paid = Order.objects.create(
        external_order_id="P-1", amount=Decimal("5"), asset="EUR", status="paid"
    )
    Invoice.objects.create(
        provider_id="11111111-2222-4333-8444-555555555555",
        order=paid,
        status="paid",
        invoice_amount=paid.amount,
        invoice_asset="EUR",
    )


@pytest.fixture
def staff_session(db):
    """The cookies and header of a signed-in staff member's browser."""
    staff = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    return {
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF_TOKEN},
        "headers": {"X-CSRFToken": CSRF_TOKEN},
    }


# Loaded once at collection (pytest-django has set Django up by then); the schema view
# reads no database. schemathesis' lazy from_fixture loader does not run on pytest 9.
schema = schemathesis.openapi.from_wsgi("/invoices/api/schema/?format=json", get_wsgi_application())

HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests on every run, so CI is reproducible
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@HYPOTHESIS
def test_anonymous_callers_get_documented_answers(case):
    case.call_and_validate()


@schema.parametrize()
@HYPOTHESIS
def test_a_signed_in_staff_session_gets_documented_answers(case, staff_session):
    case.call_and_validate(**staff_session)
