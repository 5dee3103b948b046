"""Merchant accounts from the shop's own table, besides those of the settings."""

from django_invoices.conf import SettingsAccounts

from .models import Merchant


class MerchantAccounts(SettingsAccounts):
    """The accounts of ``DJANGO_INVOICES`` first, then one per active ``Merchant`` row.

    ``get`` is called for every callback and every request to KUNA Pay: one query by a
    unique column. ``names`` lists them all, for the system checks, the sweep and the
    admin's filter.
    """

    def names(self) -> list[str]:
        rows = Merchant.objects.filter(active=True).order_by("slug")
        return [*super().names(), *rows.values_list("slug", flat=True)]

    def get(self, name: str) -> dict[str, object] | None:
        found = super().get(name)
        if found is not None:
            return dict(found)
        merchant = Merchant.objects.filter(slug=name, active=True).first()
        if merchant is None:
            return None  # an unknown account: its callbacks are refused with 404
        options: dict[str, object] = {
            "PUBLIC_KEY": merchant.public_key,
            "PRIVATE_KEY": merchant.private_keys.split(),
        }
        if merchant.api_url:
            options["API_URL"] = merchant.api_url
        return options
