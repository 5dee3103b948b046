"""The provider's signatures, each in one function so it can be corrected in one line.

See ``docs/explanation/provider-api.rst`` ("Requests" and "Callback signature"). How a
callback is signed is not documented, so the recipe is a setting
(``CALLBACK_SIGNATURE_RECIPES``): a list of ``"digest/encoding/message"`` names tried in
order, e.g. ``"sha384/hex/raw"``. ``invoices_check_signatures`` names the recipe that
matches stored callbacks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import safejson

# What is signed in place of a body for requests that have none (GET). The SDK and
# Kuna's v4 docs both sign the literal "{}"; if the live API disagrees, change it here.
EMPTY_BODY = "{}"

DIGESTS = ("sha384", "sha256", "sha512")
ENCODINGS = ("hex", "base64")
# raw: the bytes as they arrived; compact: the parsed body written again as compact JSON
# (JavaScript's JSON.stringify); data: the "data" object alone, written the same way;
# ascii: compact with every non-ASCII character escaped (\uXXXX); python: what
# Python's json.dumps writes by default (", " and ": " between items, escaped), as the
# provider's sister exchange signs.
MESSAGES = ("raw", "compact", "data", "ascii", "python")

#: Today's reading (``docs/explanation/provider-api.rst`` ("Callback signature")):
#: HMAC-SHA384 in hex over the raw body, else over its compact re-serialisation.
DEFAULT_RECIPES = ("sha384/hex/raw", "sha384/hex/compact")


@dataclass(frozen=True)
class Recipe:
    """One way of signing a callback: the HMAC's digest, its text form, what is signed."""

    digest: str
    encoding: str
    message: str

    def __str__(self) -> str:
        return f"{self.digest}/{self.encoding}/{self.message}"

    @classmethod
    def parse(cls, text: str) -> Recipe:
        parts = str(text).strip().lower().split("/")
        if (
            len(parts) != 3
            or parts[0] not in DIGESTS
            or parts[1] not in ENCODINGS
            or parts[2] not in MESSAGES
        ):
            raise ValueError(
                f"{text!r} is not a signature recipe: write digest/encoding/message, with "
                f"digest one of {DIGESTS}, encoding one of {ENCODINGS}, message one of "
                f"{MESSAGES} (e.g. 'sha384/hex/raw')"
            )
        return cls(*parts)


#: Every recipe ``invoices_check_signatures`` tries, the default ones first.
ALL_RECIPES = tuple(
    dict.fromkeys(
        [Recipe.parse(text) for text in DEFAULT_RECIPES]
        + [Recipe(d, e, m) for d in DIGESTS for e in ENCODINGS for m in MESSAGES]
    )
)


def parse_recipes(value: Any) -> tuple[Recipe, ...]:
    """The recipes of the setting (one name or a list of them); ``ValueError`` if wrong."""
    if value is None:
        value = DEFAULT_RECIPES
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("CALLBACK_SIGNATURE_RECIPES must be a recipe name or a list of them")
    return tuple(Recipe.parse(item) for item in value)


def _hmac(key: str, message: bytes, digest: str = "sha384") -> bytes:
    return hmac.new(key.encode("utf-8"), message, getattr(hashlib, digest)).digest()


def _hmac_sha384(key: str, message: bytes) -> str:
    return _hmac(key, message).hex()


def _equal(expected: str, given: str) -> bool:
    # Bytes, because compare_digest refuses non-ASCII str and headers are hostile input.
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))


def compact_json(payload: object) -> str:
    """JSON the way the provider's JavaScript re-serialises it: compact, non-ASCII kept."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _written(payload: object, message: str) -> str:
    """The parsed body written again as ``message`` says."""
    if message == "ascii":
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    if message == "python":
        return json.dumps(payload)
    return compact_json(payload)


def sign_request(private_key: str, path_and_query: str, nonce: str, body: str) -> str:
    """Signature of a request: HMAC-SHA384 over path+query, nonce and body, lowercase hex."""
    message = f"{path_and_query}{nonce}{body or EMPTY_BODY}"
    return _hmac_sha384(private_key, message.encode("utf-8"))


def signed_message(body: bytes, recipe: Recipe) -> bytes | None:
    """The bytes ``recipe`` signs for this body; None when the body cannot give them."""
    if recipe.message == "raw":
        return body
    try:
        parsed = safejson.loads(body)
    except (ValueError, RecursionError):  # not usable JSON: only the raw bytes could match
        return None
    if recipe.message == "data":
        if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict):
            return None
        parsed = parsed["data"]
    return _written(parsed, recipe.message).encode("utf-8")


def sign_with(private_key: str, message: bytes, recipe: Recipe) -> str:
    mac = _hmac(private_key, message, recipe.digest)
    return mac.hex() if recipe.encoding == "hex" else base64.b64encode(mac).decode("ascii")


def sign_callback(private_key: str, body: bytes, recipe: Recipe | str | None = None) -> str:
    """The ``kun-signature`` of a callback body; by default today's reading, HMAC-SHA384
    in hex over the bytes sent."""
    if recipe is None:
        recipe = Recipe.parse(DEFAULT_RECIPES[0])
    elif isinstance(recipe, str):
        recipe = Recipe.parse(recipe)
    message = signed_message(body, recipe)
    if message is None:
        raise ValueError(f"this body cannot be signed with {recipe}")
    return sign_with(private_key, message, recipe)


def _matches(given: str, mac: bytes, encoding: str) -> bool:
    if encoding == "hex":
        return _equal(mac.hex(), given.lower())
    try:
        decoded = base64.b64decode(given.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(mac, decoded)


def signed_by(private_key: str, body: bytes, signature: str, recipe: Recipe) -> bool:
    """Whether ``signature`` is ``recipe``'s signature of ``body`` (constant-time)."""
    message = signed_message(body, recipe)
    if not private_key or message is None:
        return False
    return _matches(signature.strip(), _hmac(private_key, message, recipe.digest), recipe.encoding)


@dataclass(frozen=True)
class Match:
    """How a callback was signed: the recipe, and which of the account's keys (its
    position, newest first; the caller names it by fingerprint, never by value)."""

    recipe: Recipe
    key_index: int


def match_callback(
    private_keys: str | Sequence[str],
    body: bytes,
    signature: str | None,
    recipes: tuple[Recipe, ...] | None = None,
) -> Match | None:
    """Check a callback's ``kun-signature`` against each key (newest first) and each
    recipe (in order; default ``DEFAULT_RECIPES``); the first that matches, or None.

    This is the one place callbacks are verified.
    """
    keys = (private_keys,) if isinstance(private_keys, str) else tuple(private_keys)
    if not signature:
        return None
    tried = parse_recipes(None) if recipes is None else recipes
    for index, key in enumerate(keys):
        for recipe in tried:
            if signed_by(key, body, signature, recipe):
                return Match(recipe, index)
    return None


def verify_callback(
    private_key: str | Sequence[str],
    body: bytes,
    signature: str | None,
    recipes: tuple[Recipe, ...] | None = None,
) -> Recipe | None:
    """The recipe of ``match_callback``'s match, or None."""
    found = match_callback(private_key, body, signature, recipes)
    return found.recipe if found else None


def verified_text(body: bytes, recipe: Recipe) -> str:
    """What to keep as an event's body: the bytes the signature covers.

    The raw body when the recipe signs it; otherwise its compact re-serialisation, so
    the stored text means what was signed (a duplicate key, say, keeps the value the
    signed re-serialisation kept, not the one a reader of the raw bytes might take).
    For the "data" recipe the event name around the signed ``data`` is not signed.
    """
    if recipe.message == "raw":
        return body.decode("utf-8")
    return _written(safejson.loads(body), recipe.message)
