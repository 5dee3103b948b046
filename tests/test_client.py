import json
from decimal import Decimal
from unittest import mock as unittest_mock

import pytest
import requests
import responses
from responses import matchers

from django_invoices.amounts import format_amount, parse_amount
from django_invoices.client import KunaPayClient
from django_invoices.exceptions import (
    AuthenticationFailed,
    InvalidResponse,
    KunaPayError,
    NotFound,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderValidationError,
    RateLimited,
)

from .conftest import API, INVOICE_ID

KEY = "private-key-example"
# Signatures written out literally, computed once outside this project with Python's
# hmac module (HMAC-SHA384 of path+query, nonce and body; "{}" for a body-less GET), so a
# wrong recipe in django_invoices.signing or in the client cannot pass by agreeing with
# itself.
SIGNED_POST_VECTOR = (
    "4c952d7c957a171f015516b2e3cd8eb000d869ad8fb759d39cfd970087a97b9c"
    "5c2c77b067f5b376347e3531f185b2d0"
)
SIGNED_GET_VECTORS = (
    "994b77bc527df707c11ff60263f3a99857ab55df4e6c616c1265baf153cb78c4"
    "b123b9d23e0919943490272ef5d35b23",
    "5bf5709a6632e831d717bbadaa5ef6e3ba8e53eecff7221e93cd65953e8d78d9"
    "3d2c8efba4c973daeb818f5d9943d370",
)
SANDBOX_PREFIX_VECTOR = (
    "cd5ce44fe0be7ae44e6a3a6e218f77b6bc4d28316ede50756d475c87fb13c1e9"
    "9f132b8d34343b5dba867caef54dd504"
)


def api_key_client(**kwargs):
    return KunaPayClient(API, api_key="the-api-key", retries=2, sleep=lambda s: None, **kwargs)


def signed_client(**kwargs):
    return KunaPayClient(
        API,
        public_key="the-public-key",
        private_key=KEY,
        auth_mode="signed",
        clock=lambda: 1700000000.0,
        sleep=lambda s: None,
        **kwargs,
    )


def test_api_key_mode_sends_the_key_header_and_no_signature(api):
    api.get(f"{API}/v1/invoice/assets", json={"data": [{"code": "EUR"}]})
    assert api_key_client().list_assets() == [{"code": "EUR"}]
    sent = api.calls[0].request
    assert sent.headers["api-key"] == "the-api-key"
    assert "signature" not in sent.headers
    assert "public-key" not in sent.headers


def test_signed_mode_matches_the_fixed_vector(api):
    api.post(f"{API}/v1/invoice", json={"data": {"id": INVOICE_ID, "paymentLink": "https://p/1"}})
    signed_client().create_invoice(amount=Decimal("100.00"), asset="USDT")
    sent = api.calls[0].request
    assert sent.body == b'{"amount":"100","asset":"USDT"}'
    assert sent.headers["public-key"] == "the-public-key"
    assert sent.headers["nonce"] == "1700000000000"
    # HMAC-SHA384('/v1/invoice' '1700000000000' '{"amount":"100","asset":"USDT"}')
    assert sent.headers["signature"] == SIGNED_POST_VECTOR
    assert "api-key" not in sent.headers
    # The private key itself never leaves the machine.
    assert KEY not in json.dumps(dict(sent.headers))


def test_signed_get_signs_path_with_query_and_nonces_increase(api):
    api.get(f"{API}/v1/invoice", json={"data": []})
    client = signed_client()
    client.list_invoices(external_order_id="A 1/ж", take=5)
    client.list_invoices(external_order_id="A 1/ж", take=5)
    first, second = (call.request for call in api.calls)
    path = first.path_url
    assert path == "/v1/invoice?externalOrderId=A+1%2F%D0%B6&take=5"
    assert (first.headers["nonce"], second.headers["nonce"]) == ("1700000000000", "1700000000001")
    # HMAC-SHA384(path '1700000000000' '{}'), then the same with the next nonce.
    assert (first.headers["signature"], second.headers["signature"]) == SIGNED_GET_VECTORS


def test_cyrillic_description_is_sent_as_utf8_and_the_signature_covers_those_bytes(api):
    api.post(f"{API}/v1/invoice", json={"data": {"id": INVOICE_ID}})
    signed_client().create_invoice(
        amount="10", asset="UAH", product_description="Кава та чай — 2 шт."
    )
    sent = api.calls[0].request
    assert sent.body == (
        '{"amount":"10","asset":"UAH","productDescription":"Кава та чай — 2 шт."}'.encode()
    )
    assert b"\\u" not in sent.body
    # HMAC-SHA384 over '/v1/invoice' '1700000000000' and the body's UTF-8 bytes.
    assert sent.headers["signature"] == (
        "1f0ba7bc96cedbbace90a6bc12c4c9ffc50cd897cb63cc904daae60b7d156b81"
        "faca084da1f3348ca05124eb4ff82e45"
    )


def test_create_body_uses_the_providers_field_names(api):
    api.post(f"{API}/v1/invoice", json={"data": {"id": INVOICE_ID}})
    api_key_client().create_invoice(
        amount=Decimal("0.000000100"),
        asset="BTC",
        external_order_id="A-1",
        callback_url="https://shop.example/cb/",
        redirect_url="https://shop.example/return/",
        redirect_button_title="Back",
        transactional_callbacks=True,
        questionnaire_fields=["email", "name"],
    )
    assert json.loads(api.calls[0].request.body) == {
        "amount": "0.0000001",
        "asset": "BTC",
        "externalOrderId": "A-1",
        "callbackUrl": "https://shop.example/cb/",
        "shouldSendTransactionalCallback": True,
        "customization": {
            "redirectUrl": "https://shop.example/return/",
            "redirectButtonTitle": "Back",
        },
        "questionnaire": {"schemaFields": [{"name": "email"}, {"name": "name"}]},
    }


@pytest.mark.parametrize(
    ("status", "body", "exc_class"),
    [
        (
            400,
            {"errors": [{"code": "BAD_REQUEST", "message": "amount is invalid"}]},
            ProviderValidationError,
        ),
        (
            422,
            {"errors": [{"code": "LIMITS_OUT_OF_RANGE", "message": "too small"}]},
            ProviderValidationError,
        ),
        (401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad key"}]}, AuthenticationFailed),
        (403, {"errors": [{"code": "FORBIDDEN", "message": "ip"}]}, AuthenticationFailed),
        (404, {"errors": [{"code": "NOT_FOUND", "message": "no invoice"}]}, NotFound),
        (429, {"errors": [{"code": "TOO_MANY", "message": "slow down"}]}, RateLimited),
        (500, {"errors": [{"code": "INTERNAL", "message": "oops"}]}, ProviderUnavailable),
    ],
)
def test_error_statuses_become_typed_exceptions_with_the_providers_codes(
    api, status, body, exc_class
):
    api.post(f"{API}/v1/invoice", json=body, status=status)
    with pytest.raises(exc_class) as info:
        api_key_client().create_invoice(amount="1", asset="EUR")
    exc = info.value
    assert isinstance(exc, KunaPayError)
    assert exc.status_code == status
    assert exc.codes == [body["errors"][0]["code"]]
    assert body["errors"][0]["message"] in str(exc)
    assert exc.ambiguous is False
    assert len(api.calls) == 1  # a POST is never retried after an answer


def test_non_json_error_body_keeps_its_text(api):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", body="<html>Bad gateway</html>", status=502)
    with pytest.raises(ProviderUnavailable) as info:
        api_key_client().get_invoice(INVOICE_ID)
    assert info.value.status_code == 502
    assert "Bad gateway" in info.value.response_text
    assert len(api.calls) == 3  # GET: first try plus two retries


def test_rate_limit_carries_retry_after(api):
    api.post(f"{API}/v1/invoice", body="", status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as info:
        api_key_client().create_invoice(amount="1", asset="EUR")
    assert info.value.retry_after == 7.0


@pytest.mark.parametrize(
    "body",
    ["not json at all", json.dumps({"result": {}}), json.dumps([1, 2]), ""],
)
def test_success_without_the_data_envelope_is_an_invalid_response(api, body):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", body=body, status=200)
    with pytest.raises(InvalidResponse):
        api_key_client().get_invoice(INVOICE_ID)


def test_data_of_the_wrong_shape_is_an_invalid_response(api):
    api.get(f"{API}/v1/invoice/assets", json={"data": {"code": "EUR"}})
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": ["x"]})
    client = api_key_client()
    with pytest.raises(InvalidResponse):
        client.list_assets()
    with pytest.raises(InvalidResponse):
        client.get_invoice(INVOICE_ID)


def test_get_is_retried_after_a_timeout_and_a_5xx(api):
    url = f"{API}/v1/invoice/{INVOICE_ID}"
    api.get(url, body=requests.ReadTimeout("slow"))
    api.get(url, status=503, json={"errors": []})
    api.get(url, json={"data": {"id": INVOICE_ID, "status": "PAID"}})
    slept = []
    client = KunaPayClient(API, api_key="k", retries=2, retry_backoff=0.5, sleep=slept.append)
    assert client.get_invoice(INVOICE_ID).status == "PAID"
    assert len(api.calls) == 3
    assert slept == [0.5, 1.0]


def test_get_gives_up_with_a_timeout_error_after_its_retries(api):
    api.get(f"{API}/v1/invoice/assets", body=requests.ReadTimeout("slow"))
    with pytest.raises(ProviderTimeout) as info:
        api_key_client().list_assets()
    assert len(api.calls) == 3
    assert info.value.ambiguous is False


def test_post_timeout_is_not_retried_and_is_ambiguous(api):
    api.post(f"{API}/v1/invoice", body=requests.ReadTimeout("slow"))
    with pytest.raises(ProviderTimeout) as info:
        api_key_client().create_invoice(amount="1", asset="EUR")
    assert info.value.ambiguous is True
    assert len(api.calls) == 1


def test_post_that_never_connected_is_retried_safely(api):
    api.post(f"{API}/v1/invoice", body=requests.ConnectTimeout("no route"))
    api.post(f"{API}/v1/invoice", json={"data": {"id": INVOICE_ID}})
    assert api_key_client().create_invoice(amount="1", asset="EUR").id == INVOICE_ID
    assert len(api.calls) == 2


def test_post_connection_dropped_mid_request_is_ambiguous(api):
    api.post(f"{API}/v1/invoice", body=requests.ConnectionError("Connection aborted."))
    with pytest.raises(ProviderUnavailable) as info:
        api_key_client().create_invoice(amount="1", asset="EUR")
    assert info.value.ambiguous is True
    assert len(api.calls) == 1


def test_every_call_has_a_timeout_and_one_session_is_reused(api, monkeypatch):
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": [{"name": "email"}]})
    client = KunaPayClient(API, api_key="k", timeout=(1.5, 9.0))
    seen = []
    original = client.session.request

    def spy(*args, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(*args, **kwargs)

    monkeypatch.setattr(client.session, "request", spy)
    client.questionnaire_fields()
    client.questionnaire_fields()
    assert seen == [(1.5, 9.0), (1.5, 9.0)]


def test_list_invoices_filters_by_external_order_id(api):
    api.get(
        f"{API}/v1/invoice",
        match=[
            matchers.query_param_matcher({"externalOrderId": "A-1", "take": "100", "skip": "0"})
        ],
        json={"data": [{"id": INVOICE_ID, "externalOrderId": "A-1"}]},
    )
    assert api_key_client().list_invoices(external_order_id="A-1")[0].id == INVOICE_ID


def _page(api, path, skip, items, **query):
    api.get(
        f"{API}{path}",
        match=[matchers.query_param_matcher({**query, "take": "100", "skip": str(skip)})],
        json={"data": items},
    )


def test_asset_lists_are_read_page_by_page_until_a_short_page(api):
    first = [{"code": f"A{n:03d}"} for n in range(100)]
    _page(api, "/v1/invoice/assets", 0, first)
    _page(api, "/v1/invoice/assets", 100, [{"code": "LAST"}])
    assets = api_key_client().list_assets()
    assert len(assets) == 101 and assets[-1] == {"code": "LAST"}
    assert len(api.calls) == 2


def test_invoice_lists_are_read_page_by_page_with_their_filter(api):
    _page(api, "/v1/invoice", 0, [{"id": str(n)} for n in range(100)], externalOrderId="A-1")
    _page(api, "/v1/invoice", 100, [], externalOrderId="A-1")
    assert len(api_key_client().list_invoices(external_order_id="A-1")) == 100
    assert len(api.calls) == 2


def test_a_provider_that_ignores_skip_does_not_make_the_reading_loop(api):
    api.get(f"{API}/v1/invoice/assets", json={"data": [{"code": "SAME"}] * 100})
    assert len(api_key_client().list_assets()) == 100
    assert len(api.calls) == 2


def test_get_transaction_reads_one_transaction(api):
    api.get(f"{API}/v1/transaction/tx-1", json={"data": {"id": "tx-1", "invoiceId": INVOICE_ID}})
    assert api_key_client().get_transaction("tx-1").invoice_id == INVOICE_ID


@pytest.mark.parametrize("bad", ["", "a\x00"])
def test_an_empty_id_or_one_with_nul_is_no_id(bad):
    with pytest.raises(ValueError):
        api_key_client().get_transaction(bad)
    with pytest.raises(ValueError):
        api_key_client().get_invoice(bad)


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("a/b", "a%2Fb"),
        ("a?b", "a%3Fb"),
        ("a#b", "a%23b"),
        ("%2e%2e", "%252e%252e"),
        ("../asset/balance", "..%2Fasset%2Fbalance"),
        ("tx 1", "tx%201"),
        ("ü", "%C3%BC"),
    ],
)
def test_ids_cannot_smuggle_paths_they_are_one_segment_quoted_once(api, given, sent):
    api.get(f"{API}/v1/transaction/{sent}", json={"data": {"id": given}})
    api.get(f"{API}/v1/invoice/{sent}", json={"data": {"id": given}})
    assert api_key_client().get_transaction(given).id == given
    assert api_key_client().get_invoice(given).id == given
    assert [call.request.path_url for call in api.calls] == [
        f"/v1/transaction/{sent}",
        f"/v1/invoice/{sent}",
    ]


def test_a_quoted_path_is_signed_as_it_is_sent(api):
    """The signature covers the path the provider receives, percent-encoded (an HMAC
    written out here, not the client's signer)."""
    import hashlib
    import hmac

    api.get(f"{API}/v1/invoice", json={"data": []})
    client = signed_client()
    client.list_invoices(external_order_id="A/1 %ü")
    request = api.calls[0].request
    path = request.path_url
    assert path == "/v1/invoice?externalOrderId=A%2F1+%25%C3%BC&take=100&skip=0"
    nonce = request.headers["nonce"]
    message = f"{path}{nonce}{{}}".encode()
    expected = hmac.new(KEY.encode(), message, hashlib.sha384).hexdigest()
    assert request.headers["signature"] == expected


def test_constructor_refuses_incomplete_credentials():
    with pytest.raises(ValueError):
        KunaPayClient(API, auth_mode="signed", public_key="p")
    with pytest.raises(ValueError):
        KunaPayClient(API)
    assert KEY not in repr(signed_client())


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (Decimal("42.50"), "42.5"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0.000000100"), "0.0000001"),
        (Decimal("42.500000000000000000"), "42.5"),
        ("100", "100"),
        (Decimal("0"), "0"),
    ],
)
def test_amounts_go_out_as_plain_decimal_strings(value, wire):
    assert format_amount(value) == wire


def test_floats_and_non_finite_amounts_are_refused():
    with pytest.raises(TypeError):
        format_amount(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        format_amount(Decimal("NaN"))
    assert parse_amount("100.011") == Decimal("100.011")
    assert parse_amount(None) is None
    with pytest.raises(InvalidResponse):
        parse_amount("ten")
    with pytest.raises(InvalidResponse):
        parse_amount("Infinity")


@responses.activate
def test_api_url_with_a_path_prefix_is_signed_with_that_prefix():
    responses.get("http://127.0.0.1:8000/sandbox/v1/invoice/assets", json={"data": []})
    client = KunaPayClient(
        "http://127.0.0.1:8000/sandbox/",
        public_key="p",
        private_key=KEY,
        auth_mode="signed",
        clock=lambda: 1.0,
    )
    client.list_assets()
    sent = responses.calls[0].request
    assert sent.headers["nonce"] == "1000"
    # HMAC-SHA384('/sandbox/v1/invoice/assets?take=100&skip=0' '1000' '{}'): the prefix is
    # signed too.
    assert sent.headers["signature"] == SANDBOX_PREFIX_VECTOR


def test_nul_characters_in_an_answer_are_an_invalid_response(api):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", body='{"data": {"id": "a\\u0000"}}')
    with pytest.raises(InvalidResponse):
        api_key_client().get_invoice(INVOICE_ID)


# -- the environment, read once --------------------------------------------------------


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)  # fmt: skip
    return monkeypatch


def test_the_environments_proxy_and_ca_bundle_are_taken_when_the_client_is_made(
    no_proxy_env, tmp_path
):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    no_proxy_env.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    no_proxy_env.setenv("REQUESTS_CA_BUNDLE", str(bundle))

    client = api_key_client()

    assert client.session.proxies["https"] == "http://proxy.example:3128"
    assert client.session.verify == str(bundle)
    # Not looked up again on each request (requests would walk os.environ every time).
    assert client.session.trust_env is False


def test_a_request_goes_through_the_proxy_of_the_environment(no_proxy_env, api):
    no_proxy_env.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    client = api_key_client()
    no_proxy_env.setenv("HTTPS_PROXY", "http://changed.example:1")  # too late: read once
    sent = {}
    original = requests.adapters.HTTPAdapter.send

    def spy(adapter, request, **kwargs):
        sent.update(kwargs)
        return original(adapter, request, **kwargs)

    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": {"id": INVOICE_ID}})

    # Undone here, before ``api`` stops its mock: undone later, it would put the mock's
    # send back for the tests after this one.
    with unittest_mock.patch.object(requests.adapters.HTTPAdapter, "send", spy):
        client.get_invoice(INVOICE_ID)

    assert sent["proxies"]["https"] == "http://proxy.example:3128"


def test_no_proxy_for_the_api_host_is_respected(no_proxy_env):
    no_proxy_env.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    no_proxy_env.setenv("NO_PROXY", "api.kunapay.test")
    assert "https" not in api_key_client().session.proxies


# -- the provider's error bodies, retries and their waits ---------------------------------


@pytest.mark.parametrize(
    ("errors", "read", "message"),
    [
        (
            {"code": "AMOUNT_TOO_LOW", "message": "too low"},
            [{"code": "AMOUNT_TOO_LOW", "message": "too low"}],
            "HTTP 400: AMOUNT_TOO_LOW: too low",
        ),
        ([{"message": "too low"}], [{"code": "", "message": "too low"}], "HTTP 400: too low"),
        (
            [{"code": "AMOUNT_TOO_LOW"}],
            [{"code": "AMOUNT_TOO_LOW", "message": ""}],
            "HTTP 400: AMOUNT_TOO_LOW",
        ),
        (["too low"], [{"code": "", "message": "too low"}], "HTTP 400: too low"),
    ],
    ids=["one-object", "no-code", "no-message", "plain-text"],
)
def test_the_providers_errors_are_read_in_every_shape_it_sends(api, errors, read, message):
    api.post(f"{API}/v1/invoice", status=400, json={"errors": errors})
    with pytest.raises(ProviderValidationError) as info:
        api_key_client().create_invoice(amount="1", asset="EUR")
    assert info.value.errors == read
    assert str(info.value) == message


def test_a_list_answer_with_items_that_are_not_objects_is_an_invalid_response(api):
    api.get(f"{API}/v1/invoice/questionnaire", json={"data": ["email"]})
    with pytest.raises(InvalidResponse) as info:
        api_key_client().questionnaire_fields()
    assert str(info.value) == "KUNA Pay answered with something that is not a list of objects"


@pytest.mark.parametrize(
    "refused",
    [
        "HTTPSConnectionPool: Max retries exceeded (Caused by NewConnectionError('refused'))",
        "HTTPSConnectionPool: Max retries exceeded (Caused by NameResolutionError('no host'))",
        "[Errno 111] Connection refused",
    ],
    ids=["new-connection", "name-resolution", "refused"],
)
def test_a_post_that_could_not_connect_is_sent_again_and_is_not_ambiguous(api, refused):
    api.post(f"{API}/v1/invoice", body=requests.ConnectionError(refused))
    api.post(f"{API}/v1/invoice", json={"data": {"id": INVOICE_ID}})
    assert api_key_client().create_invoice(amount="1", asset="EUR").id == INVOICE_ID
    assert len(api.calls) == 2


def test_a_post_that_never_connected_is_not_ambiguous_once_out_of_retries(api):
    api.post(f"{API}/v1/invoice", body=requests.ConnectionError("[Errno 111] Connection refused"))
    with pytest.raises(ProviderUnavailable) as info:
        KunaPayClient(API, api_key="k", retries=0).create_invoice(amount="1", asset="EUR")
    assert info.value.ambiguous is False


@pytest.mark.parametrize(
    ("retry_after", "slept"),
    [("7", [7.0]), ("120", [30.0]), ("0.1", [0.5]), ("soon", [0.5]), (None, [0.5])],
    ids=["asked", "capped", "shorter-than-backoff", "unreadable", "absent"],
)
def test_a_retry_waits_as_long_as_the_provider_asks_within_thirty_seconds(api, retry_after, slept):
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", status=503, json={"errors": []}, headers=headers)
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": {"id": INVOICE_ID}})
    waits = []
    client = KunaPayClient(API, api_key="k", retries=1, retry_backoff=0.5, sleep=waits.append)
    assert client.get_invoice(INVOICE_ID).id == INVOICE_ID
    assert waits == slept


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("/v1/transaction/tx-1", lambda client: client.get_transaction("tx-1")),
        ("/v1/invoice/questionnaire", lambda client: client.questionnaire_fields()),
        ("/v1/invoice", lambda client: client.list_invoices(external_order_id="A-1", take=5)),
    ],
    ids=["transaction", "questionnaire", "one-page-of-invoices"],
)
def test_every_read_is_a_get_retried_after_a_5xx(api, path, call):
    api.get(f"{API}{path}", status=502, json={"errors": []})
    api.get(f"{API}{path}", json={"data": {"id": "tx-1"} if "transaction" in path else []})
    call(api_key_client())
    assert [c.request.method for c in api.calls] == ["GET", "GET"]


def test_an_id_refused_is_named_in_the_error_cut_to_eighty_characters():
    with pytest.raises(ValueError) as info:
        api_key_client().get_transaction("\x00" + "t" * 100)
    assert str(info.value) == "not a transaction id: " + repr("\x00" + "t" * 79)
    with pytest.raises(ValueError) as info:
        api_key_client().get_invoice("")
    assert str(info.value) == "not an invoice id: ''"
