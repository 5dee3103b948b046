"""One merchant account per tenant, for a shop run with django-tenants: each tenant's row
carries its KUNA Pay keys, and its callbacks come to its own domain, where the tenant's
schema (and its invoices) is the one in use."""

from django.db import connection

from django_invoices.conf import DEFAULT_ACCOUNT


class TenantAccounts:
    """The account "default" of whichever tenant the request (or the
    ``tenant_command``) runs for; no other account, and none outside a tenant."""

    def names(self) -> list[str]:
        return [DEFAULT_ACCOUNT] if self.get(DEFAULT_ACCOUNT) is not None else []

    def get(self, name: str) -> dict[str, object] | None:
        tenant = getattr(connection, "tenant", None)  # set by django-tenants' middleware
        keys = getattr(tenant, "kunapay_private_keys", "")
        if name != DEFAULT_ACCOUNT or not keys:
            return None
        return {
            "PUBLIC_KEY": tenant.kunapay_public_key,
            "PRIVATE_KEY": keys.split(),
            # Callbacks and returning customers reach the tenant's own domain.
            "BASE_URL": f"https://{tenant.get_primary_domain().domain}",
        }
