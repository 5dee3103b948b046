"""Every error the app raises on purpose derives from ``InvoicesError``.

Errors from the provider derive from ``KunaPayError`` and carry its HTTP status, its
error codes and messages, and ``ambiguous``: whether the request may have taken effect
at the provider even though no answer came back.
"""

from __future__ import annotations

from typing import Any


class InvoicesError(Exception):
    """Base class of the app's own errors."""


class KunaPayError(InvoicesError):
    """The provider could not be reached or refused a request."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        response_text: str = "",
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.errors = errors or []
        self.response_text = response_text
        self.ambiguous = ambiguous

    @property
    def codes(self) -> list[str]:
        return [str(err.get("code", "")) for err in self.errors if isinstance(err, dict)]

    def __str__(self) -> str:
        prefix = f"HTTP {self.status_code}: " if self.status_code else ""
        return prefix + self.message


class AuthenticationFailed(KunaPayError):
    """The provider refused our credentials (401/403, IP allow-list)."""


class ProviderValidationError(KunaPayError):
    """The provider refused the request's content (400/422); see ``errors``."""


class NotFound(KunaPayError):
    """The provider does not know the requested object (404)."""


class RateLimited(KunaPayError):
    """Too many requests (429)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderUnavailable(KunaPayError):
    """The provider failed (5xx) or could not be reached; worth trying again later."""


class ProviderTimeout(ProviderUnavailable):
    """No answer within the configured timeout."""


class InvalidResponse(KunaPayError):
    """The provider answered 2xx with something that is not the documented envelope."""


class InvoiceCreationError(InvoicesError):
    """An invoice cannot be created for this order (e.g. it is already paid).

    ``order_status`` is the order's status that refused it (``"paid"``,
    ``"partially_paid"``), read under the order's lock.
    """

    def __init__(self, message: str = "", *, order_status: str = "") -> None:
        super().__init__(message)
        self.order_status = order_status
