"""The REST API: every endpoint's success, permission denial, validation and throttling."""

import json
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from django_invoices.models import Invoice, Order

from .conftest import API, INVOICE_ID, apply_status, invoice_payload

ASSETS = [
    {"code": "USDT", "name": "Tether", "precision": 2, "position": 2, "type": "Crypto"},
    {"code": "EUR", "name": "Euro", "precision": 2, "position": 1, "type": "Fiat", "x": 1},
]
QUESTIONNAIRE = [{"name": "email", "type": "string"}, {"name": "phone"}, {"label": "nameless"}]
CREATED = {"data": {"id": INVOICE_ID, "paymentLink": "https://pay.example/i/1"}}
BASE = {
    "API_URL": API,
    "API_KEY": "test-api-key",
    "PRIVATE_KEY": "test-private-key",
    "BASE_URL": "https://shop.example",
    "RETRY_BACKOFF": 0,
    "RETRIES": 0,
}

ASSETS_URL = reverse("django_invoices:api-assets")
QUESTIONNAIRE_URL = reverse("django_invoices:api-questionnaire")
CREATE_URL = reverse("django_invoices:api-invoice-create")
STATUS_URL = reverse("django_invoices:api-invoice-status")


def invoices_settings(**extra):
    return override_settings(DJANGO_INVOICES={**BASE, **extra})


@pytest.fixture
def client():
    return APIClient()


@pytest.fixture
def customer(db):
    return get_user_model().objects.create_user("buyer", password="pw")


@pytest.fixture
def stranger(db):
    return get_user_model().objects.create_user("stranger", password="pw")


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("clerk", password="pw", is_staff=True)


@pytest.fixture
def own_order(order, customer):
    order.user = customer
    order.save()
    return order


@pytest.fixture
def catalogue(api):
    api.get(f"{API}/v1/invoice/assets", json={"data": ASSETS})
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": QUESTIONNAIRE})
    return api


# -- assets and questionnaire ----------------------------------------------------------


def test_assets_are_listed_from_the_cache(client, catalogue):
    first = client.get(ASSETS_URL)
    second = client.get(ASSETS_URL)
    assert first.status_code == 200
    assert [item["code"] for item in first.json()] == ["EUR", "USDT"]  # by position
    assert "x" not in first.json()[0]  # only documented keys
    assert second.json() == first.json()
    assert len(catalogue.calls) == 1


def test_assets_with_odd_types_are_sorted_and_cleaned_not_a_500(client, api):
    """Positions of mixed types sort without comparing str to int; values of another
    type than documented are left out, as are assets without a string code."""
    odd = [
        {"code": "USDT", "name": "Tether", "position": 2},
        {"code": "EUR", "name": 5, "position": "1", "precision": "2"},
        {"code": "BTC", "position": True, "precision": 8, "icons": {"svg": 1}},
        {"code": "ETH", "description": None, "icons": {"svg": "https://i.example/eth.svg"}},
        {"code": 7, "position": 0},
        {"name": "no code"},
    ]
    api.get(f"{API}/v1/invoice/assets", json={"data": odd})
    response = client.get(ASSETS_URL)
    assert response.status_code == 200
    assert response.json() == [
        {"code": "BTC", "precision": 8},
        {"code": "ETH", "icons": {"svg": "https://i.example/eth.svg"}},
        {"code": "EUR"},
        {"code": "USDT", "name": "Tether", "position": 2},
    ]


def test_questionnaire_fields_are_listed(client, catalogue):
    response = client.get(QUESTIONNAIRE_URL)
    assert response.status_code == 200
    assert response.json() == [{"name": "email", "type": "string"}, {"name": "phone"}]


def test_catalogues_answer_503_in_drf_shape_when_the_provider_is_down(client, api):
    api.get(f"{API}/v1/invoice/assets", status=502, body="bad gateway")
    with invoices_settings():
        response = client.get(ASSETS_URL)
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The payment provider cannot be reached right now. Please try again."
    }


def test_a_down_provider_is_not_asked_again_by_every_catalogue_request(client, api):
    """The failure is remembered for a short while: three requests while KUNA Pay is
    down cost one fetch (with its retries), not three."""
    api.get(f"{API}/v1/invoice/assets", status=502, body="bad gateway")
    with invoices_settings(RETRIES=2, API_THROTTLE_RATES={"django_invoices_public": None}):
        codes = [client.get(ASSETS_URL).status_code for _ in range(3)]
    assert codes == [503, 503, 503]
    assert len(api.calls) == 1 + 2  # one fetch and its RETRIES


def test_catalogues_refuse_writes(client, catalogue):
    assert client.post(ASSETS_URL, {}).status_code == 405


@pytest.mark.parametrize("url", [ASSETS_URL, QUESTIONNAIRE_URL])
def test_public_endpoints_are_throttled(client, catalogue, url):
    with invoices_settings(API_THROTTLE_RATES={"django_invoices_public": "2/min"}):
        codes = [client.get(url).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# -- creating an invoice ---------------------------------------------------------------


def test_the_orders_owner_gets_the_payment_url(client, catalogue, customer, own_order):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    client.force_authenticate(customer)
    response = client.post(
        CREATE_URL,
        {"orderId": "A-1", "amount": "42.50", "asset": "EUR", "questionnaireFields": ["email"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["paymentUrl"] == "https://pay.example/i/1"
    assert data["invoiceId"] == INVOICE_ID
    assert data["orderId"] == "A-1"
    assert data["amount"] == "42.5"
    assert data["outcome"] == "pending"
    body = json.loads(catalogue.calls[-1].request.body)
    assert body["questionnaire"] == {"schemaFields": [{"name": "email"}]}


def test_a_second_request_reuses_the_open_invoice(client, catalogue, customer, own_order):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    client.force_authenticate(customer)
    first = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    second = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    assert first.json()["invoiceId"] == second.json()["invoiceId"]
    assert Invoice.objects.count() == 1


def test_staff_may_pay_for_any_order(client, catalogue, staff, order):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    client.force_authenticate(staff)
    assert client.post(CREATE_URL, {"orderId": "A-1"}, format="json").status_code == 201


def test_anonymous_users_are_refused(client, catalogue, own_order):
    response = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    assert response.status_code in (401, 403)
    assert "detail" in response.json()
    assert Invoice.objects.count() == 0


def test_nobody_pays_for_someone_elses_order(client, catalogue, stranger, own_order):
    client.force_authenticate(stranger)
    response = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such order."}
    assert Invoice.objects.count() == 0


def test_nobody_pays_for_an_order_linked_to_no_one(client, catalogue, stranger, order):
    client.force_authenticate(stranger)
    assert client.post(CREATE_URL, {"orderId": "A-1"}, format="json").status_code == 404


@pytest.mark.parametrize("user", [None, "stranger"])
def test_order_ids_cannot_be_probed_through_object_permissions(
    client, catalogue, stranger, own_order, user
):
    """With IsOrderOwnerOrStaff alone (no IsAuthenticated), an anonymous caller meets
    NotAuthenticated, not PermissionDenied: it must answer like an unknown order too."""
    if user:
        client.force_authenticate(stranger)
    classes = ["django_invoices.api.permissions.IsOrderOwnerOrStaff"]
    with invoices_settings(API_PERMISSION_CLASSES=classes):
        existing = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
        unknown = client.post(CREATE_URL, {"orderId": "Z-9"}, format="json")
    assert existing.status_code == unknown.status_code == 404
    assert existing.json() == unknown.json() == {"detail": "No such order."}
    assert dict(existing.headers).keys() == dict(unknown.headers).keys()
    assert Invoice.objects.count() == 0


def test_permission_classes_come_from_the_settings(client, catalogue, order):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    with invoices_settings(API_PERMISSION_CLASSES=["rest_framework.permissions.AllowAny"]):
        response = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    assert response.status_code == 201


def test_no_permission_classes_means_drfs_default_not_anyone(client, catalogue, order, settings):
    settings.REST_FRAMEWORK = {
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"]
    }
    with invoices_settings(API_PERMISSION_CLASSES=None):
        response = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    assert response.status_code in (401, 403)
    assert Invoice.objects.count() == 0


def test_unknown_order_is_404(client, catalogue, staff):
    client.force_authenticate(staff)
    response = client.post(CREATE_URL, {"orderId": "nope"}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "orderId"),
        ({"orderId": "A-1", "amount": 42.5}, "amount"),  # a JSON number
        ({"orderId": "A-1", "amount": "4.25e1"}, "amount"),
        ({"orderId": "A-1", "amount": "-1"}, "amount"),
        ({"orderId": "A-1", "amount": "0"}, "amount"),
        ({"orderId": "A-1", "amount": "42.50\n"}, "amount"),  # a trailing newline
        ({"orderId": "A-1", "amount": "\u0664\u0662.\u0665"}, "amount"),  # Arabic-Indic 42.5
        ({"orderId": "A-1", "asset": "DOGE"}, "asset"),  # not an invoice asset
        ({"orderId": "A-1", "asset": 5}, "asset"),
        ({"orderId": "A-1", "questionnaireFields": ["shoe size"]}, "questionnaireFields"),
        # QUESTIONNAIRE has a nameless field: that must not make "None" a name.
        ({"orderId": "A-1", "questionnaireFields": ["None"]}, "questionnaireFields"),
        ({"orderId": "A-1", "questionnaireFields": [5]}, "questionnaireFields"),
        ({"orderId": "A-1", "price": "1"}, "price"),  # unknown keys are refused
        ({"orderId": "x" * 129}, "orderId"),
        # The schema's maxLength counts what is sent, white space around it included.
        ({"orderId": " " * 10 + "A-1" + " " * 116}, "orderId"),
        ({"orderId": 7}, "orderId"),  # a JSON number, not text
        ({"orderId": True}, "orderId"),
    ],
)
def test_validation_errors_follow_drfs_shape(
    client, catalogue, customer, own_order, payload, field
):
    client.force_authenticate(customer)
    response = client.post(CREATE_URL, payload, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()
    # A list of messages, or for the items of a list field an object of lists by index.
    messages = errors[field] if isinstance(errors[field], dict) else {"": errors[field]}
    assert all(isinstance(item, list) for item in messages.values()), errors
    assert Invoice.objects.count() == 0


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "DOGE is not an asset invoices can be made in."),
        ("uk", "DOGE не є активом, у якому можна виставити рахунок."),  # noqa: RUF001
    ],
    ids=["en", "uk"],
)
def test_an_unknown_asset_is_named_in_the_error(
    client, catalogue, customer, own_order, language, expected
):
    client.force_authenticate(customer)
    with translation.override(language):
        response = client.post(CREATE_URL, {"orderId": "A-1", "asset": "DOGE"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"asset": [expected]}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"orderId": "A-1", "amount": "42.49"}, "amount"),
        ({"orderId": "A-1", "asset": "USDT"}, "asset"),  # offered, but not the order's
    ],
)
def test_what_the_order_is_not_is_409_with_the_fields_messages(
    client, catalogue, customer, own_order, payload, field
):
    """A well-formed request about an order that is not what the customer was shown (a
    stale price): 409, not 400, which the schema keeps for what it can describe."""
    client.force_authenticate(customer)
    response = client.post(CREATE_URL, payload, format="json")
    assert response.status_code == 409, response.json()
    assert response.json() == {field: [f"This is not the {field} of the order."]}
    assert Invoice.objects.count() == 0


def test_the_same_amount_written_otherwise_is_the_orders(client, catalogue, customer, own_order):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    client.force_authenticate(customer)
    body = {"orderId": " A-1 ", "amount": "0042.500", "asset": "EUR"}
    assert client.post(CREATE_URL, body, format="json").status_code == 201


def test_a_paid_order_is_409(client, catalogue, customer, own_order):
    own_order.status = "paid"
    own_order.save()
    client.force_authenticate(customer)
    response = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "Order A-1 is already paid."}


def test_provider_failures_are_503_or_502(client, catalogue, customer, own_order):
    client.force_authenticate(customer)
    catalogue.post(f"{API}/v1/invoice", status=400, json={"errors": [{"code": "BAD"}]})
    with invoices_settings():
        assert client.post(CREATE_URL, {"orderId": "A-1"}, format="json").status_code == 502
    catalogue.replace("POST", f"{API}/v1/invoice", status=500, body="oops")
    with invoices_settings():
        assert client.post(CREATE_URL, {"orderId": "A-1"}, format="json").status_code == 503


def test_creating_is_throttled(client, catalogue, customer, own_order):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    client.force_authenticate(customer)
    with invoices_settings(API_THROTTLE_RATES={"django_invoices_create": "1/min"}):
        first = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
        second = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    assert (first.status_code, second.status_code) == (201, 429)
    assert "detail" in second.json()


# -- reading an invoice's status -------------------------------------------------------


def test_status_by_invoice_id_and_order_id(client, api, invoice):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAYMENT_AWAITING")})
    response = client.get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"})
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {
        "invoiceId",
        "orderId",
        "outcome",
        "status",
        "orderStatus",
        "amount",
        "asset",
        "paymentAmount",
        "paymentAsset",
        "paidAmount",
        "paymentUrl",
        "expiresAt",
        "completedAt",
    }
    assert data["status"] == "awaiting_payment"
    assert data["outcome"] == "pending"
    assert data["amount"] == "42.5"
    assert data["paidAmount"] == "0"
    client.get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"})
    assert len(api.calls) == 1  # polling is throttled per invoice, like the return view


def test_status_of_a_paid_invoice_hides_the_payment_url(client, invoice):
    apply_status(invoice, "PAID")
    data = client.get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"}).json()
    assert data["outcome"] == "paid"
    assert data["paymentUrl"] is None


def test_status_offers_no_payment_url_for_an_open_invoice_of_a_paid_order(client, invoice):
    """The order was paid through another invoice: this one is still open at KUNA Pay,
    but the customer must not be invited to pay again (the return page agrees)."""
    Order.objects.filter(pk=invoice.order.pk).update(status="paid")
    assert Invoice.objects.get(pk=invoice.pk).is_open
    data = client.get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"}).json()
    assert data["outcome"] == "paid"
    assert data["paymentUrl"] is None


def test_status_with_the_provider_down_answers_what_is_stored(client, api, invoice):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", status=503, body="down")
    with invoices_settings():
        response = client.get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"})
    assert response.status_code == 200
    assert response.json()["status"] == "created"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"invoiceId": "nope", "orderId": "A-1"}, "invoiceId"),
        ({"orderId": "A-1"}, "invoiceId"),
        ({"invoiceId": INVOICE_ID}, "orderId"),
        # UUIDs in forms DRF's UUIDField takes but the schema's format and pattern do not.
        ({"invoiceId": INVOICE_ID.replace("-", ""), "orderId": "A-1"}, "invoiceId"),
        ({"invoiceId": "{" + INVOICE_ID + "}", "orderId": "A-1"}, "invoiceId"),
        ({"invoiceId": "urn:uuid:" + INVOICE_ID, "orderId": "A-1"}, "invoiceId"),
        (
            {"invoiceId": INVOICE_ID[:7] + "-" + INVOICE_ID[7:].replace("-", ""), "orderId": "A-1"},
            "invoiceId",
        ),
        ({"invoiceId": INVOICE_ID + "\n", "orderId": "A-1"}, "invoiceId"),
        ({"invoiceId": INVOICE_ID, "orderId": "A-1" + " " * 126}, "orderId"),
    ],
)
def test_status_validation(client, invoice, params, field):
    response = client.get(STATUS_URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_status_takes_an_invoice_id_in_capitals(client, invoice):
    apply_status(invoice, "PAID")
    response = client.get(STATUS_URL, {"invoiceId": INVOICE_ID.upper(), "orderId": "A-1"})
    assert response.status_code == 200
    assert response.json()["invoiceId"] == INVOICE_ID


def test_status_reveals_nothing_about_other_orders(client, invoice):
    Order.objects.create(external_order_id="B-2", amount=Decimal("1"), asset="EUR")
    for params in (
        {"invoiceId": INVOICE_ID, "orderId": "B-2"},
        {"invoiceId": str(uuid.uuid4()), "orderId": "A-1"},
    ):
        response = client.get(STATUS_URL, params)
        assert response.status_code == 404
        assert response.json() == {"detail": "No invoice with this invoiceId and orderId."}


def test_status_is_throttled(client, invoice):
    apply_status(invoice, "PAID")
    params = {"invoiceId": INVOICE_ID, "orderId": "A-1"}
    with invoices_settings(API_THROTTLE_RATES={"django_invoices_public": "1/min"}):
        codes = [client.get(STATUS_URL, params).status_code for _ in range(2)]
    assert codes == [200, 429]


def test_public_throttle_cannot_be_bypassed_with_x_forwarded_for(client, invoice):
    """Without NUM_PROXIES, X-Forwarded-For is the client's own writing: not an ident."""
    apply_status(invoice, "PAID")  # no provider read needed
    params = {"invoiceId": INVOICE_ID, "orderId": "A-1"}
    with invoices_settings(API_THROTTLE_RATES={"django_invoices_public": "1/min"}):
        codes = [
            client.get(STATUS_URL, params, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code
            for n in range(5)
        ]
    assert codes == [200, 429, 429, 429, 429]


def test_behind_a_proxy_num_proxies_picks_the_client_address(client, invoice):
    """With REST_FRAMEWORK["NUM_PROXIES"] set, DRF's reading of the header applies."""
    apply_status(invoice, "PAID")
    params = {"invoiceId": INVOICE_ID, "orderId": "A-1"}
    with (
        override_settings(REST_FRAMEWORK={"NUM_PROXIES": 1}),
        invoices_settings(API_THROTTLE_RATES={"django_invoices_public": "1/min"}),
    ):
        codes = [
            client.get(STATUS_URL, params, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code
            for n in (1, 2, 1)
        ]
    assert codes == [200, 200, 429]  # two customers behind the one proxy


def test_setting_one_rate_keeps_the_other_scopes_default(client, catalogue, customer, own_order):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    client.force_authenticate(customer)
    # The shop only loosens the public rate; creating keeps its default 10/min.
    with invoices_settings(API_THROTTLE_RATES={"django_invoices_public": "600/min"}):
        codes = [
            client.post(CREATE_URL, {"orderId": "A-1"}, format="json").status_code
            for _ in range(11)
        ]
    assert codes == [201] * 10 + [429]


def test_drfs_rate_for_a_scope_applies_when_the_app_setting_leaves_it_out(client, invoice):
    apply_status(invoice, "PAID")
    params = {"invoiceId": INVOICE_ID, "orderId": "A-1"}
    with (
        override_settings(
            REST_FRAMEWORK={"DEFAULT_THROTTLE_RATES": {"django_invoices_public": "2/min"}}
        ),
        invoices_settings(API_THROTTLE_RATES={}),
    ):
        codes = [client.get(STATUS_URL, params).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_throttling_can_be_switched_off(client, invoice):
    apply_status(invoice, "PAID")
    params = {"invoiceId": INVOICE_ID, "orderId": "A-1"}
    with invoices_settings(API_THROTTLE_RATES={"django_invoices_public": None}):
        codes = {client.get(STATUS_URL, params).status_code for _ in range(80)}
    assert codes == {200}


# -- OpenAPI ---------------------------------------------------------------------------


def test_openapi_schema_lists_the_apps_endpoints(client, catalogue):
    pytest.importorskip("drf_spectacular")
    response = client.get(reverse("django_invoices:api-schema"), {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert set(schema["paths"]) == {
        "/invoices/api/assets/",
        "/invoices/api/questionnaire/",
        "/invoices/api/invoices/",
        "/invoices/api/invoices/status/",
    }
    create = schema["paths"]["/invoices/api/invoices/"]["post"]
    assert "201" in create["responses"]
    names = {
        p["name"] for p in schema["paths"]["/invoices/api/invoices/status/"]["get"]["parameters"]
    }
    assert names == {"invoiceId", "orderId"}


def test_authentication_classes_come_from_the_settings(client, catalogue, own_order):
    classes = ["rest_framework.authentication.BasicAuthentication"]
    with invoices_settings(API_AUTH_CLASSES=classes):
        response = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


# -- bodies, settings given as classes, object permissions ---------------------------------


def test_a_json_body_in_the_charset_its_content_type_names_is_read(
    client, catalogue, customer, own_order
):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    client.force_authenticate(customer)
    body = json.dumps({"orderId": "A-1"}).encode("utf-16")
    response = client.generic("POST", CREATE_URL, body, "application/json; charset=utf-16")
    assert response.status_code == 201, response.json()


def test_a_form_body_is_read_by_the_projects_form_parser(client, catalogue, customer, own_order):
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    client.force_authenticate(customer)
    response = client.post(CREATE_URL, {"orderId": "A-1"}, format="multipart")
    assert response.status_code == 201, response.json()


def test_authentication_classes_may_be_given_as_classes(client, catalogue, own_order):
    from rest_framework.authentication import BasicAuthentication

    with invoices_settings(API_AUTH_CLASSES=[BasicAuthentication]):
        response = client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


def test_an_invoice_is_its_orders_to_the_owner_and_nobodys_without_a_user(
    invoice, customer, stranger
):
    from types import SimpleNamespace

    from django_invoices.api.permissions import IsOrderOwnerOrStaff

    Order.objects.filter(pk=invoice.order_id).update(user=customer)
    invoice = Invoice.objects.select_related("order").get(pk=invoice.pk)
    allowed = IsOrderOwnerOrStaff().has_object_permission
    assert allowed(SimpleNamespace(user=customer), None, invoice) is True
    assert allowed(SimpleNamespace(user=stranger), None, invoice) is False
    assert allowed(SimpleNamespace(user=None), None, invoice.order) is False


# -- the fields' rules and messages ----------------------------------------------------------


def test_drfs_own_schema_generator_describes_an_amount_as_wide_as_the_models():
    """36 digits, 18 of them decimals, written as a string: what the models store."""
    from rest_framework.schemas.openapi import AutoSchema

    from django_invoices.api.serializers import AmountField

    assert AutoSchema().map_field(AmountField()) == {
        "type": "string",
        "format": "decimal",
        "multipleOf": 1e-18,
        "maximum": 10**18,
        "minimum": -(10**18),
    }


def test_an_amount_below_one_is_taken_and_zero_is_not():
    from rest_framework.exceptions import ValidationError

    from django_invoices.api.serializers import PositiveAmountField

    assert PositiveAmountField().to_internal_value("0.5") == Decimal("0.5")
    for zero in ("0", "0.000"):
        with pytest.raises(ValidationError) as info:
            PositiveAmountField().to_internal_value(zero)
        assert info.value.detail == ["The amount must be greater than zero."]


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"orderId": "A-1", "questionnaireFields": ["shoe size", "age", "email"]},
            {"questionnaireFields": ["Unknown questionnaire field(s): age, shoe size."]},
        ),
        (
            {"orderId": "A-\x001"},
            {"orderId": ["Enter an order id.", "Null characters are not allowed."]},
        ),
        (
            {"orderId": "A-1", "price": "1", "currency": "EUR"},
            {
                "currency": ["This field is not accepted."],
                "price": ["This field is not accepted."],
            },
        ),
    ],
    ids=["unknown-questionnaire-fields", "nul-in-order-id", "unknown-keys"],
)
def test_what_is_refused_is_said_in_so_many_words(
    client, catalogue, customer, own_order, payload, errors
):
    client.force_authenticate(customer)
    response = client.post(CREATE_URL, payload, format="json")
    assert (response.status_code, response.json()) == (400, errors)


def test_an_asset_code_longer_than_an_order_can_store_is_refused_though_listed(
    client, api, customer, own_order
):
    api.get(f"{API}/v1/invoice/assets", json={"data": [{"code": "A" * 17}]})
    client.force_authenticate(customer)
    response = client.post(CREATE_URL, {"orderId": "A-1", "asset": "A" * 17}, format="json")
    assert (response.status_code, response.json()) == (
        400,
        {"asset": ["Ensure this field has no more than 16 characters."]},
    )
