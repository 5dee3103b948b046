"""The OpenAPI schema of the REST API, when drf-spectacular is installed.

drf-spectacular is optional (``pip install django-invoices[openapi]``). Without it the
API works the same, ``extend_schema`` is a no-op and no schema route exists.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any

AVAILABLE = importlib.util.find_spec("drf_spectacular") is not None
logger = logging.getLogger("django_invoices")


def extend_schema(**kwargs: Any) -> Callable[[Any], Any]:
    """drf-spectacular's ``extend_schema`` when installed, else a decorator that does nothing."""
    if not AVAILABLE:
        return lambda view: view
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.utils import extend_schema as real

    def decorate(method: Any) -> Any:
        # Derive from drf-spectacular's AutoSchema even when the project's
        # DEFAULT_SCHEMA_CLASS is DRF's own (the decorator would extend that one).
        if not hasattr(method, "kwargs"):
            method.kwargs = {"schema": AutoSchema}
        return real(**kwargs)(method)

    return decorate


def extend_schema_view(**methods: Any) -> Callable[[Any], Any]:
    """drf-spectacular's ``extend_schema_view`` (the schema of each HTTP method, given to
    the class) when installed, else a decorator that does nothing. On the class rather
    than on each method, so the methods stay plain functions (the mutation run reaches
    only those; docs/mutation.rst)."""
    if not AVAILABLE:
        return lambda view: view
    from drf_spectacular.utils import extend_schema_view as real

    return real(**methods)  # type: ignore[no-any-return]


def schema(**kwargs: Any) -> Callable[[Any], Any]:
    """One method's schema, for ``extend_schema_view``."""
    return extend_schema(**kwargs)


def extend_schema_field(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """drf-spectacular's ``extend_schema_field`` when installed, else a no-op decorator."""
    if not AVAILABLE:
        return lambda field: field
    from drf_spectacular.utils import extend_schema_field as real

    return real(schema)  # type: ignore[no-any-return]


# The characters Python's str.strip() takes off (str.isspace()), spelled out: DRF trims
# with it, and \s means another set in ECMA-262 (it lacks "\x1c"-"\x1f" and "\x85" and
# has "\ufeff"), and another again under re.ASCII (how schemathesis reads patterns:
# ASCII spaces only). Written out, the class means the same to every reader.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# What a customer's text must be to be taken: not empty once trimmed, and no NUL
# anywhere (DRF refuses it). Valid in ECMA-262 and Python regular expressions alike.
NON_BLANK_TEXT = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"
# [0-9], never \d: Python's \d also takes other scripts' digits, which the API refuses.
# A positive amount as the API takes it: digits, maybe a fraction, not all zeros.
POSITIVE_AMOUNT = r"^(?=[0.]*[1-9])[0-9]{1,18}(?:\.[0-9]{1,18})?$"
# An amount as the API writes it (never an exponent, no trailing zeros).
AMOUNT = r"^-?[0-9]+(?:\.[0-9]+)?$"
# An invoice id as KUNA Pay writes it and the return URL carries it: a UUID in its
# hyphenated form, either case (no braces, no "urn:uuid:", no bare 32 digits).
UUID_TEXT = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"

DETAIL_ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong, for people."}},
    "required": ["detail"],
}
# DRF's shape of a refused request: a list of messages per field (an object of lists
# for the items of a list field), or "detail" alone when the body could not be parsed.
VALIDATION_ERROR = {
    "type": "object",
    "description": "Messages per field name (``non_field_errors`` for the whole body), "
    "or ``detail`` when the body is not readable at all.",
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        ]
    },
    "minProperties": 1,
}
_MESSAGES = {"type": "array", "items": {"type": "string"}}
# POST api/invoices/ answers 409 when the order cannot be paid (``detail``), or when the
# amount or asset the customer was shown is not the order's (messages per field): a
# well-formed request about an order whose state is not what the client believed.
CONFLICT_ERROR = {
    "type": "object",
    "description": "``detail`` when the order cannot be paid; messages for ``amount`` "
    "and/or ``asset`` when they are not the order's (the price shown is stale).",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, for people."},
        "amount": _MESSAGES,
        "asset": _MESSAGES,
    },
    "additionalProperties": False,
    "minProperties": 1,
}
ERROR_BODIES = {400: VALIDATION_ERROR, 409: CONFLICT_ERROR}
ERROR_DESCRIPTIONS = {
    400: "The request is not valid (see the messages per field).",
    403: "Not signed in (session authentication), or the session's CSRF token is missing or wrong.",
    404: "Nothing found, or nothing this caller may see (both answer alike).",
    409: "The order cannot be paid (it may be paid already), or the amount or asset sent "
    "is not the order's.",
    429: "Too many requests (or failed logins) from this address; the Retry-After header "
    "says how many seconds to wait.",
    502: "KUNA Pay refused the request.",
    503: "KUNA Pay cannot be reached right now; try again later.",
}


def responses(success: dict[int, Any], *errors: int) -> dict[int, Any]:
    """The ``responses`` of ``extend_schema``: the answers on success, then each error
    code the view can answer, with DRF's error body and what it means here."""
    if not AVAILABLE:
        return {}
    from drf_spectacular.utils import OpenApiResponse

    answers: dict[int, Any] = dict(success)
    for code in errors:
        body = ERROR_BODIES.get(code, DETAIL_ERROR)
        answers[code] = OpenApiResponse(response=body, description=ERROR_DESCRIPTIONS[code])
    return answers


def request_examples(**examples: dict[str, Any]) -> list[Any]:
    """Named example request bodies for ``extend_schema(examples=...)`` (none without
    drf-spectacular). Schema-driven testers such as schemathesis send them too."""
    if not AVAILABLE:
        return []
    from drf_spectacular.utils import OpenApiExample

    return [
        OpenApiExample(name.replace("_", " ").capitalize(), value=value, request_only=True)
        for name, value in examples.items()
    ]


def view_schema() -> Any:
    """The schema object our API views use (drf-spectacular's, whatever the project's
    ``DEFAULT_SCHEMA_CLASS`` says), or None to keep DRF's default."""
    if not AVAILABLE:
        return None
    from drf_spectacular.openapi import AutoSchema

    return AutoSchema()


# -- the provider's catalogues: closed sets, named when the schema is generated ------
#
# ``asset`` and the items of ``questionnaireFields`` are closed: the API refuses (400) a
# code or name that is not in KUNA Pay's list, read through the cache as the views read
# it. Letting unknown names through instead would be worse for a shop: a mistyped
# questionnaire field would silently not be asked for, and an asset KUNA Pay does not
# offer would only fail later, at the provider (502). So the schema names them in an
# ``enum`` of the list as it is when the schema is generated.
#
# When the list cannot be read then (KUNA Pay down, keys not configured: an offline
# build), the schema still renders: the value is a plain string whose description says
# where the allowed values are listed, and that they could not be named. The schema is
# looser than the API then, and says so; while KUNA Pay is down the API, which reads
# the same list, cannot check a value either and answers 503, not 400. An empty list
# takes no value (``not: {}``): ``questionnaireFields`` can then only be empty.

# What the values are, per catalogue: for the schema's descriptions.
_VALUES = {
    "asset": "An asset code that ``GET api/assets/`` lists",
    "questionnaire": "Names of fields that ``GET api/questionnaire/`` lists",
}


def _catalogue(read: Callable[[], list[dict[str, Any]]], key: str) -> list[str] | None:
    """The ``key`` of each item of a provider list, in its order; None when it cannot be
    read. Values the API could never take (blank, padded, with a NUL) are left out.

    Whatever keeps the list from being read (KUNA Pay down or refusing, no keys in an
    offline build: ``KunaPayError``, ``ImproperlyConfigured``, the client's
    ``ValueError``) is logged, and the schema renders without the enum."""
    try:
        items = read()
    except Exception as exc:  # the schema must render: its fallback says why
        logger.warning("The OpenAPI schema names no %s values: %s", key, exc)
        return None
    names = (str(item[key]) for item in items)
    return list(dict.fromkeys(n for n in names if n and n == n.strip() and "\x00" not in n))


def asset_codes() -> list[str] | None:
    """The asset codes ``POST api/invoices/`` takes (KUNA Pay's list, through the cache,
    fetched without retries: someone waits for the schema); None when unreadable."""
    from .. import services

    return _catalogue(lambda: services.list_assets(fast=True), "code")


def questionnaire_field_names() -> list[str] | None:
    """The questionnaire field names ``POST api/invoices/`` takes; None when unreadable."""
    from .. import services

    return _catalogue(services.questionnaire_fields, "name")


def closed_string(schema: dict[str, Any], values: list[str] | None, catalogue: str) -> None:
    """Give a string ``schema`` the ``enum`` of ``values``, or say why it has none."""
    what = _VALUES[catalogue]
    if values is None:
        schema["description"] = (
            f"{what}; others are refused (400). KUNA Pay's list could not be read when "
            "this schema was generated, so the schema cannot name them."
        )
        return
    max_length = schema.get("maxLength")
    values = [value for value in values if max_length is None or len(value) <= max_length]
    if not values:
        schema["not"] = {}  # nothing is taken
        schema["description"] = (
            f"{what}; others are refused (400). KUNA Pay listed none when this schema "
            "was generated: no value is taken."
        )
        return
    schema["enum"] = values
    schema["description"] = (
        f"{what} (KUNA Pay's list when this schema was generated); others are refused (400)."
    )


if AVAILABLE:
    from drf_spectacular.extensions import (
        OpenApiSerializerExtension,
        OpenApiSerializerFieldExtension,
    )

    class StrictSerializerSchema(OpenApiSerializerExtension):
        """A ``StrictSerializer`` refuses keys it does not know: ``additionalProperties``
        is false in its schema."""

        target_class = "django_invoices.api.serializers.StrictSerializer"
        match_subclasses = True

        def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
            schema: dict[str, Any] = auto_schema._map_serializer(
                self.target, direction, bypass_extensions=True
            )
            schema["additionalProperties"] = False
            return schema

    class AssetCodeFieldSchema(OpenApiSerializerFieldExtension):
        """``AssetCodeField``: the codes of KUNA Pay's asset list."""

        target_class = "django_invoices.api.serializers.AssetCodeField"
        match_subclasses = True

        def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
            schema: dict[str, Any] = auto_schema._map_serializer_field(
                self.target, direction, bypass_extensions=True
            )
            schema.setdefault("maxLength", self.target.max_length)
            closed_string(schema, asset_codes(), "asset")
            return schema

    class QuestionnaireFieldsSchema(OpenApiSerializerFieldExtension):
        """``QuestionnaireFieldsField``: names of KUNA Pay's questionnaire fields; none
        at all when KUNA Pay lists none."""

        target_class = "django_invoices.api.serializers.QuestionnaireFieldsField"
        match_subclasses = True

        def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
            schema: dict[str, Any] = auto_schema._map_serializer_field(
                self.target, direction, bypass_extensions=True
            )
            items = schema["items"]
            items.setdefault("maxLength", self.target.child.max_length)
            closed_string(items, questionnaire_field_names(), "questionnaire")
            schema["description"] = items.pop("description")
            if "not" in items:
                schema["maxItems"] = 0  # only the empty list is taken
            return schema


def only_these_endpoints(endpoints: list[Any], **kwargs: Any) -> list[Any]:
    """drf-spectacular preprocessing hook: keep this app's API, drop the project's others."""
    return [
        endpoint
        for endpoint in endpoints
        if getattr(getattr(endpoint[3], "cls", None), "__module__", "").startswith(
            "django_invoices.api."
        )
    ]


def schema_view() -> Callable[..., Any]:
    from drf_spectacular.views import SpectacularAPIView

    from .. import __version__

    return SpectacularAPIView.as_view(
        custom_settings={
            "TITLE": "django-invoices",
            "DESCRIPTION": "Pay for orders through KUNA Pay invoices.",
            "VERSION": __version__,
            "PREPROCESSING_HOOKS": ["django_invoices.api.schema.only_these_endpoints"],
        }
    )
