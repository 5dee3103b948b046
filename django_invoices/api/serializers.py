"""Strict serializers of the REST API.

Amounts travel as decimal strings (``"42.5"``), never as JSON numbers; names follow the
provider's camelCase (``invoiceId``, ``orderId``) so a front end can pass on what the
return URL carried. Request bodies with unknown keys are refused.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from .. import services
from ..amounts import format_amount
from ..models import Invoice
from ..services.fields import is_whole_number
from ..statuses import InvoiceStatus, OrderStatus
from . import schema as openapi

# ASCII digits only (\d alone also takes other scripts' digits), matched in full ($
# would let a trailing newline through).
_DECIMAL_TEXT = re.compile(r"\d{1,18}(?:\.\d{1,18})?", re.ASCII)
_UUID_TEXT = re.compile(openapi.UUID_TEXT)


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know instead of silently dropping them."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        initial = self.initial_data if isinstance(self.initial_data, dict) else {}
        unknown = sorted(set(initial) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: [_("This field is not accepted.")] for name in unknown}
            )
        return attrs


@openapi.extend_schema_field({"type": "string", "format": "decimal", "pattern": openapi.AMOUNT})
class AmountField(serializers.DecimalField):
    """A ``Decimal`` written as a plain decimal string; numbers and exponents are refused.

    A ``DecimalField`` as wide as the models' amounts, so schema generators describe it
    as a decimal string; parsing and output are stricter than DRF's own.
    """

    default_error_messages = {
        "invalid": _('Enter the amount as a string of digits, e.g. "42.50".'),
        "positive": _("The amount must be greater than zero."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 36)
        kwargs.setdefault("decimal_places", 18)
        kwargs["coerce_to_string"] = True
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if not isinstance(data, str) or not _DECIMAL_TEXT.fullmatch(data):
            self.fail("invalid")
        value = Decimal(data)  # plain ASCII digits: always a finite decimal
        if value <= 0:
            self.fail("positive")
        return value

    def to_representation(self, value: Any) -> str:
        # Serializers never pass None here: a None attribute is written as null.
        return format_amount(value)


@openapi.extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": openapi.POSITIVE_AMOUNT}
)
class PositiveAmountField(AmountField):
    """An ``AmountField`` a client sends: greater than zero (the schema says so too)."""


class TextField(serializers.CharField):
    """A ``CharField`` that takes text only, as the schema's ``"type": "string"`` says:
    DRF's own turns a JSON number into text (``5`` into ``"5"``). Anything else gets
    DRF's message for it (``invalid``: "Not a valid string.")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class OrderIdField(TextField):
    """An ``orderId`` as a client sends it: text, not blank once trimmed, no NUL, at most
    128 characters as sent (white space around it counts). The schema carries the same
    rules (``maxLength`` and a pattern), so an id of white space alone is invalid by the
    schema as it is for the API."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 128)
        kwargs.setdefault(
            "validators", [RegexValidator(openapi.NON_BLANK_TEXT, _("Enter an order id."))]
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        # DRF checks max_length after trimming; the schema's maxLength counts what is sent.
        if self.max_length is not None and isinstance(data, str) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length, length=len(data))
        return super().to_internal_value(data)


class AssetCodeField(TextField):
    """An asset code KUNA Pay offers for invoices (checked against the cached list; the
    schema names the codes in an ``enum``, see ``schema.AssetCodeFieldSchema``)."""

    # DRF's fail() formats messages with str.format: braces, not %(name)s.
    default_error_messages = {"unknown": _("{code} is not an asset invoices can be made in.")}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 16)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        code = super().to_internal_value(data)
        known = {str(item.get("code")) for item in services.list_assets()}
        if code not in known:
            self.fail("unknown", code=code)
        return code


class QuestionnaireFieldsField(serializers.ListField):
    """``questionnaireFields``: names of KUNA Pay's questionnaire fields, at most 20.

    The names are checked against the cached list by the serializer, which answers with
    one message for the list; the schema names them in an ``enum`` (see
    ``schema.QuestionnaireFieldsSchema``)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", TextField(max_length=64))
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)


@openapi.extend_schema_field({"type": "string", "format": "uuid", "pattern": openapi.UUID_TEXT})
class InvoiceIdField(serializers.UUIDField):
    """An ``invoiceId`` as the return URL carries it: a UUID in its hyphenated form.

    DRF's ``UUIDField`` also takes 32 bare hex digits, braces and ``urn:uuid:``, which
    the schema (``format: uuid`` and a pattern) does not: refused here too."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("format", "hex_verbose")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not _UUID_TEXT.fullmatch(data):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class InvoiceCreateSerializer(StrictSerializer):
    """``POST api/invoices/``: which order to pay, and what the customer was shown.

    ``amount`` and ``asset``, when given, must equal the order's: a front end showing a
    stale price gets a 409 (the view compares them) instead of an invoice for a
    different sum. Unknown keys, asset codes and questionnaire field names are 400, and
    the schema says so (``additionalProperties: false``, enums).
    """

    orderId = OrderIdField()
    amount = PositiveAmountField(required=False)
    asset = AssetCodeField(required=False)
    questionnaireFields = QuestionnaireFieldsField(required=False)

    def validate_questionnaireFields(self, value: list[str]) -> list[str]:
        # services.questionnaire_fields keeps only fields with a string name.
        known = {item["name"] for item in services.questionnaire_fields()}
        unknown = sorted(set(value) - known)
        if unknown:
            raise serializers.ValidationError(
                _("Unknown questionnaire field(s): %(names)s.") % {"names": ", ".join(unknown)}
            )
        return list(dict.fromkeys(value))


class InvoiceLookupSerializer(serializers.Serializer):
    """The pair the return URL carries; both are needed to read an invoice."""

    invoiceId = InvoiceIdField()
    orderId = OrderIdField()


class InvoiceStatusSerializer(serializers.Serializer):
    """What a customer may know about their own invoice, and nothing about others."""

    invoiceId = serializers.UUIDField(source="provider_id", read_only=True)
    orderId = serializers.CharField(source="order.external_order_id", read_only=True)
    outcome = serializers.SerializerMethodField(
        help_text='"paid", "pending" or "failed": what to tell the customer.'
    )
    status = serializers.ChoiceField(choices=InvoiceStatus.choices, read_only=True)
    orderStatus = serializers.ChoiceField(
        source="order.status", choices=OrderStatus.choices, read_only=True
    )
    amount = AmountField(source="invoice_amount", read_only=True)
    asset = serializers.CharField(source="invoice_asset", read_only=True)
    paymentAmount = AmountField(source="payment_amount", read_only=True, allow_null=True)
    paymentAsset = serializers.CharField(source="payment_asset", read_only=True)
    paidAmount = AmountField(source="paid_amount", read_only=True)
    paymentUrl = serializers.SerializerMethodField(
        help_text='The payment page while the outcome is "pending", else null.'
    )
    expiresAt = serializers.DateTimeField(source="expires_at", read_only=True, allow_null=True)
    completedAt = serializers.DateTimeField(source="completed_at", read_only=True, allow_null=True)

    @openapi.extend_schema_field({"type": "string", "enum": list(services.OUTCOMES)})
    def get_outcome(self, invoice: Invoice) -> str:
        return services.payment_outcome(invoice)

    def get_paymentUrl(self, invoice: Invoice) -> str | None:
        # Only a pending payment has a page to go to: an open invoice of a paid order
        # (paid through another invoice) must not invite a second payment.
        if services.payment_outcome(invoice) != services.OUTCOME_PENDING:
            return None
        return invoice.payment_url or None


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_text_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    )


class AssetSerializer(serializers.Serializer):
    """One asset from ``GET /v1/invoice/assets``; keys the provider leaves out are left out.

    So are keys whose value has another type than documented: the provider's odd data
    must not become a 500 or reach a front end as something it cannot read.
    """

    # Output only; not read_only=True, which schema generators take for "always there":
    # every key but ``code`` may be missing.
    code = serializers.CharField()
    name = serializers.CharField(required=False)
    description = serializers.CharField(required=False)
    type = serializers.CharField(required=False)
    precision = serializers.IntegerField(required=False)
    position = serializers.IntegerField(required=False)
    icons = serializers.DictField(child=serializers.CharField(), required=False)

    EXPECTED_TYPES = {
        "code": _is_text,
        "name": _is_text,
        "description": _is_text,
        "type": _is_text,
        "precision": is_whole_number,
        "position": is_whole_number,
        "icons": _is_text_map,
    }

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {
            key: instance[key]
            for key, expected in self.EXPECTED_TYPES.items()
            if key in instance and expected(instance[key])
        }


class QuestionnaireFieldSerializer(serializers.Serializer):
    """One buyer field from ``GET /v1/invoice/questionnaire``.

    Its shape is not documented beyond ``name``; the provider's other keys are passed on
    unchanged.
    """

    name = serializers.CharField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {"name": str(instance.get("name")), **instance}
