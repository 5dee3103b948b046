"""The provider's signatures, each in one function so it can be corrected in one line.

See ``kunapay-api.md`` §2.3 (requests) and §5.2 (callbacks).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from . import safejson

# What is signed in place of a body for requests that have none (GET). The SDK and
# Kuna's v4 docs both sign the literal "{}"; if the live API disagrees, change it here.
EMPTY_BODY = "{}"

VARIANT_RAW = "raw"
VARIANT_RESERIALIZED = "reserialized"


def _hmac_sha384(key: str, message: bytes) -> str:
    return hmac.new(key.encode("utf-8"), message, hashlib.sha384).hexdigest()


def _equal(expected: str, given: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str and headers are hostile input.
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))


def compact_json(payload: object) -> str:
    """JSON the way the provider's JavaScript re-serialises it: compact, non-ASCII kept."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def sign_request(private_key: str, path_and_query: str, nonce: str, body: str) -> str:
    """Signature of a request: HMAC-SHA384 over path+query, nonce and body, lowercase hex."""
    message = f"{path_and_query}{nonce}{body or EMPTY_BODY}"
    return _hmac_sha384(private_key, message.encode("utf-8"))


def sign_callback(private_key: str, body: bytes) -> str:
    """Signature the provider puts in ``kun-signature``: HMAC-SHA384 over the body."""
    return _hmac_sha384(private_key, body)


def verify_callback(private_key: str, body: bytes, signature: str | None) -> str | None:
    """Check a callback's ``kun-signature``; return the variant that matched, or None.

    The raw body is tried first. Because it is not documented whether the provider signs
    the bytes it sends or a re-serialisation of the parsed object, a compact
    re-serialisation is the fallback (``kunapay-api.md`` §5.2).
    """
    if not private_key or not signature:
        return None
    signature = signature.strip().lower()
    if _equal(sign_callback(private_key, body), signature):
        return VARIANT_RAW
    try:
        reserialized = compact_json(safejson.loads(body)).encode("utf-8")
    except (ValueError, RecursionError):  # not usable JSON: only the raw bytes could match
        return None
    if reserialized != body and _equal(sign_callback(private_key, reserialized), signature):
        return VARIANT_RESERIALIZED
    return None
