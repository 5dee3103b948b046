"""The OpenAPI schema tells the truth: every answer each view gives, error codes and
optional keys included, is valid by the schema of that operation and status code."""

import copy
import json
import re
from types import SimpleNamespace

import jsonschema
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings
from django.urls import include, path, reverse
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from django_invoices.api import schema as openapi
from django_invoices.api.views import AssetListView

from .conftest import API, INVOICE_ID, apply_status, invoice_payload
from .http_mock import strict_mock

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


ASSETS = [{"code": "EUR"}, {"code": "USDT"}]
QUESTIONNAIRE = [{"name": "email"}]


def generate_schema(assets=None, questionnaire=None):
    """The schema as ``GET api/schema/`` serves it, KUNA Pay's catalogues played by a mock
    (a list of items, or a dict of ``responses`` keywords such as ``{"status": 500}``);
    the catalogues it cached are forgotten, for the test to play its own."""
    answers = {"assets": assets, "questionnaire": questionnaire}
    with strict_mock() as api:
        for kind, answer in answers.items():
            if answer is None:
                continue
            keywords = answer if isinstance(answer, dict) else {"json": {"data": answer}}
            api.get(f"{API}/v1/invoice/{kind}", **keywords)
        with invoices_settings():
            response = APIClient().get(reverse("django_invoices:api-schema"), {"format": "json"})
    cache.clear()
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture
def document(db):
    return generate_schema(ASSETS, QUESTIONNAIRE)


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
    api.get(f"{API}/v1/invoice/assets", json={"data": ASSETS})
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": QUESTIONNAIRE})
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
        (" " * 10 + "A-1" + " " * 116, False),  # 129 as sent, though 3 once trimmed
        ("\ufeffA", True),  # no white space for Python (JavaScript's \s would say it is)
        ("\ufeff", True),
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
    refused = ("0", "0.00", "-1", "1e3", "1.", ".5", "4.25e1", "\u0664\u0662", "42\n")
    for amount in refused:
        assert not re.fullmatch(openapi.POSITIVE_AMOUNT, amount), amount


@pytest.mark.parametrize(
    "pattern", [openapi.NON_BLANK_TEXT, openapi.POSITIVE_AMOUNT, openapi.AMOUNT, openapi.UUID_TEXT]
)
def test_the_patterns_mean_the_same_in_python_and_ecma_262(pattern):
    r"""\d and \s take other characters in Python's re (which schema-driven testers use)
    than in ECMA-262 (which the OpenAPI schema means): the patterns spell them out."""
    assert "\\d" not in pattern
    assert "\\s" not in pattern
    assert "\\w" not in pattern


@pytest.mark.parametrize("flags", [0, re.ASCII], ids=["python", "ascii"])
def test_the_order_id_pattern_takes_what_python_does_not_strip(document, flags):
    """Every character of the Basic Multilingual Plane, alone: the schema's pattern (as
    served, after drf-spectacular's rewriting) takes it exactly when DRF would not trim
    it away and it is no NUL; read by Python's re, and with re.ASCII as schemathesis
    reads patterns (where \\s would be ASCII white space only)."""
    served = document["components"]["schemas"]["InvoiceCreate"]["properties"]["orderId"]
    pattern = re.compile(served["pattern"], flags)
    disagree = [
        hex(code)
        for code in range(0x10000)
        if not 0xD800 <= code <= 0xDFFF
        and bool(pattern.search(chr(code))) is not (chr(code).strip() != "" and code != 0)
    ]
    assert disagree == []


# -- bodies: what the schema takes is what the API takes ---------------------------------


def create_body_schema(document):
    schemas = document["components"]["schemas"]
    return _inline(copy.deepcopy(schemas["InvoiceCreate"]), schemas)


def test_a_body_with_an_extra_key_is_refused_and_the_schema_says_so(
    document, catalogue, staff, order
):
    assert document["components"]["schemas"]["InvoiceCreate"]["additionalProperties"] is False
    client = APIClient()
    client.force_authenticate(staff)
    with invoices_settings():
        response = client.post(CREATE_URL, {"orderId": "A-1", "foo": 1}, format="json")
    assert response.status_code == 400
    assert response.json() == {"foo": ["This field is not accepted."]}


def test_the_schema_names_the_asset_codes_and_questionnaire_fields_of_kuna_pay(document):
    properties = create_body_schema(document)["properties"]
    asset = properties["asset"]
    fields = properties["questionnaireFields"]
    assert asset["allOf"][0]["enum"] == ["EUR", "USDT"]  # the list's order
    assert fields["items"]["allOf"][0]["enum"] == ["email"]
    assert fields["maxItems"] == 20
    assert "api/assets/" in asset["description"]
    assert "api/questionnaire/" in fields["description"]


def test_an_unknown_questionnaire_field_is_refused_and_not_in_the_enum(
    document, catalogue, staff, order
):
    body = {"orderId": "A-1", "questionnaireFields": ["email", "shoe size"]}
    with pytest.raises(jsonschema.ValidationError, match="shoe size"):
        jsonschema.validate(body, create_body_schema(document))
    client = APIClient()
    client.force_authenticate(staff)
    with invoices_settings():
        response = client.post(CREATE_URL, body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "questionnaireFields": ["Unknown questionnaire field(s): shoe size."]
    }


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"orderId": "A-1"}, True),
        ({"orderId": "Z-9"}, True),  # no such order: 404, not 400
        ({"orderId": "A-1", "amount": "42.5", "asset": "EUR"}, True),
        ({"orderId": "A-1", "amount": "0042.500"}, True),
        ({"orderId": "A-1", "amount": "1"}, True),  # not the order's: 409, not 400
        ({"orderId": "A-1", "asset": "USDT"}, True),  # offered, not the order's: 409
        ({"orderId": "A-1", "questionnaireFields": []}, True),
        ({"orderId": "A-1", "questionnaireFields": ["email", "email"]}, True),
        ({"orderId": "A-1", "questionnaireFields": ["email"] * 20}, True),
        ({"orderId": "A-1", "foo": 1}, False),
        ({"orderId": "A-1", "asset": "DOGE"}, False),
        ({"orderId": "A-1", "asset": "eur"}, False),
        ({"orderId": "A-1", "asset": 5}, False),
        ({"orderId": "A-1", "questionnaireFields": ["phone"]}, False),
        ({"orderId": "A-1", "questionnaireFields": [5]}, False),
        ({"orderId": "A-1", "questionnaireFields": "email"}, False),
        ({"orderId": "A-1", "questionnaireFields": ["email"] * 21}, False),
        ({"orderId": "A-1", "amount": 42.5}, False),
        ({"orderId": "A-1", "amount": "\u0664\u0662.\u0665"}, False),
        ({"orderId": "A-1", "amount": None}, False),
        ({"orderId": 1}, False),
        ({"orderId": None}, False),
        ({}, False),
    ],
)
def test_the_schema_and_the_api_agree_on_create_bodies(
    document, catalogue, staff, order, body, valid
):
    """A body valid by the schema is never a 400 (it may be 201, 404 or 409); an invalid
    one always is."""
    catalogue.post(f"{API}/v1/invoice", json=CREATED)
    errors = list(jsonschema.Draft4Validator(create_body_schema(document)).iter_errors(body))
    client = APIClient()
    client.force_authenticate(staff)
    with invoices_settings():
        response = client.post(CREATE_URL, body, format="json")
    assert (not errors) is valid, errors
    assert (response.status_code != 400) is valid, response.json()
    if valid:
        assert response.status_code in (201, 404, 409)


def test_an_amount_or_asset_not_the_orders_is_a_documented_409(document, catalogue, staff, order):
    client = APIClient()
    client.force_authenticate(staff)
    with invoices_settings():
        response = client.post(
            CREATE_URL, {"orderId": "A-1", "amount": "1", "asset": "USDT"}, format="json"
        )
    assert response.status_code == 409
    assert set(response.json()) == {"amount", "asset"}
    assert_conforms(document, CREATE_URL, "post", response)


def test_when_kuna_pay_cannot_be_read_the_schema_renders_and_says_so(db, api, staff, order):
    """The fallback: a plain string described as KUNA Pay's list, which could not be
    named; the API cannot check the values either then and answers 503, not 400."""
    document = generate_schema({"status": 500}, {"status": 500})
    properties = create_body_schema(document)["properties"]
    asset, fields = properties["asset"], properties["questionnaireFields"]
    assert "enum" not in asset and "allOf" not in asset
    assert "enum" not in fields["items"] and "allOf" not in fields["items"]
    assert "could not be read" in asset["description"]
    assert "could not be read" in fields["description"]
    assert (asset["maxLength"], fields["items"]["maxLength"]) == (16, 64)
    api.get(f"{API}/v1/invoice/assets", status=500)
    api.get(f"{API}/v1/invoice/questionnaire", status=500)
    client = APIClient()
    client.force_authenticate(staff)
    with invoices_settings():
        for extra in ({"asset": "DOGE"}, {"questionnaireFields": ["shoe size"]}):
            response = client.post(CREATE_URL, {"orderId": "A-1", **extra}, format="json")
            assert response.status_code == 503, extra
            assert_conforms(document, CREATE_URL, "post", response)


def test_the_schema_renders_when_no_keys_are_configured(db):
    """An offline build with no keys configured: the schema renders with the fallback."""
    with override_settings(DJANGO_INVOICES={"API_URL": API}):
        response = APIClient().get(reverse("django_invoices:api-schema"), {"format": "json"})
    assert response.status_code == 200
    asset = json.loads(response.content)["components"]["schemas"]["InvoiceCreate"]
    assert "could not be read" in asset["properties"]["asset"]["description"]


def test_empty_catalogues_take_no_value(db, api, staff):
    document = generate_schema([], [])
    properties = create_body_schema(document)["properties"]
    assert properties["asset"]["not"] == {}
    assert properties["questionnaireFields"]["maxItems"] == 0
    api.get(f"{API}/v1/invoice/assets", json={"data": []})
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": []})
    client = APIClient()
    client.force_authenticate(staff)
    for extra, code in (
        ({"asset": "EUR"}, 400),
        ({"questionnaireFields": ["email"]}, 400),
        ({"questionnaireFields": []}, 404),  # no order Z-9: valid, and no 400
    ):
        body = {"orderId": "Z-9", **extra}
        valid = jsonschema.Draft4Validator(create_body_schema(document)).is_valid(body)
        with invoices_settings():
            response = client.post(CREATE_URL, body, format="json")
        assert (response.status_code, valid) == (code, code != 400), extra


# -- the status endpoint's query -------------------------------------------------------


@pytest.mark.parametrize(
    ("invoice_id", "valid"),
    [
        (INVOICE_ID, True),
        (INVOICE_ID.upper(), True),
        ("00000000-0000-0000-0000-000000000000", True),
        (INVOICE_ID.replace("-", ""), False),
        ("{" + INVOICE_ID + "}", False),
        ("urn:uuid:" + INVOICE_ID, False),
        (INVOICE_ID[:7] + "-" + INVOICE_ID[7:].replace("-", ""), False),
        (INVOICE_ID + "\n", False),
        (" " + INVOICE_ID, False),
        ("", False),
        ("nope", False),
    ],
)
def test_the_schema_and_the_api_agree_on_invoice_ids(document, invoice, invoice_id, valid):
    apply_status(invoice, "PAID")  # no provider read
    parameters = document["paths"][STATUS_URL]["get"]["parameters"]
    (schema,) = [p["schema"] for p in parameters if p["name"] == "invoiceId"]
    by_schema = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.FormatChecker()
    ).is_valid(invoice_id)
    response = APIClient().get(STATUS_URL, {"invoiceId": invoice_id, "orderId": "A-1"})
    assert by_schema is valid
    assert (response.status_code != 400) is valid
    if not valid:
        assert "invoiceId" in response.json()


# -- the helpers, called directly: the views apply them once, when the module is imported --


class _ShopsOwnView(APIView):
    """An endpoint of the project's own, which the app's schema leaves out."""

    def get(self, request):
        return Response({})


urlpatterns = [
    path("invoices/", include("django_invoices.urls")),
    path("shop/api/things/", _ShopsOwnView.as_view()),
]


@pytest.mark.urls(__name__)
def test_the_schema_view_describes_this_app_and_nothing_else_of_the_project(db):
    from rest_framework.test import APIRequestFactory

    from django_invoices import __version__

    with strict_mock() as api:
        api.get(f"{API}/v1/invoice/assets", json={"data": ASSETS})
        api.get(f"{API}/v1/invoice/questionnaire", json={"data": QUESTIONNAIRE})
        with invoices_settings():
            request = APIRequestFactory().get("/schema/", {"format": "json"})
            response = openapi.schema_view()(request)
            response.render()
    cache.clear()
    document = json.loads(response.content)
    assert document["info"] == {
        "title": "django-invoices",
        "version": __version__,
        "description": "Pay for orders through KUNA Pay invoices.",
    }
    assert sorted(document["paths"]) == [
        "/invoices/api/assets/",
        "/invoices/api/invoices/",
        "/invoices/api/invoices/status/",
        "/invoices/api/questionnaire/",
    ]


def test_only_this_apps_endpoints_are_kept_whatever_their_callback_is():
    def plain(request):
        return None

    ours = openapi.extend_schema  # any callable of the app's
    endpoints = [
        ("/a/", "^a/$", "GET", plain),  # no "cls": a plain Django view
        ("/b/", "^b/$", "GET", SimpleNamespace(cls=_ShopsOwnView)),
        ("/c/", "^c/$", "GET", SimpleNamespace(cls=AssetListView)),
        ("/d/", "^d/$", "GET", ours),
    ]
    assert openapi.only_these_endpoints(endpoints) == [endpoints[2]]


def test_a_views_method_schema_is_drf_spectaculars_whatever_the_projects_default():
    from drf_spectacular.openapi import AutoSchema

    def get(self, request):
        return None

    assert openapi.extend_schema(summary="Listed")(get) is get
    assert issubclass(get.kwargs["schema"], AutoSchema)

    class OwnSchema(AutoSchema):
        pass

    def post(self, request):
        return None

    post.kwargs = {"schema": OwnSchema}  # set by the project: extended, not replaced
    openapi.extend_schema(summary="Made")(post)
    assert issubclass(post.kwargs["schema"], OwnSchema)


def test_a_class_gets_each_methods_schema_and_a_field_its_own():
    from drf_spectacular.drainage import get_override

    class Listing(APIView):
        def get(self, request):
            return Response([])

    assert openapi.extend_schema_view(get=openapi.schema(summary="Listed"))(Listing) is Listing
    assert "schema" in Listing.get.kwargs

    class Field:
        pass

    assert openapi.extend_schema_field({"type": "string"})(Field) is Field
    assert get_override(Field, "field") == {"type": "string"}


def test_error_answers_are_described_with_drfs_bodies():
    answers = openapi.responses({200: "the list"}, 400, 404, 409)
    assert answers[200] == "the list"
    assert [(answers[code].response, answers[code].description) for code in (400, 404, 409)] == [
        (openapi.VALIDATION_ERROR, openapi.ERROR_DESCRIPTIONS[400]),
        (openapi.DETAIL_ERROR, openapi.ERROR_DESCRIPTIONS[404]),
        (openapi.CONFLICT_ERROR, openapi.ERROR_DESCRIPTIONS[409]),
    ]


def test_request_examples_are_named_in_words_and_sent_as_requests_only():
    (example,) = openapi.request_examples(pay_an_order={"orderId": "A-1"})
    assert (example.name, example.value, example.request_only) == (
        "Pay an order",
        {"orderId": "A-1"},
        True,
    )


def test_without_drf_spectacular_every_helper_does_nothing(monkeypatch):
    monkeypatch.setattr(openapi, "AVAILABLE", False)

    def get(self, request):
        return None

    assert openapi.extend_schema(summary="x")(get) is get
    assert not hasattr(get, "kwargs")
    assert openapi.extend_schema_view(get=None)(AssetListView) is AssetListView
    assert openapi.extend_schema_field({"type": "string"})(int) is int
    assert openapi.responses({200: "x"}, 400) == {}
    assert openapi.request_examples(pay_an_order={"orderId": "A-1"}) == []
    assert openapi.view_schema() is None


def test_with_drf_spectacular_views_use_its_schema():
    from drf_spectacular.openapi import AutoSchema

    assert isinstance(openapi.view_schema(), AutoSchema)
