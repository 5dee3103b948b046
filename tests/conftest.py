import re
from decimal import Decimal

import django
import pytest
import requests
from django.core.cache import cache

from django_invoices import signals
from django_invoices.models import CallbackEvent, Invoice, Order
from django_invoices.statuses import OrderStatus

from .http_mock import strict_mock

pytest_plugins = ["pytester"]

API = "https://api.kunapay.test"
INVOICE_ID = "506c695a-4187-4463-ac41-07dc0782cb0e"
# What echo_provider answers; api.replace("GET", ECHO_URL, ...) gives it a fixed answer.
ECHO_URL = re.compile(re.escape(API) + r"/v1/invoice/[^/?]+$")
# Another invoice of the same order, made after INVOICE_ID.
NEWER_ID = "11111111-2222-4333-8444-555555555555"


_REAL_SEND = requests.adapters.HTTPAdapter.send


@pytest.fixture(autouse=True)
def _no_http_mock_left_behind():
    """A test must stop every HTTP mock it started: one left running answers the tests
    after it (a real server's included) with "Connection refused by Responses"."""
    yield
    assert requests.adapters.HTTPAdapter.send is _REAL_SEND, "an HTTP mock was left running"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def listen(db):
    """``listen(*signal_names, kwargs=False)``: a list that fills with the names (or
    ``(name, kwargs)`` pairs) of those ``django_invoices.signals`` as they are sent."""
    hooks = []

    def start(*names, kwargs=False):
        seen = []
        for name in names:

            def receiver(sender, _name=name, **sent):
                sent.pop("signal", None)
                seen.append((_name, sent) if kwargs else _name)

            signal = getattr(signals, name)
            signal.connect(receiver, weak=False)
            hooks.append((signal, receiver))
        return seen

    yield start
    for signal, receiver in hooks:
        signal.disconnect(receiver)


@pytest.fixture
def api():
    """Stands in for KUNA Pay; any request not registered fails the test (at its end,
    even when the code under test swallowed the error; see ``http_mock``)."""
    with strict_mock() as mock:
        yield mock


@pytest.fixture
def order(db):
    return Order.objects.create(
        external_order_id="A-1", amount=Decimal("42.50"), asset="EUR", email="buyer@example.com"
    )


@pytest.fixture
def invoice(order):
    """The order's invoice, just created at the provider."""
    return Invoice.objects.create(
        provider_id=INVOICE_ID,
        order=order,
        invoice_amount=order.amount,
        invoice_asset="EUR",
        payment_url="https://pay.example/i/1",
    )


@pytest.fixture
def btc_invoice(order):
    """The order's invoice, awaiting a payment of 0.001 BTC (the callback tests' invoice)."""
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.AWAITING_PAYMENT)
    return Invoice.objects.create(
        provider_id=INVOICE_ID,
        order=order,
        provider_status="CREATED",
        invoice_amount=order.amount,
        invoice_asset=order.asset,
        payment_amount=Decimal("0.001"),
        payment_asset="BTC",
    )


def invoice_payload(status="CREATED", invoice_id=INVOICE_ID, **extra):
    data = {
        "id": invoice_id,
        "status": status,
        "externalOrderId": "A-1",
        "invoiceAmount": "42.5",
        "invoiceAssetCode": "EUR",
        "paymentAmount": None,
        "paymentAssetCode": None,
        "createdAt": "2026-11-25T10:00:00.000Z",
        "expireAt": "2026-11-25T11:00:00.000Z",
        "completedAt": None,
        "transactions": [],
    }
    data.update(extra)
    return data


def spy_on_clients(monkeypatch, module):
    """``(account, fast)`` of every client ``module`` asks its ``get_client`` for, in a
    list that grows as it asks; the clients themselves are the real ones."""
    calls = []
    real = module.get_client

    def spy(account="default", *, fast=False):
        calls.append((account, fast))
        return real(account, fast=fast)

    monkeypatch.setattr(module, "get_client", spy)
    return calls


@pytest.fixture
def sent(listen):
    """Names of the signals sent, in order."""
    return listen(
        "invoice_status_changed",
        "invoice_paid",
        "order_paid",
        "deposit_received",
        "invoice_partially_paid",
        "invoice_overpaid",
        "invoice_paid_late",
        "invoice_declined",
    )


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """``deliver(payload, **post_options)``: post a signed callback and run what was
    deferred to the commit (signals), as a real request would."""
    from .callbacks_kit import post

    def deliver(payload=None, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return post(client, payload, **kwargs)

    return deliver


@pytest.fixture
def echo_provider(api):
    """A KUNA Pay that agrees with every signed callback stored so far.

    ``GET /v1/invoice/{id}`` answers the last status the verified callbacks about that
    invoice reported (with their other invoice fields) and, as its transactions, every
    deposit they named (by ``invoiceId``, or ``externalOrderId`` of the invoice's order).
    For the tests of how a read is applied, step by step; the tests of what is trusted
    (``test_source_of_truth.py``) give the provider answers of their own.
    """
    import json
    import uuid

    from django_invoices.models import CallbackEvent

    def same(a, b):
        try:
            return uuid.UUID(str(a)) == uuid.UUID(str(b))
        except ValueError:
            return False

    def answer(request):
        invoice_id = request.url.rsplit("/", 1)[1]
        invoice = Invoice.objects.select_related("order").filter(provider_id=invoice_id).first()
        order_id = invoice.order.external_order_id if invoice else None
        status, extra, transactions = "CREATED", {}, {}
        for body in (
            CallbackEvent.objects.filter(verified=True)
            .order_by("pk")
            .values_list("body", flat=True)
        ):
            try:
                data = json.loads(body).get("data")
            except (ValueError, AttributeError):
                continue
            if not isinstance(data, dict):
                continue
            if same(data.get("id"), invoice_id):
                status = data.get("status", status)
                extra.update({k: v for k, v in data.items() if k not in ("id", "status")})
            elif same(data.get("invoiceId"), invoice_id) or (
                "invoiceId" not in data and order_id and data.get("externalOrderId") == order_id
            ):
                transactions[str(data.get("id"))] = data
        extra.setdefault("transactions", list(transactions.values()))
        payload = invoice_payload(status, invoice_id, **extra)
        for key in ("paymentAmount", "paymentAssetCode"):
            if key not in extra:  # not reported: the invoice keeps what it has
                del payload[key]
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": payload})

    api.add_callback("GET", ECHO_URL, callback=answer)
    return answer


def apply_status(invoice, provider_status, *, payload=None):
    """The locked transition to a provider status, without a read (what
    ``django_invoices.testing.set_invoice_status`` does), returning the transition;
    ``payload``: a provider invoice (dict) mirrored with it."""
    from django.db import transaction

    from django_invoices import wire
    from django_invoices.services.transitions import lock_invoice, transition

    with transaction.atomic():
        locked = lock_invoice(invoice)
        data = wire.Invoice.from_wire(payload) if payload is not None else None
        result = transition(locked, provider_status, payload=data)
        locked.save()
    return result


def apply_invoice_data(invoice, payload):
    """Apply a provider answer (a dict, as the wire carries it) to the invoice."""
    from django_invoices import wire
    from django_invoices.services import transitions

    return transitions.apply_invoice_data(invoice, wire.Invoice.from_wire(payload))


def states():
    """The states of every stored callback event, sorted."""
    return sorted(CallbackEvent.objects.values_list("state", flat=True))


# -- a task system that runs nothing by itself ---------------------------------------------

# Django 6 has the Tasks framework built in; on 5.2 it is the django-tasks package.
TASKS_BACKENDS = "django.tasks.backends" if django.VERSION >= (6, 0) else "django_tasks.backends"
DUMMY_TASKS = {"default": {"BACKEND": f"{TASKS_BACKENDS}.dummy.DummyBackend"}}


@pytest.fixture
def queued(settings):
    """``DJANGO_INVOICES["TASKS"]`` on django-tasks' DummyBackend, which keeps what is
    enqueued and runs nothing: the list of its results, oldest first; run them with
    ``run_queued``, as a worker would."""
    pytest.importorskip("django_tasks")
    from django_invoices.tasks.framework import task_backends

    from .settings import DJANGO_INVOICES

    settings.TASKS = DUMMY_TASKS
    settings.DJANGO_INVOICES = {
        **DJANGO_INVOICES,
        "TASKS": "django.tasks",
        "TASKS_RETRY_BACKOFF": 5,
    }
    backend = task_backends["default"]
    backend.results.clear()
    return backend.results


@pytest.fixture
def run_queued(django_capture_on_commit_callbacks):
    """``run_queued(results, due_only=False)``: run what was enqueued so far, oldest
    first, as a worker would, with what waits for the commit (signals, retries);
    returns the return values. Tasks enqueued meanwhile stay queued; with
    ``due_only``, so do those whose ``run_after`` is still to come."""
    from django.utils import timezone

    def run(results, *, due_only=False):
        now = timezone.now()
        taken = [
            result
            for result in results
            if not due_only or result.task.run_after is None or result.task.run_after <= now
        ]
        for result in taken:
            results.remove(result)
        returned = []
        for result in taken:
            with django_capture_on_commit_callbacks(execute=True):
                returned.append(result.task.call(*result.args, **result.kwargs))
        return returned

    return run


@pytest.fixture
def celery_eager():
    """Celery running every task at once in the caller, as if a worker were always free
    (the app's tasks are shared tasks of the default app)."""
    pytest.importorskip("celery")
    from celery import current_app

    from django_invoices.tasks import with_celery  # noqa: F401  (defines the tasks)

    before = (current_app.conf.task_always_eager, current_app.conf.task_eager_propagates)
    current_app.conf.task_always_eager = True
    current_app.conf.task_eager_propagates = True
    yield current_app
    current_app.conf.task_always_eager, current_app.conf.task_eager_propagates = before
