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
