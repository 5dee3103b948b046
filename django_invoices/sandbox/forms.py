"""Forms of the sandbox's payment page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from . import conf, wire
from .models import SandboxInvoice

FIELD_LABELS = {
    "email": _("Email"),
    "firstName": _("First name"),
    "lastName": _("Last name"),
    "phone": _("Phone"),
    "country": _("Country"),
}


class PaymentForm(forms.Form):
    """What the buyer enters: the questionnaire, the currency, an amount for odd payments."""

    payment_asset = forms.ChoiceField(label=_("Pay with"), required=False)
    amount = forms.DecimalField(
        label=_("Amount for a part payment or an overpayment"),
        required=False,
        min_value=0,
        # Payment-asset amounts: an invoice's limit in its most valuable asset, in USDT.
        max_value=Decimal(10) ** 17,
        max_digits=36,
        decimal_places=18,
    )

    def __init__(self, *args: Any, invoice: SandboxInvoice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invoice = invoice
        field = self.fields["payment_asset"]
        assert isinstance(field, forms.ChoiceField)
        dues = self.amounts_due()
        # Each choice names what it costs, so the amount below has its unit and limits.
        field.choices = [
            (code, _("%(asset)s (%(due)s due)") % {"asset": code, "due": due} if due else code)
            for code, due in dues.items()
        ]
        field.initial = invoice.payment_asset or (
            invoice.asset if invoice.asset in wire.PAYMENT_ASSETS else wire.PAYMENT_ASSETS[0]
        )
        amount = self.fields["amount"]
        if invoice.payment_asset:
            field.disabled = True
            amount.label = _("Amount in %(asset)s for a part payment or an overpayment") % {
                "asset": invoice.payment_asset
            }
            amount.help_text = _(
                "%(due)s is due: a part payment is less, an overpayment more. Leave empty "
                "for half (part payment) or one and a half (overpayment)."
            ) % {"due": dues.get(invoice.payment_asset, "")}
        else:
            amount.label = _(
                "Amount in the currency chosen above, for a part payment or an overpayment"
            )
            amount.help_text = _(
                "The list above shows what is due in each currency: a part payment is "
                "less, an overpayment more. Leave empty for half (part payment) or one "
                "and a half (overpayment)."
            )
        answers = invoice.answers or {}
        for name in invoice.questionnaire or []:
            label = FIELD_LABELS.get(name, name)
            question: forms.Field
            if name == "email":
                question = forms.EmailField(label=label)
            else:
                question = forms.CharField(label=label, max_length=255)
            question.initial = answers.get(name)
            self.fields[f"q_{name}"] = question

    def amounts_due(self) -> dict[str, str]:
        """What the invoice costs in each currency the buyer may pay with, as text."""
        invoice = self.invoice
        if invoice.payment_asset and invoice.payment_amount is not None:
            return {
                invoice.payment_asset: wire.amount_text(
                    invoice.payment_amount, invoice.payment_asset
                )
            }
        dues = {}
        for code in wire.PAYMENT_ASSETS:
            try:
                due = wire.convert(invoice.amount, invoice.asset, code)
            except KeyError:  # an invoice asset the sandbox has no rate for
                dues[code] = ""
            else:
                dues[code] = wire.amount_text(due, code)
        return dues

    def answers(self) -> dict[str, str]:
        return {
            name: str(self.cleaned_data.get(f"q_{name}") or "")
            for name in self.invoice.questionnaire or []
        }

    def questionnaire_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("q_")]


class FailureForm(forms.Form):
    """The failure modes this invoice plays (on top of those in the settings)."""

    failures = forms.MultipleChoiceField(
        label=_("Failure modes for this invoice"),
        choices=list(conf.FAILURE_MODES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
