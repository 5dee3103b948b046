"""What the REST API and its OpenAPI schema do at their edges, pinned because mutants of
``django_invoices/api/`` (schema, serializers, throttling) survived the rest of the suite.

- The schema's ``enum`` of asset codes and questionnaire field names leaves out what
  the API could never take (blank, padded, longer than the field), and
  keeps a code exactly as long as the field allows.
- The descriptions the schema falls back on (KUNA Pay unreadable, or listing nothing)
  say so in full.
- The schema reads the asset list once, without retries: someone waits for it.
- An ``orderId`` of exactly 128 characters is taken; a longer one is refused with
  DRF's message naming the limit.
- Failed logins: a budget of zero refuses every attempt (``Retry-After: 1``), the
  failures and the successes are kept in the cache as long as their window (no longer,
  no shorter), the throttle names no wait before it refused anything, and a
  per-username lock-out says how long it lasts.
- Whose failures count together: a Basic header however spaced and whatever colons the
  password holds counts against its username, a bad token sent again against that
  token; failures without an ``Authorization`` header are never counted.

Survivors of these modules that no test can kill are explained in
``.ci/mutation_survivors/api-checks-client.txt``.
"""

import base64
import copy
import json

import pytest
from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.test import override_settings
from django.urls import reverse
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from django_invoices.api.throttling import AuthFailureThrottle

from .conftest import API
from .http_mock import strict_mock
from .test_api_schema import ASSETS_URL, BASE, CREATE_URL

BASIC = ["rest_framework.authentication.BasicAuthentication"]


def invoices_settings(**extra):
    return override_settings(DJANGO_INVOICES={**BASE, **extra})


def _inline(node, components):
    if isinstance(node, list):
        return [_inline(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(components[node["$ref"].rsplit("/", 1)[1]], components)
    return {key: _inline(value, components) for key, value in node.items()}


def create_properties(assets, questionnaire, **extra_settings):
    """The ``InvoiceCreate`` body's properties as ``GET api/schema/`` serves them, with
    KUNA Pay's lists played by a mock (a list of items, or ``responses`` keywords), and
    the calls the schema made to KUNA Pay."""
    pytest.importorskip("drf_spectacular")
    with strict_mock() as mock:
        for kind, answer in (("assets", assets), ("questionnaire", questionnaire)):
            keywords = answer if isinstance(answer, dict) else {"json": {"data": answer}}
            mock.get(f"{API}/v1/invoice/{kind}", **keywords)
        with invoices_settings(**extra_settings):
            response = APIClient().get(reverse("django_invoices:api-schema"), {"format": "json"})
        calls = [call.request.url for call in mock.calls]
    cache.clear()
    assert response.status_code == 200
    schemas = json.loads(response.content)["components"]["schemas"]
    body = _inline(copy.deepcopy(schemas["InvoiceCreate"]), schemas)
    return body["properties"], calls


def enum_of(schema):
    (closed,) = [part for part in schema.get("allOf", [schema]) if "enum" in part]
    return closed["enum"]


# -- the catalogues' enums ----------------------------------------------------------------

LONGEST_CODE = "B" * 16  # AssetCodeField's max_length
TOO_LONG_CODE = "A" * 17
LONGEST_NAME = "x" * 64  # the questionnaire field name's max_length


def test_the_enums_name_exactly_the_values_the_api_could_take(db):
    assets = [
        {"code": "EUR"},
        {"code": " BTC"},  # padded: the API trims what it is sent
        {"code": ""},
        {"code": LONGEST_CODE},
        {"code": TOO_LONG_CODE},
    ]
    questionnaire = [
        {"name": "email"},
        {"name": "phone "},
        {"name": ""},
        {"name": LONGEST_NAME},
        {"name": "y" * 65},
    ]
    properties, _calls = create_properties(assets, questionnaire)
    assert sorted(enum_of(properties["asset"])) == sorted([LONGEST_CODE, "EUR"])
    assert enum_of(properties["questionnaireFields"]["items"]) == ["email", LONGEST_NAME]


def test_a_code_as_long_as_the_field_allows_is_taken_and_a_longer_one_refused(db, api, order):
    """What the enum says about the boundary, the API does: the longest code is valid
    (not the order's asset: 409), one more character a 400."""
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    api.get(
        f"{API}/v1/invoice/assets",
        json={"data": [{"code": "EUR"}, {"code": LONGEST_CODE}, {"code": TOO_LONG_CODE}]},
    )
    client = APIClient()
    client.force_authenticate(staff)
    with invoices_settings():
        longest = client.post(CREATE_URL, {"orderId": "A-1", "asset": LONGEST_CODE}, format="json")
        longer = client.post(CREATE_URL, {"orderId": "A-1", "asset": TOO_LONG_CODE}, format="json")
    assert longest.status_code == 409
    assert longer.status_code == 400
    assert "asset" in longer.json()


def test_the_fallback_when_kuna_pay_cannot_be_read_is_described_in_full(db):
    properties, _calls = create_properties({"status": 500}, {"status": 500})
    assert properties["asset"]["description"] == (
        "An asset code that ``GET api/assets/`` lists; others are refused (400). KUNA "
        "Pay's list could not be read when this schema was generated, so the schema "
        "cannot name them."
    )
    assert properties["questionnaireFields"]["description"] == (
        "Names of fields that ``GET api/questionnaire/`` lists; others are refused (400). "
        "KUNA Pay's list could not be read when this schema was generated, so the schema "
        "cannot name them."
    )


def test_an_empty_catalogue_is_described_as_taking_no_value(db):
    properties, _calls = create_properties([], [])
    assert properties["asset"]["description"] == (
        "An asset code that ``GET api/assets/`` lists; others are refused (400). KUNA Pay "
        "listed none when this schema was generated: no value is taken."
    )
    assert properties["questionnaireFields"]["description"] == (
        "Names of fields that ``GET api/questionnaire/`` lists; others are refused (400). "
        "KUNA Pay listed none when this schema was generated: no value is taken."
    )


def test_the_schema_reads_the_asset_list_once_without_retries(db):
    """Someone waits for the schema: a KUNA Pay that fails is asked once, whatever
    ``RETRIES`` says, and the schema renders with its fallback."""
    properties, calls = create_properties({"status": 500}, [{"name": "email"}], RETRIES=2)
    assert [url for url in calls if url.startswith(f"{API}/v1/invoice/assets")] == [
        f"{API}/v1/invoice/assets?take=100&skip=0"
    ]
    assert "could not be read" in properties["asset"]["description"]


# -- orderId's length, counted as sent --------------------------------------------------


def test_an_order_id_of_128_characters_is_taken_and_one_more_is_refused_by_name(db, api):
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    with invoices_settings():
        longest = client.post(CREATE_URL, {"orderId": "x" * 128}, format="json")
        longer = client.post(CREATE_URL, {"orderId": "x" * 129}, format="json")
    assert longest.status_code == 404  # valid, and no such order
    assert longer.status_code == 400
    assert longer.json() == {"orderId": ["Ensure this field has no more than 128 characters."]}


# -- failed logins --------------------------------------------------------------------


def basic(username, password):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}"}


@pytest.fixture
def clerk(db, api):
    from django.contrib.auth import get_user_model

    api.get(f"{API}/v1/invoice/assets", json={"data": [{"code": "EUR"}]})
    return get_user_model().objects.create_user("clerk", password="right", is_staff=True)


def test_a_budget_of_no_failed_logins_refuses_every_attempt_for_a_second(clerk):
    rates = {"django_invoices_auth_failure": "0/hour", "django_invoices_public": None}
    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=rates):
        refused = APIClient().get(ASSETS_URL, **basic("clerk", "right"))
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"


class _RecordingCache:
    """The default cache, noting how long each value it is given is to be kept."""

    def __init__(self, real):
        self.real = real
        self.timeouts = []

    def get(self, key, default=None):
        return self.real.get(key, default)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT):
        self.timeouts.append(timeout)
        self.real.set(key, value, timeout)


def test_failed_and_successful_logins_are_kept_as_long_as_their_window(clerk, monkeypatch):
    recording = _RecordingCache(AuthFailureThrottle.cache)
    monkeypatch.setattr(AuthFailureThrottle, "cache", recording)
    rates = {
        "django_invoices_auth_failure": "3/hour",
        "django_invoices_auth_failure_user": "5/min",
        "django_invoices_public": None,
    }
    client = APIClient()
    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=rates):
        assert client.get(ASSETS_URL, **basic("clerk", "wrong")).status_code == 401
        assert client.get(ASSETS_URL, **basic("clerk", "right")).status_code == 200
    # One failure under each budget, then the success, kept as long as the user window.
    assert recording.timeouts == [3600, 60, 60]


def test_the_failed_login_throttle_names_no_wait_before_it_refused_anything(db):
    request = Request(APIRequestFactory().get("/", **basic("clerk", "right")))
    throttle = AuthFailureThrottle(request)
    assert throttle.wait() is None


def test_the_per_username_lock_out_says_how_long_until_the_oldest_failure_leaves(
    clerk, monkeypatch
):
    now = [1_000_000.0]
    monkeypatch.setattr(AuthFailureThrottle, "timer", lambda self: now[0])
    rates = {"django_invoices_auth_failure_user": "2/hour", "django_invoices_public": None}
    client = APIClient()

    def attempt(password, address, at):
        now[0] = 1_000_000.0 + at
        return client.get(ASSETS_URL, REMOTE_ADDR=address, **basic("clerk", password))

    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=rates):
        assert attempt("wrong", "198.51.100.1", 0).status_code == 401
        assert attempt("wrong", "198.51.100.2", 100).status_code == 401
        waiting = attempt("right", "192.0.2.1", 600)
    assert (waiting.status_code, waiting["Retry-After"]) == (429, "3000")


# -- whose failures count together ------------------------------------------------------


class KeyAuthentication:
    """A shop's own scheme in the Authorization header (``Key <secret>``), which
    knows no key at all."""

    def authenticate(self, request):
        from rest_framework.exceptions import AuthenticationFailed

        if not request.META.get("HTTP_AUTHORIZATION", "").startswith("Key "):
            return None
        raise AuthenticationFailed("Unknown key.")

    def authenticate_header(self, request):
        return None


class HeaderKeyAuthentication:
    """A shop's own scheme outside the Authorization header (``X-Key``)."""

    def authenticate(self, request):
        from rest_framework.exceptions import AuthenticationFailed

        if "HTTP_X_KEY" not in request.META:
            return None
        raise AuthenticationFailed("Unknown key.")

    def authenticate_header(self, request):
        return None


PER_ADDRESS_TWO = {"django_invoices_auth_failure": "2/hour", "django_invoices_public": None}


def test_a_basic_header_with_two_spaces_counts_against_the_same_username(clerk):
    """DRF splits the header on any run of white space: "Basic  <token>" logs in as
    "Basic <token>" does, so its failures count against the same username."""
    client = APIClient()
    token = basic("clerk", "wrong-2")["HTTP_AUTHORIZATION"].split()[1]
    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=PER_ADDRESS_TWO):
        codes = [
            client.get(ASSETS_URL, **basic("clerk", "wrong-1")).status_code,
            client.get(ASSETS_URL, HTTP_AUTHORIZATION=f"Basic  {token}").status_code,
            client.get(ASSETS_URL, **basic("clerk", "right")).status_code,
        ]
    assert codes == [401, 401, 429]


def test_passwords_with_a_colon_count_against_their_username(clerk):
    client = APIClient()
    with invoices_settings(API_AUTH_CLASSES=BASIC, API_THROTTLE_RATES=PER_ADDRESS_TWO):
        codes = [
            client.get(ASSETS_URL, **basic("clerk", password)).status_code
            for password in ("a:1", "b:2", "right")
        ]
    assert codes == [401, 401, 429]


def test_a_bad_token_sent_again_and_again_is_throttled_and_another_token_is_not(clerk):
    client = APIClient()
    with invoices_settings(
        API_AUTH_CLASSES=[KeyAuthentication], API_THROTTLE_RATES=PER_ADDRESS_TWO
    ):
        codes = [
            client.get(ASSETS_URL, HTTP_AUTHORIZATION=f"Key {key}").status_code
            for key in ("stolen", "stolen", "stolen", "other")
        ]
    assert codes == [403, 403, 429, 403]


def test_failures_without_an_authorization_header_are_not_counted(clerk):
    """Only what an Authorization header presents is counted: a shop's own header
    scheme, and anyone without credentials, never meet this throttle."""
    client = APIClient()
    rates = {"django_invoices_auth_failure": "1/hour", "django_invoices_public": None}
    with invoices_settings(API_AUTH_CLASSES=[HeaderKeyAuthentication], API_THROTTLE_RATES=rates):
        codes = [client.get(ASSETS_URL, HTTP_X_KEY="bad").status_code for _ in range(3)]
        codes.append(client.get(ASSETS_URL).status_code)
    assert codes == [403, 403, 403, 200]
