import hashlib
import hmac

import pytest

from django_invoices.signing import (
    ALL_RECIPES,
    Recipe,
    compact_json,
    parse_recipes,
    sign_callback,
    sign_request,
    verify_callback,
)

VARIANT_RAW = Recipe("sha384", "hex", "raw")
VARIANT_RESERIALIZED = Recipe("sha384", "hex", "compact")

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


# Computed independently with openssl (printf '%s' BODY | openssl dgst -<digest> -hmac
# private-key-example [-binary | base64]); DATA is the "data" object of CALLBACK_BODY.
OTHER_RECIPE_VECTORS = {
    "sha256/base64/raw": "Dv18lbyWmE7ETMKsN5sry2gY/4Jf90wRdOWRlSGQhX4=",
    "sha512/hex/raw": (
        "f70fb0ebe3f0d4cf148b08ee355e6d7892ff80f4743acfd89d05fae820a0bbea"
        "4d2001be2837e5673d501106cdcc7f6bd58e352457cf3a4ea7a069c9a06d47e2"
    ),
    "sha384/base64/data": "lqPecutbi9WgdPvtAdUbblb8VqJrpgFNISYMM4wRHkt3a9i5MuUX5WhOi595YIKp",
}


@pytest.mark.parametrize(("recipe", "vector"), sorted(OTHER_RECIPE_VECTORS.items()))
def test_each_recipe_signs_and_verifies_its_fixed_vector(recipe, vector):
    assert sign_callback(KEY, CALLBACK_BODY, recipe) == vector
    assert verify_callback(KEY, CALLBACK_BODY, vector, parse_recipes([recipe])) == Recipe.parse(
        recipe
    )
    # Not under today's default recipes: a shop must name the recipe to accept it.
    assert verify_callback(KEY, CALLBACK_BODY, vector) is None


def test_all_recipes_cover_every_digest_encoding_and_message_once():
    assert len(ALL_RECIPES) == len(set(ALL_RECIPES)) == 18
    assert [str(r) for r in ALL_RECIPES[:2]] == ["sha384/hex/raw", "sha384/hex/compact"]


@pytest.mark.parametrize("bad", ["sha1/hex/raw", "sha384/hex", "md5", "", ["sha384/hex/raw", 3]])
def test_a_malformed_recipe_setting_is_refused(bad):
    with pytest.raises((ValueError, AttributeError)):
        parse_recipes(bad)


def test_a_signature_compared_in_full_not_by_its_first_characters():
    forged = CALLBACK_VECTOR[:32] + "0" * 64
    assert verify_callback(KEY, CALLBACK_BODY, forged) is None
