"""schemathesis against the REST API's own OpenAPI schema, in process (WSGI).

Run with ``make schemathesis`` (not part of ``make test``: it generates hundreds of
requests). The app answers through Django's real WSGI handler, CSRF checks included;
KUNA Pay is played by ``responses``. Each operation is tried by an anonymous caller and
by a signed-in staff session (registered with schemathesis as the schema's
``cookieAuth``), with a bounded number of examples; every answer must pass all of
schemathesis' checks (``case.call_and_validate()`` without ``checks=``): no server
error, documented status codes, content types, headers and bodies, valid requests
accepted, invalid ones refused, a required header's absence refused, undocumented
methods refused, and authentication not ignored.

Checks that cannot apply here, and so see nothing: ``use_after_free``,
``ensure_resource_availability`` and ``object_level_authorization`` follow resources
from one request to the next (stateful runs); the API has no such links. Schemathesis
enables ``max_response_time`` only with a limit, and none is set: a time budget says
nothing about conformance and would make the run flaky on a busy machine.
"""

import os
from datetime import timedelta
from decimal import Decimal

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, settings

from django_invoices.models import Invoice, Order
from tests.conftest import API, INVOICE_ID, invoice_payload
from tests.http_mock import strict_mock

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


ASSETS = [
    {"code": "EUR", "name": "Euro", "precision": 2, "position": 1},
    {"code": "BTC", "icons": {"svg": "https://i.example/btc.svg"}},
]
QUESTIONNAIRE = [{"name": "email"}, {"name": "phone"}]


def catalogues(api):
    """KUNA Pay's asset and questionnaire lists: the schema names them in enums."""
    api.get(f"{API}/v1/invoice/assets", json={"data": ASSETS})
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": QUESTIONNAIRE})


@pytest.fixture(autouse=True)
def provider():
    """KUNA Pay: its catalogues, an invoice to create, and that invoice to re-read."""
    with strict_mock() as api:
        catalogues(api)
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


# The staff session's key: schemathesis builds some cases (its coverage phase) when it
# collects the tests, before any database exists, so the session is made under a key
# known in advance by the staff_session fixture, in each test's own transaction.
STAFF_SESSION_KEY = "schemathesisstaffsession00000000"


@pytest.fixture
def staff_session(db):
    """A staff member signed in, as django.contrib.auth.login() records it (the test
    settings keep sessions in the database)."""
    staff = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    data = {
        auth.SESSION_KEY: staff._meta.pk.value_to_string(staff),
        auth.BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
        auth.HASH_SESSION_KEY: staff.get_session_auth_hash(),
    }
    Session.objects.create(
        session_key=STAFF_SESSION_KEY,
        session_data=SessionStore().encode(data),
        expire_date=timezone.now() + timedelta(seconds=django_settings.SESSION_COOKIE_AGE),
    )
    return STAFF_SESSION_KEY


class StaffSession:
    """A signed-in staff member's session cookie, the schema's ``cookieAuth``, as
    schemathesis' auth provider.

    schemathesis sets it on every case except those whose point is to leave the
    session out (negative data about ``cookieAuth``: 403 expected), and its
    ``ignored_auth`` check sends a signed-in request that succeeded again without the
    session and with a made-up one, expecting 403 both times.
    """

    def get(self, case, context):
        return STAFF_SESSION_KEY

    def set(self, case, data, context):
        case.cookies = {**(case.cookies or {}), "sessionid": data}


# Django's CSRF check on unsafe requests from a session: the csrftoken cookie and the
# X-CSRFToken header, given to each call rather than set on the case. The schema
# declares no csrftoken cookie (it is no credential), and an undeclared cookie on a
# case makes schemathesis count the whole case as invalid data: no valid request would
# be checked for being accepted.
CSRF = {"cookies": {"csrftoken": CSRF_TOKEN}, "headers": {"X-CSRFToken": CSRF_TOKEN}}


# Loaded once at collection (pytest-django has set Django up by then; the schema view
# reads no database), with KUNA Pay's catalogues played so that the schema names the
# asset codes and questionnaire fields the API takes (cached, as the views read them).
# schemathesis' lazy from_fixture loader does not run on pytest 9.
with strict_mock() as _api, override_settings(DJANGO_INVOICES=SETTINGS):
    catalogues(_api)
    schema = schemathesis.openapi.from_wsgi(
        "/invoices/api/schema/?format=json", get_wsgi_application()
    )

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


@schema.auth(StaffSession)
@schema.parametrize()
@HYPOTHESIS
def test_a_signed_in_staff_session_gets_documented_answers(case, staff_session):
    case.call_and_validate(**CSRF)


def test_the_schema_under_test_names_kuna_pays_catalogues():
    """The run tests the closed schema: KUNA Pay's lists were read when it was loaded."""
    components = schema.raw_schema["components"]["schemas"]
    assert components["InvoiceCreate"]["additionalProperties"] is False
    assert components["AssetEnum"]["enum"] == ["BTC", "EUR"]  # by position, then code
    assert components["QuestionnaireFieldsEnum"]["enum"] == ["email", "phone"]
