"""Endpoints of the REST API. They call ``services`` only, like every other view."""

from __future__ import annotations

import logging
from typing import Any

from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from .. import conf, services
from ..exceptions import InvoiceCreationError, KunaPayError, ProviderValidationError
from . import schema as openapi
from .parsers import DepthSafeJSONParser
from .serializers import (
    AssetSerializer,
    InvoiceCreateSerializer,
    InvoiceLookupSerializer,
    InvoiceStatusSerializer,
    QuestionnaireFieldSerializer,
)
from .throttling import CREATE_SCOPE, PUBLIC_SCOPE, AuthFailureThrottle, InvoicesRateThrottle

logger = logging.getLogger("django_invoices")


class ProviderUnavailableError(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The payment provider cannot be reached right now. Please try again.")
    default_code = "provider_unavailable"


class ProviderRefusedError(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = _("The payment provider refused to create an invoice for this order.")
    default_code = "provider_refused"


class OrderNotPayableError(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("This order cannot be paid (it may be paid already).")
    default_code = "order_not_payable"


class OrderMismatchError(APIException):
    """The ``amount`` or ``asset`` sent is not the order's: messages per field, 409.

    Not a 400: the request is well formed (the schema cannot know the order's price),
    it is the order that is not what the front end showed (a stale price). 409 is the
    status of a request that conflicts with the current state of what it is about."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "order_mismatch"


def _classes(setting: str) -> list[Any] | None:
    value = conf.get(setting)
    if value is None:
        return None
    return [import_string(item) if isinstance(item, str) else item for item in value]


class InvoicesAPIView(APIView):
    """Base of the app's endpoints: its throttle, its authentication setting, its schema."""

    throttle_classes = [InvoicesRateThrottle]
    throttle_scope = PUBLIC_SCOPE
    permission_classes = [AllowAny]
    if openapi.AVAILABLE:
        schema = openapi.view_schema()

    def get_parsers(self) -> list[Any]:
        # The host's parsers, with DRF's JSON parser swapped for one that survives
        # hostile nesting.
        return [
            DepthSafeJSONParser() if type(parser) is JSONParser else parser
            for parser in super().get_parsers()
        ]

    def get_authenticators(self) -> list[Any]:
        classes = _classes("API_AUTH_CLASSES")
        if classes is None:
            return super().get_authenticators()
        return [cls() for cls in classes]

    def perform_authentication(self, request: Request) -> None:
        # Failed logins are counted and limited here, before credentials are checked:
        # DRF's throttles run after authentication, which never reaches them on failure.
        guard = AuthFailureThrottle(request)
        if not guard.allow():
            self.throttled(request, guard.wait() or 1.0)
        try:
            request.user  # noqa: B018 (authenticates)
        except (AuthenticationFailed, NotAuthenticated):
            guard.failed()
            raise
        if request.user.is_authenticated:
            guard.succeeded()

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, KunaPayError):
            logger.warning(
                "KUNA Pay failed during %s %s: %s", self.request.method, self.request.path, exc
            )
            refused = isinstance(exc, ProviderValidationError)
            exc = ProviderRefusedError() if refused else ProviderUnavailableError()
        elif isinstance(exc, InvoiceCreationError):
            exc = OrderNotPayableError(str(exc))
        return super().handle_exception(exc)


@openapi.extend_schema_view(
    get=openapi.schema(
        responses=openapi.responses({200: AssetSerializer(many=True)}, 429, 502, 503)
    )
)
class AssetListView(InvoicesAPIView):
    """The assets invoices can be made in (KUNA Pay's list, through the cache)."""

    def get(self, request: Request) -> Response:
        return Response(AssetSerializer(services.list_assets(), many=True).data)


@openapi.extend_schema_view(
    get=openapi.schema(
        responses=openapi.responses({200: QuestionnaireFieldSerializer(many=True)}, 429, 502, 503)
    )
)
class QuestionnaireFieldListView(InvoicesAPIView):
    """The buyer fields an invoice may ask for (KUNA Pay's list, through the cache)."""

    def get(self, request: Request) -> Response:
        # Only fields with a string name come from services.questionnaire_fields.
        fields = services.questionnaire_fields()
        return Response(QuestionnaireFieldSerializer(fields, many=True).data)


@openapi.extend_schema_view(
    post=openapi.schema(
        request=InvoiceCreateSerializer,
        examples=openapi.request_examples(
            pay_an_order={"orderId": "A-1"},
            pay_what_the_customer_was_shown={
                "orderId": "A-1",
                "amount": "42.5",
                "asset": "EUR",
                "questionnaireFields": ["email"],
            },
            an_order_paid_already={"orderId": "P-1"},
        ),
        responses=openapi.responses(
            {201: InvoiceStatusSerializer}, 400, 403, 404, 409, 429, 502, 503
        ),
    )
)
class InvoiceCreateView(InvoicesAPIView):
    """Create (or reuse) the invoice of an order and answer with its payment URL.

    An ``amount`` or ``asset`` that is not the order's is answered 409, like an order
    that cannot be paid: the request is valid, the order is not what the client showed."""

    throttle_scope = CREATE_SCOPE

    def get_permissions(self) -> list[BasePermission]:
        classes = _classes("API_PERMISSION_CLASSES")
        if classes is None:
            # Like API_AUTH_CLASSES: None is DRF's default, never "anyone may pay".
            classes = list(api_settings.DEFAULT_PERMISSION_CLASSES)
        return [cls() for cls in classes]

    def post(self, request: Request) -> Response:
        serializer = InvoiceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        order = services.get_order(data["orderId"])
        if order is None:
            raise NotFound(_("No such order."))
        try:
            self.check_object_permissions(request, order)
        except (PermissionDenied, NotAuthenticated):
            # Someone else's order answers like an unknown one, to a stranger as to an
            # anonymous caller (NotAuthenticated is no PermissionDenied): ids are not
            # confirmed.
            raise NotFound(_("No such order.")) from None
        mismatch = {}
        if "amount" in data and data["amount"] != order.amount:
            mismatch["amount"] = [_("This is not the amount of the order.")]
        if "asset" in data and data["asset"] != order.asset:
            mismatch["asset"] = [_("This is not the asset of the order.")]
        if mismatch:
            raise OrderMismatchError(mismatch)
        options = {}
        if "questionnaireFields" in data:
            options["questionnaire_fields"] = data["questionnaireFields"]
        invoice = services.create_invoice(order, **options)
        return Response(InvoiceStatusSerializer(invoice).data, status=status.HTTP_201_CREATED)


@openapi.extend_schema_view(
    get=openapi.schema(
        parameters=[InvoiceLookupSerializer],
        responses=openapi.responses({200: InvoiceStatusSerializer}, 400, 404, 429),
    )
)
class InvoiceStatusView(InvoicesAPIView):
    """An invoice's status, for whoever holds its ``invoiceId`` and ``orderId``.

    Like the return view, it re-reads an unsettled invoice from KUNA Pay at most once
    per ``REFRESH_MIN_INTERVAL``; when KUNA Pay is down it answers with what is stored.
    """

    def get(self, request: Request) -> Response:
        lookup = InvoiceLookupSerializer(data=request.query_params)
        lookup.is_valid(raise_exception=True)
        invoice = services.find_customer_invoice(
            str(lookup.validated_data["invoiceId"]), lookup.validated_data["orderId"]
        )
        if invoice is None:
            raise NotFound(_("No invoice with this invoiceId and orderId."))
        invoice = services.refresh_if_stale(invoice).invoice
        return Response(InvoiceStatusSerializer(invoice).data)
