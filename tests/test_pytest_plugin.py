"""The pytest plugin, used exactly as a shop uses it: fixtures come from the entry point."""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from django_invoices import services
from django_invoices.exceptions import KunaPayError
from django_invoices.models import CallbackEvent, Invoice, Order
from django_invoices.signals import order_paid
from django_invoices.signing import compact_json
from django_invoices.testing import deliver_callback, invoice_event, set_invoice_status

ROOT = Path(__file__).resolve().parent.parent


def test_the_plugin_is_registered_by_its_entry_point(request):
    assert request.config.pluginmanager.has_plugin("django_invoices")


def test_customer_pays_and_the_order_is_paid(kunapay, order):
    invoice = services.create_invoice(order)
    assert invoice.payment_url == f"https://api.kunapay.test/pay/{invoice.provider_id}/"
    remote = kunapay.get(invoice)
    assert (remote.amount, remote.asset, remote.external_order_id) == (
        Decimal("42.50"),
        "EUR",
        "A-1",
    )
    assert remote.callback_url == "https://shop.example/invoices/callback/default/"

    kunapay.pay(invoice, email="buyer@example.com")

    # No refresh needed: the signed callbacks reached the callback view and settled it.
    order.refresh_from_db()
    assert order.status == "paid"
    deliveries = kunapay.deliveries(invoice)
    assert [d.event for d in deliveries].count("Invoice") == 3
    for sent in deliveries:
        assert sent.url == "https://shop.example/invoices/callback/default/"
        assert sent.response_status == 200
    assert CallbackEvent.objects.filter(state="applied").count() == len(deliveries)
    invoice.refresh_from_db()
    assert invoice.deposits.get().processed_amount == Decimal("46.75")


def test_customer_pays_and_the_order_ships(kunapay, order):
    """What a shop's own test looks like: an ``order_paid`` receiver ships the order."""
    shipped = []

    def ship(sender, order, invoice, **kwargs):
        shipped.append(order.external_order_id)

    order_paid.connect(ship, weak=False)
    try:
        kunapay.pay(services.create_invoice(order))
    finally:
        order_paid.disconnect(ship)
    assert shipped == ["A-1"]


def test_unverifiable_callbacks_are_refused_but_their_read_finds_the_payment(kunapay, order):
    kunapay.fail("callback_bad_signature")
    invoice = services.create_invoice(order)
    kunapay.pay(invoice)
    order.refresh_from_db()
    # Every callback answered 401 and applied nothing; the one throttled read the first
    # of them set off found the payment at the API (the only source of truth).
    assert {d.response_status for d in kunapay.deliveries(invoice)} == {401}
    assert order.status == "paid"
    assert not CallbackEvent.objects.filter(verified=True).exists()


@pytest.mark.parametrize(
    ("action", "status"),
    [("expire", "expired"), ("pay_part", "partially_paid"), ("decline", "failed")],
)
def test_other_outcomes(kunapay, order, action, status):
    invoice = services.create_invoice(order)
    getattr(kunapay, action)(invoice)
    services.refresh_invoice(invoice)
    order.refresh_from_db()
    assert order.status == status


def test_created_invoices_can_be_read_back(kunapay, order):
    invoice = services.create_invoice(order)
    assert kunapay.invoices == [kunapay.get(invoice)]
    assert kunapay.data(invoice)["status"] == "CREATED"
    assert kunapay.callbacks(invoice) == []


def test_a_provider_outage(kunapay, order):
    with kunapay.failing("api_error"), pytest.raises(KunaPayError):
        services.create_invoice(order)
    assert kunapay.invoices == []
    assert services.create_invoice(order).provider_id


def test_held_callbacks(kunapay, order):
    kunapay.fail("callback_late")
    invoice = services.create_invoice(order)
    kunapay.expire(invoice)
    assert {d.state for d in kunapay.deliveries()} == {"held"}
    assert kunapay.deliver_late() == 1
    assert kunapay.deliveries()[0].attempts >= 1


# -- deliver_callback ------------------------------------------------------------------


def test_deliver_callback_posts_a_correctly_signed_body(client, db):
    payload = invoice_event({"id": "506c695a-4187-4463-ac41-07dc0782cb0e", "status": "PAID"})
    response = deliver_callback(client, payload)
    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert event.account == "default"
    assert event.body == compact_json(payload)
    assert (event.verified, event.signature_variant) == (True, "sha384/hex/raw")
    assert event.state == "ignored"  # a valid callback about an invoice we do not have


def test_deliver_callback_for_another_account_key_or_signature(client, settings, db):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"eu": {"API_KEY": "eu-key", "PRIVATE_KEY": "eu-private"}},
    }
    response = deliver_callback(client, {"event": "Invoice", "data": {}}, account="eu")
    assert response.status_code == 200
    assert CallbackEvent.objects.get(account="eu").verified

    raw = '{"event": "Invoice", "data": {"note": "ж"}}'
    response = deliver_callback(client, raw, private_key="other")
    assert response.status_code == 401
    event = CallbackEvent.objects.latest("pk")
    assert event.body == raw
    assert event.verified is False

    response = deliver_callback(client, {"event": "Invoice"}, signature="0" * 96)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"


def test_a_shop_test_suite_using_only_the_entry_point(pytester, monkeypatch):
    """A project with no conftest of ours: the fixture comes from the installed plugin."""
    monkeypatch.delenv("DATABASE_URL", raising=False)  # its own SQLite, not our database
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(
        test_shop="""
        from decimal import Decimal

        from django_invoices import services
        from django_invoices.models import Order


        def test_customer_pays(kunapay):
            order = Order.objects.create(
                external_order_id="S-1", amount=Decimal("5"), asset="USDT"
            )
            invoice = services.create_invoice(order)
            kunapay.pay(invoice)
            services.refresh_invoice(invoice)
            order.refresh_from_db()
            assert order.status == "paid"
        """
    )
    result = pytester.runpytest_subprocess("--ds=tests.settings", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_sandbox_with_a_database_of_its_own_needs_no_marks(pytester, monkeypatch):
    """The README's advice (the sandbox in its own database) with the README's test."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makepyfile(
        shop_settings="""
        from tests.settings import *  # noqa: F403

        DATABASES = {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            "sandbox": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        }
        DATABASE_ROUTERS = ["django_invoices.sandbox.routers.SandboxRouter"]
        DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
        """,
        test_shop="""
        from decimal import Decimal

        import pytest

        from django_invoices import services
        from django_invoices.models import Order


        def pay_an_order(kunapay):
            order = Order.objects.create(
                external_order_id="S-1", amount=Decimal("5"), asset="USDT"
            )
            kunapay.pay(services.create_invoice(order))
            order.refresh_from_db()
            assert order.status == "paid"


        def test_without_a_mark(kunapay):
            pay_an_order(kunapay)


        @pytest.mark.django_db(transaction=True)
        def test_with_a_mark_of_its_own(kunapay, request):
            pay_an_order(kunapay)
            mark = request.node.get_closest_marker("django_db")
            assert mark.kwargs == {"transaction": True, "databases": ["default", "sandbox"]}
        """,
    )
    result = pytester.runpytest_subprocess("--ds=shop_settings", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


# -- receivers that break, and what kunapay.pay accepts -------------------------------


class ShippingFailed(Exception):
    pass


@pytest.fixture
def broken_shipping():
    """An ``order_paid`` receiver that raises, as a shop's buggy one would."""

    def ship(sender, order, invoice, **kwargs):
        raise ShippingFailed(f"cannot ship {order.external_order_id}")

    order_paid.connect(ship, weak=False)
    yield ship
    order_paid.disconnect(ship)


def test_a_receiver_that_raises_fails_the_test_with_its_own_exception(
    kunapay, order, broken_shipping
):
    with pytest.raises(ShippingFailed, match="cannot ship A-1"):
        kunapay.pay(services.create_invoice(order))
    # As in production, the payment itself is recorded; only the receiver broke.
    order.refresh_from_db()
    assert order.status == "paid"
    assert [str(e) for e in kunapay.receiver_errors] == ["cannot ship A-1"]


def test_strict_mode_can_be_switched_off(kunapay, order, broken_shipping, caplog):
    kunapay.strict = False
    kunapay.pay(services.create_invoice(order))  # logged, not raised
    assert [str(e) for e in kunapay.receiver_errors] == ["cannot ship A-1"]
    assert "Receiver" in caplog.text and "failed" in caplog.text


def test_a_callback_posted_by_the_test_re_raises_too(kunapay, order, broken_shipping, client):
    invoice = services.create_invoice(order)
    kunapay.strict = False
    kunapay.pay(invoice)  # the order is paid; its receiver error is left behind
    kunapay.strict = True
    order.invoices.update(status="awaiting_payment")
    type(order).objects.filter(pk=order.pk).update(status="awaiting_payment")
    payload = invoice_event({"id": str(invoice.provider_id), "status": "PAID"})
    with pytest.raises(ShippingFailed):
        deliver_callback(client, payload)


def test_pay_takes_an_order_and_creates_its_invoice(kunapay, order):
    assert not order.invoices.exists()
    paid = kunapay.pay(order)
    invoice = order.invoices.get()
    assert str(paid.pk) == str(invoice.provider_id)
    order.refresh_from_db()
    assert order.status == "paid"
    assert kunapay.get(order) == paid  # reading needs no new invoice


def test_pay_takes_an_order_and_uses_its_open_invoice(kunapay, order):
    invoice = services.create_invoice(order)
    kunapay.pay_part(order)
    assert list(order.invoices.all()) == [invoice]
    assert kunapay.get(invoice).status == "PARTIALLY_PAID"


def test_pay_refuses_what_names_no_invoice_clearly(kunapay, order):
    with pytest.raises(TypeError, match=rf"expected an Order, an Invoice, .* not int {order.pk}$"):
        kunapay.pay(order.pk)
    with pytest.raises(ValueError, match="'1' is not a KUNA Pay invoice id"):
        kunapay.pay("1")
    with pytest.raises(LookupError, match="has no invoice yet"):
        kunapay.get(order)


def test_strict_mode_off_in_the_pytest_configuration(pytester, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    pytester.makeini("[pytest]\nkunapay_strict = false\n")
    pytester.makepyfile(
        test_shop="""
        from decimal import Decimal

        from django_invoices.models import Order
        from django_invoices.signals import order_paid


        def test_a_broken_receiver_is_only_logged(kunapay):
            def ship(sender, order, invoice, **kwargs):
                raise RuntimeError("boom")

            order_paid.connect(ship, weak=False)
            try:
                order = Order.objects.create(
                    external_order_id="S-1", amount=Decimal("5"), asset="USDT"
                )
                kunapay.pay(order)
            finally:
                order_paid.disconnect(ship)
            assert not kunapay.strict
            assert [str(e) for e in kunapay.receiver_errors] == ["boom"]
        """
    )
    result = pytester.runpytest_subprocess("--ds=tests.settings", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_an_api_under_the_shops_own_address_keeps_answering(settings, db):
    """The example project's layout: API_URL is BASE_URL + "/sandbox"."""
    from django_invoices.models import Order
    from django_invoices.testing import KunaPaySandbox

    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "API_URL": "https://shop.example/sandbox",
        "BASE_URL": "https://shop.example",
    }
    with KunaPaySandbox() as sandbox:
        for number in range(3):
            order = Order.objects.create(
                external_order_id=f"S-{number}", amount=Decimal("5"), asset="USDT"
            )
            sandbox.pay(order)
            order.refresh_from_db()
            assert order.status == "paid"


# -- the plugin's hooks, run in this process ---------------------------------------------
#
# The subprocess tests above run the installed plugin; these run the hooks in-process
# (pytester's inline runs), on collections and configurations made for each case.

SHOP_TESTS = """
    import pytest

    @pytest.mark.django_db
    def test_without_the_fixture():
        pass

    @pytest.mark.django_db(databases="__all__")
    def test_on_every_database(kunapay):
        pass

    def test_without_a_mark(kunapay):
        pass

    @pytest.mark.django_db(databases=["reports"])
    def test_on_another_database(kunapay):
        pass

    @pytest.mark.django_db(True)
    @pytest.mark.filterwarnings("ignore::DeprecationWarning")
    def test_transactional(kunapay):
        pass
"""

# A test that is no Python function (a YAML or spec file plugin's): it has no fixtures.
SPEC_PLUGIN = """
    import pytest

    class SpecItem(pytest.Item):
        def runtest(self):
            pass

    class SpecFile(pytest.File):
        def collect(self):
            yield SpecItem.from_parent(self, name="spec")

    def pytest_collect_file(parent, file_path):
        if file_path.suffix == ".spec":
            return SpecFile.from_parent(parent, path=file_path)
"""


def collected_marks(pytester):
    """Collect SHOP_TESTS (and a fixture-less spec item) with the plugin's hooks in this
    process; the ``django_db`` mark each test ends with, as (args, kwargs)."""
    pytester.makeconftest(SPEC_PLUGIN)
    pytester.makefile(".spec", checkout="")
    pytester.makepyfile(test_shop=SHOP_TESTS)
    items, recorder = pytester.inline_genitems()
    assert recorder.ret == pytest.ExitCode.OK
    marks = {}
    for item in items:
        mark = item.get_closest_marker("django_db")
        marks[item.name] = (mark.args, mark.kwargs) if mark else None
    return marks


def test_tests_using_kunapay_get_the_sandboxs_own_database_added_to_their_mark(pytester, settings):
    settings.DJANGO_INVOICES_SANDBOX = {**settings.DJANGO_INVOICES_SANDBOX, "DATABASE": "sandbox"}
    assert collected_marks(pytester) == {
        "test_without_the_fixture": ((), {}),
        "test_on_every_database": ((), {"databases": "__all__"}),
        "test_without_a_mark": ((), {"databases": ["default", "sandbox"]}),
        "test_on_another_database": ((), {"databases": ["reports", "sandbox"]}),
        "test_transactional": ((True,), {"databases": ["default", "sandbox"]}),
        "spec": None,
    }


UNTOUCHED = {
    "test_without_the_fixture": ((), {}),
    "test_on_every_database": ((), {"databases": "__all__"}),
    "test_without_a_mark": None,
    "test_on_another_database": ((), {"databases": ["reports"]}),
    "test_transactional": ((True,), {}),
    "spec": None,
}


def test_a_sandbox_in_the_default_database_leaves_the_marks_alone(pytester, settings):
    settings.DJANGO_INVOICES_SANDBOX = {**settings.DJANGO_INVOICES_SANDBOX, "DATABASE": "default"}
    assert collected_marks(pytester) == UNTOUCHED


def test_without_the_sandbox_app_its_database_setting_adds_nothing(pytester, settings):
    settings.INSTALLED_APPS = [
        app for app in settings.INSTALLED_APPS if app != "django_invoices.sandbox"
    ]
    settings.DJANGO_INVOICES_SANDBOX = {**settings.DJANGO_INVOICES_SANDBOX, "DATABASE": "sandbox"}
    assert collected_marks(pytester) == UNTOUCHED


def test_strict_mode_is_on_unless_the_pytest_configuration_says_false(pytester):
    assert pytester.parseconfigure().getini("kunapay_strict") is True
    pytester.makeini("[pytest]\nkunapay_strict = false\n")
    assert pytester.parseconfigure().getini("kunapay_strict") is False


def test_pytest_help_explains_the_strict_option(pytester):
    result = pytester.runpytest_inprocess("--help")
    assert result.ret == pytest.ExitCode.OK
    text = " ".join(" ".join(result.outlines).split())
    assert (
        "kunapay_strict (bool): django-invoices: the kunapay fixture re-raises exceptions of "
        "signal receivers (default true; false only logs them, as production does)"
    ) in text


# -- what the other helpers of django_invoices.testing give a shop's tests --------------


def test_set_invoice_status_moves_the_invoice_and_its_order_as_a_read_would(
    invoice, order, django_capture_on_commit_callbacks
):
    paid = []

    def ship(sender, order, invoice, **kwargs):
        paid.append(order.external_order_id)

    order_paid.connect(ship, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            stored = set_invoice_status(invoice, "PAID")
    finally:
        order_paid.disconnect(ship)
    assert (stored.pk, stored.status, stored.provider_status) == (invoice.pk, "paid", "PAID")
    invoice.refresh_from_db()
    order.refresh_from_db()
    assert (invoice.status, invoice.provider_status, order.status) == ("paid", "PAID", "paid")
    assert paid == ["A-1"]


def test_deliver_callback_signs_with_the_first_configured_recipe_as_json(client, settings, db):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "CALLBACK_SIGNATURE_RECIPES": ["sha384/base64/raw", "sha384/hex/raw"],
    }
    payload = invoice_event({"id": "506c695a-4187-4463-ac41-07dc0782cb0e", "status": "PAID"})
    response = deliver_callback(client, payload)
    assert response.status_code == 200
    assert response.wsgi_request.content_type == "application/json"
    event = CallbackEvent.objects.get()
    assert (event.verified, event.signature_variant) == (True, "sha384/base64/raw")


def test_callbacks_are_the_parsed_bodies_sent_about_each_invoice(kunapay, order):
    paid = services.create_invoice(order)
    kunapay.pay(paid)
    other = Order.objects.create(external_order_id="A-2", amount=Decimal("5"), asset="USDT")
    expired = services.create_invoice(other)
    kunapay.expire(expired)

    def summary(callbacks):
        return [(c["event"], c["data"]["status"]) for c in callbacks]

    assert summary(kunapay.callbacks(expired)) == [("Invoice", "TIMEOUT")]
    assert summary(kunapay.callbacks(paid)) == PAID_CALLBACKS
    assert summary(kunapay.callbacks()) == [*PAID_CALLBACKS, ("Invoice", "TIMEOUT")]


PAID_CALLBACKS = [
    ("Invoice", "PAYMENT_AWAITING"),
    ("Invoice", "CONFIRMATION_AWAITING"),
    ("InvoiceDeposit", "Processed"),
    ("Invoice", "PAID"),
]


def test_deliveries_come_with_their_invoice(kunapay, order, django_assert_num_queries):
    kunapay.pay(services.create_invoice(order))
    with django_assert_num_queries(1):
        invoices = {d.invoice.external_order_id for d in kunapay.deliveries()}
    assert invoices == {"A-1"}


def test_part_and_over_payments_are_of_the_amount_and_in_the_asset_given(kunapay, order):
    part = kunapay.pay_part(order, "0.01", asset="ETH")
    assert (part.status, part.payment_asset) == ("PARTIALLY_PAID", "ETH")
    assert [t.amount for t in part.transactions.all()] == [Decimal("0.01")]
    other = Order.objects.create(external_order_id="A-2", amount=Decimal("42.50"), asset="EUR")
    over = kunapay.overpay(other, "0.02", asset="ETH")
    assert (over.status, over.payment_asset) == ("PAID", "ETH")
    assert [t.amount for t in over.transactions.all()] == [Decimal("0.02")]


def test_configure_refuses_a_setting_the_sandbox_does_not_have(kunapay):
    with pytest.raises(
        ValueError, match=r"^unknown sandbox settings \['NOPE'\]; known: \['ENABLED', "
    ):
        kunapay.configure(NOPE=1, SEND_CALLBACKS=False)


def test_an_order_with_no_open_invoice_stands_for_its_newest(kunapay, order):
    first = services.create_invoice(order)
    kunapay.expire(first)
    second = services.create_invoice(order)
    kunapay.expire(second)
    assert second.pk > first.pk

    def read(first_created):
        Invoice.objects.filter(pk=first.pk).update(created_at=first_created)
        return kunapay.get(order).pk

    # Newest by creation, whatever the order of the primary keys; on a tie, the last made.
    assert read(second.created_at + timedelta(minutes=1)) == first.provider_id
    assert read(second.created_at) == second.provider_id
