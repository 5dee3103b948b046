"""Helpers for testing a shop that takes payments with django-invoices.

``deliver_callback`` posts a correctly signed callback to the shop's callback view.
``KunaPaySandbox`` stands in for KUNA Pay: it answers the app's HTTP requests with the
embedded sandbox (``django_invoices.sandbox``, which must be in ``INSTALLED_APPS`` of the
test settings) and forwards the sandbox's callbacks to the shop through Django's test
client, so nothing touches the network. The pytest plugin
(``django_invoices.pytest_plugin``) wraps it in the ``kunapay`` fixture.

Needs ``responses`` (``pip install django-invoices[testing]``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from unittest import mock as unittest_mock
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client, RequestFactory, TestCase, override_settings
from django.urls import Resolver404, resolve, reverse

from . import conf
from .signing import compact_json, parse_recipes, sign_callback

if TYPE_CHECKING:
    import requests
    import responses
    from django.test.client import _MonkeyPatchedWSGIResponse

    from .models import Invoice
    from .sandbox.models import CallbackDelivery, SandboxInvoice

SANDBOX_URLCONF = "django_invoices.sandbox.urls"

# Sandboxes inside their ``with`` block: deliver_callback re-raises their receiver errors.
_ACTIVE: list[KunaPaySandbox] = []
FORWARDED_API_HEADERS = ("api-key", "public-key", "nonce", "signature", "accept")


def callback_body(payload: dict[str, Any] | bytes | str) -> bytes:
    """The bytes of a callback: a dict as compact JSON, str and bytes as given."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return compact_json(payload).encode("utf-8")


def set_invoice_status(invoice: Invoice, provider_status: str) -> Invoice:
    """Move an invoice (and its order) to a KUNA Pay status, as a read answering that
    status would: the same locked transition, the same rules and signals, but no read.

    For tests only (a shop's own, and this app's): outside them nothing changes an
    invoice but what the provider's API answers. Returns the invoice as stored.
    """
    from django.db import transaction

    from .services.transitions import lock_invoice, transition

    with transaction.atomic():
        locked = lock_invoice(invoice)
        transition(locked, provider_status)
        locked.save()
    return locked


def deliver_callback(
    client: Client,
    payload: dict[str, Any] | bytes | str,
    *,
    account: str = conf.DEFAULT_ACCOUNT,
    private_key: str | None = None,
    signature: str | None = None,
) -> _MonkeyPatchedWSGIResponse:
    """POST ``payload`` to the shop's callback view, signed as KUNA Pay signs it.

    ``private_key`` defaults to the account's ``PRIVATE_KEY``, the recipe to the first
    of ``CALLBACK_SIGNATURE_RECIPES``; pass ``signature`` to send a specific (e.g.
    wrong) ``kun-signature`` instead. The view only reads the invoice the callback
    names: what it becomes is what the provider's API (the sandbox) answers.
    """
    body = callback_body(payload)
    if signature is None:
        key = private_key if private_key is not None else conf.get_account(account).private_key
        recipe = parse_recipes(conf.get("CALLBACK_SIGNATURE_RECIPES"))[0]
        signature = sign_callback(key, body, recipe)
    with _run_on_commit_hooks():
        response = client.post(
            reverse("django_invoices:callback", kwargs={"account": account}),
            data=body,
            content_type="application/json",
            headers={"kun-signature": signature},
        )
    for sandbox in _ACTIVE:
        sandbox.raise_receiver_errors()
    return response


def _run_on_commit_hooks() -> Any:
    """Run the on-commit hooks a callback registers, as its commit would in production.

    Inside a test's wrapping transaction (pytest-django's ``db``) they would never run,
    and ``order_paid`` receivers, the point of most shop tests, would stay silent.
    """
    return TestCase.captureOnCommitCallbacks(execute=True)


def invoice_event(data: dict[str, Any]) -> dict[str, Any]:
    """A status callback carrying an invoice object."""
    return {"event": "Invoice", "data": data}


class _Stalled(Exception):
    """The sandbox plays a timeout; the fake turns it into ``requests.ReadTimeout``."""


ACCEPTED = "an Order, an Invoice, a sandbox invoice, an API dict with an 'id', or an invoice id"


def _invoice_pk(invoice: Any, *, create: bool = False) -> str:
    """The sandbox id of what a test passes for an invoice.

    An app ``Order`` stands for its open invoice, or its newest one; with ``create``
    (the buyer's actions) an order without an open invoice gets one, as checkout would.
    Anything else that names no invoice is a ``TypeError``, said plainly.
    """
    from .models import Invoice, Order
    from .sandbox.models import SandboxInvoice

    if isinstance(invoice, Order):
        return str(_order_invoice(invoice, create=create).provider_id)
    if isinstance(invoice, Invoice):
        return str(invoice.provider_id)
    if isinstance(invoice, SandboxInvoice):
        return str(invoice.pk)
    if isinstance(invoice, dict) and "id" in invoice:
        return _uuid_text(invoice["id"])
    if isinstance(invoice, (str, uuid.UUID)):
        return _uuid_text(invoice)
    raise TypeError(f"expected {ACCEPTED}, not {type(invoice).__name__} {invoice!r}")


def _uuid_text(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a KUNA Pay invoice id (a UUID); pass {ACCEPTED}"
        ) from None


def _order_invoice(order: Any, *, create: bool) -> Any:
    from . import services
    from .statuses import OPEN_STATUSES

    if create:
        # The order's open invoice, or a new one: create_invoice does exactly that (and
        # says clearly why a paid order cannot be paid again).
        return services.create_invoice(order)
    found = (
        # At most one is open: the database allows one open invoice per order.
        order.invoices.filter(status__in=OPEN_STATUSES).first()
        or order.invoices.order_by("-created_at", "-pk").first()
    )
    if found is None:
        raise LookupError(f"order {order} has no invoice yet; kunapay.pay(order) creates one")
    return found


class KunaPaySandbox:
    """A stateful KUNA Pay for tests: the sandbox behind a ``responses`` mock.

    Use as a context manager (the ``kunapay`` fixture does). Every ``API_URL`` of the
    ``DJANGO_INVOICES`` accounts is routed to the sandbox's views; callbacks to
    ``BASE_URL`` go to the shop through Django's test client.
    """

    def __init__(self, *, shop_client: Client | None = None, strict: bool = True) -> None:
        self.shop_client = shop_client or Client()
        #: Re-raise what the shop's signal receivers raise (see ``receiver_errors``).
        self.strict = strict
        #: Every exception a receiver raised while this sandbox was active, in order.
        self.receiver_errors: list[Exception] = []
        self._unraised: list[Exception] = []
        self.mock: responses.RequestsMock | None = None
        self._sandbox_settings: dict[str, Any] = {
            **(getattr(settings, "DJANGO_INVOICES_SANDBOX", None) or {}),
            # Tests must not wait: no back-off, late callbacks only on demand.
            "CALLBACK_BACKOFF": 0,
            "LATE_CALLBACK_THREAD": False,
            # Tests run with DEBUG off; inside this context nothing leaves the process.
            "ENABLED": True,
            "ALLOW_WITHOUT_DEBUG": True,
        }
        self._override: override_settings | None = None
        self._overrides: list[override_settings] = []
        self._patches: list[Any] = []

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> KunaPaySandbox:
        import responses
        from django.apps import apps

        if not apps.is_installed("django_invoices.sandbox"):
            raise RuntimeError(
                'Add "django_invoices.sandbox" to INSTALLED_APPS of your test settings to '
                "use the KUNA Pay sandbox in tests."
            )
        hosts = []
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        for api_url in self.api_urls():
            hosts.append(urlsplit(api_url).hostname or "")
            pattern = re.compile(re.escape(api_url) + r"(/.*)?(\?.*)?$")
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                self.mock.add_callback(method, pattern, callback=self._route_api)
        shop = str(conf.get("BASE_URL") or "").rstrip("/")
        if shop:
            hosts.append(urlsplit(shop).hostname or "")
            # Never the API's own URLs, when the API lives under the shop's address (the
            # example project's sandbox): responses would answer a URL matched twice
            # from the first route once, then from the second.
            apis = "|".join(re.escape(url) for url in self.api_urls())
            not_api = rf"(?!(?:{apis})(?:[/?]|$))" if apis else ""
            self.mock.add_callback(
                "POST", re.compile(not_api + re.escape(shop) + r"/.*"), callback=self._route_shop
            )
        # Every API_URL is routed here, so every account is a sandbox account.
        self._sandbox_settings["API_URLS"] = [
            *(self._sandbox_settings.get("API_URLS") or []),
            *self.api_urls(),
        ]
        allowed = [*settings.ALLOWED_HOSTS, *(h for h in hosts if h)]
        self._overrides = [override_settings(ALLOWED_HOSTS=allowed)]
        self._overrides[0].enable()
        self._apply_settings()
        from .sandbox import api
        from .services import transitions

        for patch in (
            unittest_mock.patch.object(api, "stall", self._stall),
            unittest_mock.patch.object(
                transitions, "receiver_failed", self._receiver_failed(transitions.receiver_failed)
            ),
        ):
            patch.start()
            self._patches.append(patch)
        self.mock.start()
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        try:
            self._stop()
        finally:
            if exc_info[0] is None:
                # A receiver failed after the last action (a callback the test posted
                # itself, say): the test must not pass as if nothing happened.
                self.raise_receiver_errors()

    def _stop(self) -> None:
        if self.mock is not None:
            self.mock.stop()
            self.mock.reset()
        for patch in reversed(self._patches):
            patch.stop()
        self._patches.clear()
        if self._override is not None:
            self._override.disable()
            self._override = None
        for override in reversed(self._overrides):
            override.disable()
        self._overrides.clear()

    def _apply_settings(self) -> None:
        if self._override is not None:
            self._override.disable()
        self._override = override_settings(DJANGO_INVOICES_SANDBOX=dict(self._sandbox_settings))
        self._override.enable()

    @staticmethod
    def api_urls() -> list[str]:
        urls = []
        for name in conf.account_names():
            url = str(conf.raw_account(name)["API_URL"] or "").rstrip("/")
            if url and url not in urls:
                urls.append(url)
        return urls

    # -- routing -------------------------------------------------------------------------

    def _route_api(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(str(request.url))
        base = next(
            (
                urlsplit(api_url).path.rstrip("/")
                for api_url in self.api_urls()
                if str(request.url).startswith(api_url)
            ),
            "",
        )
        full_path = url.path + (f"?{url.query}" if url.query else "")
        try:
            match = resolve(url.path[len(base) :] or "/", urlconf=SANDBOX_URLCONF)
        except Resolver404:
            body = {"errors": [{"code": "NOT_FOUND", "message": f"No route {url.path}"}]}
            return 404, {"Content-Type": "application/json"}, json.dumps(body).encode()
        body_bytes = request.body or b""
        if isinstance(body_bytes, str):
            body_bytes = body_bytes.encode("utf-8")
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in FORWARDED_API_HEADERS
        }
        django_request = RequestFactory().generic(
            str(request.method),
            full_path,
            data=body_bytes,
            content_type=request.headers.get("Content-Type", "application/json"),
            secure=url.scheme == "https",
            headers={**headers, "host": url.netloc},
        )
        django_request.resolver_match = match
        try:
            response = match.func(django_request, *match.args, **match.kwargs)
        except _Stalled as exc:
            import requests

            raise requests.ReadTimeout(f"the sandbox stalls {request.method} {url.path}") from exc
        return (
            response.status_code,
            {"Content-Type": response.get("Content-Type", "application/json")},
            response.content,
        )

    def _route_shop(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(str(request.url))
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in ("kun-signature", "user-agent")
        }
        with _run_on_commit_hooks():
            response = self.shop_client.generic(
                str(request.method),
                url.path + (f"?{url.query}" if url.query else ""),
                data=body,
                content_type=request.headers.get("Content-Type", "application/json"),
                secure=url.scheme == "https",
                headers={**headers, "host": url.netloc},
            )
        return response.status_code, {"Content-Type": "text/plain"}, response.content

    @staticmethod
    def _stall(seconds: float) -> None:
        raise _Stalled

    # -- the shop's receivers ------------------------------------------------------------

    def _receiver_failed(self, log: Any) -> Any:
        def failed(receiver: Any, error: Exception) -> None:
            log(receiver, error)  # logged as in production
            self.receiver_errors.append(error)
            self._unraised.append(error)

        return failed

    def raise_receiver_errors(self) -> None:
        """In strict mode, raise the first exception a receiver raised since the last call.

        Called after every buyer action and ``deliver_late``: a shop's ``order_paid``
        receiver that breaks fails the test with its own exception, where production only
        logs it. ``kunapay.strict = False`` (or ``kunapay_strict = false`` in the pytest
        configuration) keeps production's behaviour; ``receiver_errors`` lists them all.
        """
        errors, self._unraised = self._unraised, []
        if not errors or not self.strict:
            return
        first = errors[0]
        note = (
            "Raised by a receiver of a django-invoices signal; the kunapay fixture re-raises "
            "it (strict mode). Set kunapay.strict = False to only log it, as production does."
        )
        if len(errors) > 1:
            note += f" {len(errors) - 1} more receiver error(s) in kunapay.receiver_errors."
        if hasattr(first, "add_note"):
            first.add_note(note)
        raise first

    # -- reading the provider's state ----------------------------------------------------

    def get(self, invoice: Any) -> SandboxInvoice:
        """The sandbox's invoice for an app ``Invoice``, an id, or an API dict."""
        from .sandbox.models import SandboxInvoice

        return SandboxInvoice.objects.get(pk=_invoice_pk(invoice))

    def data(self, invoice: Any) -> dict[str, Any]:
        """The invoice as ``GET /v1/invoice/{id}`` returns it."""
        from .sandbox import wire

        return wire.invoice_detail(self.get(invoice))

    @property
    def invoices(self) -> list[SandboxInvoice]:
        """Every invoice created in the sandbox, newest first."""
        from .sandbox.models import SandboxInvoice

        return list(SandboxInvoice.objects.order_by("-created_at"))

    def deliveries(self, invoice: Any = None) -> list[CallbackDelivery]:
        """Callbacks the sandbox stored (sent, failed or held), oldest first."""
        from .sandbox.models import CallbackDelivery

        found = CallbackDelivery.objects.select_related("invoice").order_by("id")
        if invoice is not None:
            found = found.filter(invoice_id=uuid.UUID(_invoice_pk(invoice)))
        return list(found)

    def callbacks(self, invoice: Any = None) -> list[dict[str, Any]]:
        """The bodies of those callbacks, parsed."""
        return [json.loads(d.body) for d in self.deliveries(invoice)]

    # -- the buyer's actions -------------------------------------------------------------

    def pay(self, invoice: Any, *, asset: str | None = None, **answers: str) -> SandboxInvoice:
        """The buyer pays the amount due (in ``asset``, default the sandbox's choice).

        ``invoice`` is an app ``Invoice``, a sandbox invoice, an API dict or an id, or an
        ``Order``: its open invoice, created first when it has none (as checkout does).
        The other actions below take the same.
        """
        return self._act(invoice, "pay", asset=asset, answers=answers)

    def pay_part(
        self, invoice: Any, amount: Decimal | str | None = None, *, asset: str | None = None
    ) -> SandboxInvoice:
        """The buyer pays less than due (half unless ``amount`` says otherwise)."""
        return self._act(invoice, "pay_part", amount=amount, asset=asset)

    def overpay(
        self, invoice: Any, amount: Decimal | str | None = None, *, asset: str | None = None
    ) -> SandboxInvoice:
        """The buyer pays more than due (one and a half times unless ``amount`` says)."""
        return self._act(invoice, "overpay", amount=amount, asset=asset)

    def expire(self, invoice: Any) -> SandboxInvoice:
        """The invoice times out unpaid."""
        return self._act(invoice, "expire")

    def decline(self, invoice: Any) -> SandboxInvoice:
        """The buyer's deposit is refused."""
        return self._act(invoice, "decline")

    def _act(
        self,
        invoice: Any,
        action: str,
        *,
        amount: Decimal | str | None = None,
        asset: str | None = None,
        answers: dict[str, str] | None = None,
    ) -> SandboxInvoice:
        from .sandbox import simulate

        acted = simulate.act(
            _invoice_pk(invoice, create=True),
            action,
            amount=amount,
            payment_asset=asset,
            answers=answers,
        )
        self.raise_receiver_errors()
        return acted

    # -- bad days ------------------------------------------------------------------------

    def fail(self, *modes: str, invoice: Any = None) -> None:
        """Switch failure modes on, for every request (default) or for one invoice.

        Modes: ``api_error``, ``api_timeout``, ``callback_twice``,
        ``callback_out_of_order``, ``callback_late``, ``callback_bad_signature``,
        ``paid_after_expiry``. ``fail()`` with no mode switches the global ones off.
        """
        from .sandbox.conf import FAILURE_MODES

        unknown = [mode for mode in modes if mode not in FAILURE_MODES]
        if unknown:
            raise ValueError(f"unknown failure modes {unknown}; known: {list(FAILURE_MODES)}")
        if invoice is not None:
            found = self.get(invoice)
            found.failures = list(modes)
            found.save(update_fields=["failures", "updated_at"])
            return
        self._sandbox_settings["FAILURES"] = list(modes)
        self._apply_settings()

    def configure(self, **options: Any) -> None:
        """Set ``DJANGO_INVOICES_SANDBOX`` options for the rest of the test, e.g.
        ``configure(INVOICE_EVENT_NAME="InvoiceStatusChanged", SEND_CALLBACKS=False)``."""
        from .sandbox.conf import DEFAULTS

        unknown = [name for name in options if name not in DEFAULTS]
        if unknown:
            raise ValueError(f"unknown sandbox settings {unknown}; known: {list(DEFAULTS)}")
        self._sandbox_settings.update(options)
        self._apply_settings()

    @contextmanager
    def failing(self, *modes: str) -> Iterator[None]:
        """``with kunapay.failing("api_error"): ...``"""
        before = list(self._sandbox_settings.get("FAILURES") or [])
        self.fail(*modes)
        try:
            yield
        finally:
            self.fail(*before)

    def deliver_late(self) -> int:
        """Send the callbacks held back by ``callback_late`` now; return how many."""
        from .sandbox import delivery

        sent = delivery.deliver_due(force=True)
        self.raise_receiver_errors()
        return sent
