"""The OpenAPI schema tells the truth: every answer each view gives, error codes and
optional keys included, is valid by the schema of that operation and status code."""

import copy
import json
import re

import jsonschema
import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from django_invoices.api import schema as openapi

from .conftest import API, INVOICE_ID, apply_status, invoice_payload

pytest.importorskip("drf_spectacular")

ASSETS_URL = reverse("django_invoices:api-assets")
QUESTIONNAIRE_URL = reverse("django_invoices:api-questionnaire")
CREATE_URL = reverse("django_invoices:api-invoice-create")
STATUS_URL = reverse("django_invoices:api-invoice-status")
BASE = {
    "API_URL": API,
    "API_KEY": "test-api-key",
    "BASE_URL": "https://shop.example",
    "RETRY_BACKOFF": 0,
    "RETRIES": 0,
}
CREATED = {"data": {"id": INVOICE_ID, "paymentLink": "https://pay.example/i/1"}}


def invoices_settings(**extra):
    return override_settings(DJANGO_INVOICES={**BASE, **extra})


@pytest.fixture
def document(db):
    response = APIClient().get(reverse("django_invoices:api-schema"), {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def _inline(node, components):
    """The schema with $refs replaced and OpenAPI 3.0's ``nullable`` made JSON Schema."""
    if isinstance(node, list):
        return [_inline(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(components[node["$ref"].rsplit("/", 1)[1]], components)
    result = {key: _inline(value, components) for key, value in node.items()}
    result.pop("readOnly", None)
    if result.pop("nullable", False):
        return {"anyOf": [result, {"type": "null"}]}
    return result


def body_schema(document, path, method, code):
    answer = document["paths"][path][method]["responses"][str(code)]
    assert list(answer["content"]) == ["application/json"]
    schema = answer["content"]["application/json"]["schema"]
    return _inline(copy.deepcopy(schema), document["components"]["schemas"])


def assert_conforms(document, path, method, response):
    """The answer's status is documented for the operation and its body is valid."""
    documented = document["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, response.status_code
    assert response["Content-Type"] == "application/json"
    jsonschema.validate(
        response.json(),
        body_schema(document, path, method, response.status_code),
        format_checker=jsonschema.FormatChecker(),
    )


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("clerk", password="pw", is_staff=True)


def test_each_operation_documents_every_code_it_can_answer(document):
    codes = {
        (path, method): sorted(int(code) for code in operation["responses"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert codes == {
        (ASSETS_URL, "get"): [200, 429, 502, 503],
        (QUESTIONNAIRE_URL, "get"): [200, 429, 502, 503],
        (CREATE_URL, "post"): [201, 400, 403, 404, 409, 429, 502, 503],
        (STATUS_URL, "get"): [200, 400, 404, 429],
    }


def test_asset_keys_other_than_code_are_optional(document):
    asset = document["components"]["schemas"]["Asset"]
    assert asset["required"] == ["code"]
    assert set(asset["properties"]) == {
        "code",
        "name",
        "description",
        "type",
        "precision",
        "position",
        "icons",
    }


def test_asset_answers_conform_with_and_without_icons(document, api):
    api.get(
        f"{API}/v1/invoice/assets",
        json={
            "data": [
                {"code": "EUR", "name": "Euro", "position": 1},
                {"code": "BTC", "icons": {"svg": "https://i.example/btc.svg"}, "precision": 8},
            ]
        },
    )
    response = APIClient().get(ASSETS_URL)
    assert response.status_code == 200
    assert [("icons" in asset) for asset in response.json()] == [True, False]  # BTC, EUR
    assert_conforms(document, ASSETS_URL, "get", response)


@pytest.mark.parametrize(
    ("provider", "code"),
    [({"status": 400, "json": {"errors": [{"code": "BAD"}]}}, 502), ({"status": 500}, 503)],
)
def test_catalogue_errors_conform(document, api, provider, code):
    api.get(f"{API}/v1/invoice/assets", **provider)
    api.get(f"{API}/v1/invoice/questionnaire", **provider)
    with invoices_settings():
        for url in (ASSETS_URL, QUESTIONNAIRE_URL):
            response = APIClient().get(url)
            assert response.status_code == code
            assert_conforms(document, url, "get", response)


def test_questionnaire_and_throttled_answers_conform(document, api):
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": [{"name": "email", "x": 1}]})
    client = APIClient()
    with invoices_settings(API_THROTTLE_RATES={"django_invoices_public": "1/min"}):
        first = client.get(QUESTIONNAIRE_URL)
        second = client.get(QUESTIONNAIRE_URL)
    assert (first.status_code, second.status_code) == (200, 429)
    assert_conforms(document, QUESTIONNAIRE_URL, "get", first)
    assert_conforms(document, QUESTIONNAIRE_URL, "get", second)


@pytest.fixture
def catalogue(api):
    api.get(f"{API}/v1/invoice/assets", json={"data": [{"code": "EUR"}, {"code": "USDT"}]})
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": [{"name": "email"}]})
    return api


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"orderId": "   "},
        {"orderId": "A-1", "amount": "-1"},
        {"orderId": "A-1", "asset": "DOGE"},
        {"orderId": "A-1", "questionnaireFields": ["", "email"]},
        {"orderId": "A-1", "surprise": 1},
        [],
        "not json",
    ],
    ids=["empty", "blank-id", "amount", "asset", "list-item", "unknown-key", "array", "parse"],
)
def test_every_400_of_create_conforms(document, catalogue, staff, order, body):
    client = APIClient()
    client.force_authenticate(staff)
    with invoices_settings():
        if body == "not json":
            response = client.post(CREATE_URL, "{nope", content_type="application/json")
        else:
            response = client.post(CREATE_URL, body, format="json")
    assert response.status_code == 400
    assert_conforms(document, CREATE_URL, "post", response)


def test_create_answers_conform_from_201_to_503(document, catalogue, staff, order):
    anonymous = APIClient()
    client = APIClient()
    client.force_authenticate(staff)
    answers = []
    with invoices_settings():
        answers.append(anonymous.post(CREATE_URL, {"orderId": "A-1"}, format="json"))  # 403
        answers.append(client.post(CREATE_URL, {"orderId": "Z-9"}, format="json"))  # 404
        catalogue.post(f"{API}/v1/invoice", status=400, json={"errors": [{"code": "BAD"}]})
        answers.append(client.post(CREATE_URL, {"orderId": "A-1"}, format="json"))  # 502
        catalogue.replace("POST", f"{API}/v1/invoice", status=500, body="oops")
        catalogue.get(f"{API}/v1/invoice", json={"data": []})  # the look-up after a 500
        answers.append(client.post(CREATE_URL, {"orderId": "A-1"}, format="json"))  # 503
        catalogue.replace("POST", f"{API}/v1/invoice", json=CREATED)
        answers.append(client.post(CREATE_URL, {"orderId": "A-1"}, format="json"))  # 201
        apply_status(order.invoices.get(), "PAID")
        answers.append(client.post(CREATE_URL, {"orderId": "A-1"}, format="json"))  # 409
    with invoices_settings(API_THROTTLE_RATES={"django_invoices_create": "1/min"}):
        client.post(CREATE_URL, {"orderId": "A-1"}, format="json")
        answers.append(client.post(CREATE_URL, {"orderId": "A-1"}, format="json"))  # 429
    assert [a.status_code for a in answers] == [403, 404, 502, 503, 201, 409, 429]
    for answer in answers:
        assert_conforms(document, CREATE_URL, "post", answer)


def test_status_answers_conform(document, api, invoice):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAYMENT_AWAITING")})
    client = APIClient()
    found = client.get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"})
    assert found.json()["completedAt"] is None  # nullable, and said so
    invalid = client.get(STATUS_URL, {"invoiceId": "nope", "orderId": " "})
    missing = client.get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "B-2"})
    with invoices_settings(API_THROTTLE_RATES={"django_invoices_public": "1/min"}):
        client.get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"})
        throttled = client.get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"})
    answers = [found, invalid, missing, throttled]
    assert [a.status_code for a in answers] == [200, 400, 404, 429]
    for answer in answers:
        assert_conforms(document, STATUS_URL, "get", answer)


def test_an_invoice_without_dates_or_payment_amount_conforms(document, invoice):
    response = APIClient().get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"})
    apply_status(invoice, "PAID")  # no re-read needed: settled
    settled = APIClient().get(STATUS_URL, {"invoiceId": INVOICE_ID, "orderId": "A-1"})
    for answer in (response, settled):
        assert answer.json()["expiresAt"] is None
        assert answer.json()["paymentAmount"] is None
    assert settled.json()["paymentUrl"] is None
    assert_conforms(document, STATUS_URL, "get", settled)


# -- what the schema says about an orderId is what the API does ------------------------


@pytest.mark.parametrize(
    ("order_id", "valid"),
    [
        ("A-1", True),
        (" A-1 ", True),  # trimmed
        ("Замовлення 7", True),
        ("", False),
        ("   ", False),
        ("\t\n", False),
        ("\u00a0\u2003", False),  # no-break and em spaces
        ("\x1c\x1f", False),  # separators Python's strip() takes off
        ("A\x00", False),
        ("x" * 129, False),
    ],
)
def test_the_schema_and_the_api_agree_on_order_ids(document, catalogue, staff, order_id, valid):
    pattern = document["components"]["schemas"]["InvoiceCreate"]["properties"]["orderId"]
    by_schema = len(order_id) <= pattern["maxLength"] and bool(
        re.search(pattern["pattern"], order_id)
    )
    client = APIClient()
    client.force_authenticate(staff)
    with invoices_settings():
        response = client.post(CREATE_URL, {"orderId": order_id}, format="json")
    # A valid id of no order is a 404; an invalid one a 400 naming orderId.
    assert by_schema is valid
    assert response.status_code == (404 if valid else 400)
    if not valid:
        assert "orderId" in response.json()


def test_the_patterns_are_the_ones_the_api_applies():
    assert re.fullmatch(openapi.POSITIVE_AMOUNT, "0.5")
    assert re.fullmatch(openapi.POSITIVE_AMOUNT, "10")
    for refused in ("0", "0.00", "-1", "1e3", "1.", ".5", "4.25e1"):
        assert not re.fullmatch(openapi.POSITIVE_AMOUNT, refused), refused
