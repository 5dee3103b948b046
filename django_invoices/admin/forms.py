"""Admin forms."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .. import services
from ..exceptions import KunaPayError
from ..models import Order
from ..returns import display_amount


def asset_choices(assets: list[dict[str, Any]], current: str = "") -> list[tuple[str, str]]:
    """``(code, label)`` pairs of the provider's assets, keeping ``current`` if it is gone."""
    choices: list[tuple[str, str]] = []
    for asset in assets:  # in the provider's order (services.list_assets sorts them)
        code = asset["code"].strip()
        if not code:
            continue
        name = str(asset.get("name") or "").strip()
        choices.append((code, f"{code} ({name})" if name and name != code else code))
    if current and current not in {code for code, _label in choices}:
        choices.append((current, current))
    return choices


class OrderAdminForm(forms.ModelForm):
    """The asset is picked from KUNA Pay's invoice assets, or typed when they are unknown."""

    class Meta:
        model = Order
        fields = ("external_order_id", "amount", "asset", "description", "email", "user")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "asset" in self.fields:
            self._offer_assets()
        amount = self.initial.get("amount")
        if "amount" in self.fields and isinstance(amount, Decimal):
            # "24.90", as every page shows it, not the column's 18 decimal places.
            self.initial["amount"] = display_amount(amount)

    def _offer_assets(self) -> None:
        field = self.fields["asset"]
        try:
            # Short timeout, no retries: staff wait for this page, and can type a code.
            assets = services.list_assets(fast=True)
        except KunaPayError:
            # Already logged by the client; staff can still type the code.
            field.help_text = _(
                "KUNA Pay's list of assets could not be loaded; type the asset code "
                "(for example EUR or USDT)."
            )
            return
        choices = asset_choices(assets, current=str(self.initial.get("asset") or ""))
        if not choices:
            return
        self.fields["asset"] = forms.ChoiceField(
            label=field.label,
            choices=[("", "---------"), *choices],
            required=field.required,
            help_text=_("Assets KUNA Pay accepts for invoices."),
        )
