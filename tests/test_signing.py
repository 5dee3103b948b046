import hashlib
import hmac

from django_invoices.signing import (
    VARIANT_RAW,
    VARIANT_RESERIALIZED,
    compact_json,
    sign_callback,
    sign_request,
    verify_callback,
)

KEY = "private-key-example"
# Computed independently: printf '%s' MESSAGE | openssl dgst -sha384 -hmac private-key-example
POST_VECTOR = (
    "694faaf98ead0bbe928bb945a97e1942e3921b6fe36fd029f5b32139310b7734"
    "5e2d626510517b195cd81cf8a94685fd"
)
GET_VECTOR = (
    "27c9fb8ed5e920813212783e3b458b687bc846852706175c1939a8bcf5e0bae9"
    "e225129f52243c85d5c83ac0b23c03ac"
)
CALLBACK_BODY = b'{"event":"Invoice","data":{"id":"x","status":"PAID"}}'
CALLBACK_VECTOR = (
    "558a66898ecef8043ebc7339f0961ee1d8a342cc8638f6f6ddf171102ddf1242"
    "12cdd25f532cb5480ea1541b2d801446"
)


def test_request_signature_matches_the_documented_worked_example():
    body = '{"amount":"100.00","asset":"USDT"}'
    assert sign_request(KEY, "/v1/invoice", "1700000000000", body) == POST_VECTOR


def test_get_requests_sign_an_empty_object_as_body():
    assert sign_request(KEY, "/v1/invoice/assets", "1700000000000", "") == GET_VECTOR


def test_callback_signature_fixed_vector():
    assert sign_callback(KEY, CALLBACK_BODY) == CALLBACK_VECTOR
    assert verify_callback(KEY, CALLBACK_BODY, CALLBACK_VECTOR) == VARIANT_RAW
    assert verify_callback(KEY, CALLBACK_BODY, CALLBACK_VECTOR.upper()) == VARIANT_RAW


def test_callback_signed_over_reserialized_json_is_accepted_and_labelled():
    spaced = b'{"event": "Invoice", "data": {"id": "x", "status": "PAID"}}'
    assert verify_callback(KEY, spaced, CALLBACK_VECTOR) == VARIANT_RESERIALIZED


def test_callback_with_wrong_key_missing_or_garbage_signature_is_refused():
    other = sign_callback("another-key", CALLBACK_BODY)
    assert verify_callback(KEY, CALLBACK_BODY, other) is None
    assert verify_callback(KEY, CALLBACK_BODY, None) is None
    assert verify_callback(KEY, CALLBACK_BODY, "") is None
    assert verify_callback(KEY, CALLBACK_BODY, "ü" * 96) is None
    assert verify_callback("", CALLBACK_BODY, CALLBACK_VECTOR) is None
    assert verify_callback(KEY, b"\xff\xfe not json", CALLBACK_VECTOR) is None


def test_compact_json_keeps_cyrillic_as_is_and_signs_its_utf8_bytes():
    text = compact_json({"productDescription": "Оплата замовлення"})
    assert text == '{"productDescription":"Оплата замовлення"}'
    message = ("/v1/invoice" + "1" + text).encode("utf-8")
    expected = hmac.new(KEY.encode(), message, hashlib.sha384).hexdigest()
    assert sign_request(KEY, "/v1/invoice", "1", text) == expected
