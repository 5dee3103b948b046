"""The OpenAPI schema of the REST API, when drf-spectacular is installed.

drf-spectacular is optional (``pip install django-invoices[openapi]``). Without it the
API works the same, ``extend_schema`` is a no-op and no schema route exists.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

AVAILABLE = importlib.util.find_spec("drf_spectacular") is not None


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


# What a customer's text must be to be taken: not empty once Python's str.strip() took
# the white space off its ends (DRF trims; "\x1c"-"\x1f" and "\x85" count as white space
# there, though not in JavaScript's \s), and no NUL anywhere (DRF refuses it). Valid in
# ECMA-262 and Python regular expressions alike.
NON_BLANK_TEXT = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"
# A positive amount as the API takes it: digits, maybe a fraction, not all zeros.
POSITIVE_AMOUNT = r"^(?=[0.]*[1-9])\d{1,18}(?:\.\d{1,18})?$"
# An amount as the API writes it (never an exponent, no trailing zeros).
AMOUNT = r"^-?\d+(?:\.\d+)?$"

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
ERROR_DESCRIPTIONS = {
    400: "The request is not valid (see the messages per field).",
    403: "Not signed in (session authentication), or the session's CSRF token is missing or wrong.",
    404: "Nothing found, or nothing this caller may see (both answer alike).",
    409: "The order cannot be paid (it may be paid already).",
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
        body = VALIDATION_ERROR if code == 400 else DETAIL_ERROR
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
