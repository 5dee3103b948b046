"""The sandbox cannot take money in production: it answers only when switched on, never
with a real account's keys, sends callbacks only to the shop, and shows no answers."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from django_invoices.sandbox import conf, delivery
from django_invoices.sandbox.checks import check_debug
from django_invoices.sandbox.models import CallbackDelivery, SandboxInvoice

from .sandbox_paths import sandbox_paths

KEY = {"api-key": "test-api-key"}
LIVE = "https://api.kunapay.io"


def open_invoice():
    return SandboxInvoice.objects.create(
        merchant=conf.credentials()[0].merchant,
        amount=Decimal("10"),
        asset="USDT",
        callback_url="https://shop.example/invoices/callback/default/",
        expire_at=timezone.now() + timedelta(hours=1),
    )


def snapshot(invoice):
    invoice.refresh_from_db()
    return (
        invoice.status,
        invoice.payment_asset,
        invoice.transactions.count(),
        CallbackDelivery.objects.count(),
    )


def sandbox(settings, **options):
    settings.DJANGO_INVOICES_SANDBOX = {**settings.DJANGO_INVOICES_SANDBOX, **options}


def check_ids():
    return [message.id for message in check_debug()]


# -- off unless asked for --------------------------------------------------------------


@pytest.mark.parametrize(
    ("debug", "options"),
    [
        (False, {"ENABLED": None}),
        (False, {"ENABLED": True, "ALLOW_WITHOUT_DEBUG": False}),
        (False, {"ENABLED": False, "ALLOW_WITHOUT_DEBUG": True}),
        (True, {"ENABLED": False}),
        (False, {"ENABLED": "True", "ALLOW_WITHOUT_DEBUG": "1"}),
    ],
    ids=["debug-off", "enabled-unacknowledged", "disabled", "disabled-under-debug", "strings"],
)
def test_a_switched_off_sandbox_answers_404_everywhere_and_changes_nothing(
    settings, client, db, debug, options
):
    invoice = open_invoice()
    before = snapshot(invoice)
    settings.DEBUG = debug
    sandbox(settings, **options)
    paths = sandbox_paths(str(invoice.pk))
    assert set(paths) >= {"assets", "questionnaire", "invoices", "invoice", "pay"}
    for path in paths.values():
        for method in ("get", "post", "put", "delete"):
            response = getattr(client, method)(path, headers=KEY)
            assert response.status_code == 404, (method, path)
    # The attack of the review: the buyer's "Pay in full", with no CSRF token at all.
    response = client.post(paths["pay"], {"action": "pay", "amount": "10"})
    assert response.status_code == 404
    assert snapshot(invoice) == before


@pytest.mark.parametrize(
    ("debug", "options"),
    [(True, {"ENABLED": None}), (False, {"ENABLED": True, "ALLOW_WITHOUT_DEBUG": True})],
    ids=["debug", "enabled-and-acknowledged"],
)
def test_a_switched_on_sandbox_serves_every_url(settings, client, db, debug, options):
    invoice = open_invoice()
    settings.DEBUG = debug
    sandbox(settings, **options)
    paths = sandbox_paths(str(invoice.pk))
    for name, path in paths.items():
        response = client.get(path, headers=KEY)
        if name == "transaction":
            # No transaction has that id: the API's own 404, in its error envelope.
            assert response.status_code == 404 and "errors" in response.json(), name
        else:
            assert response.status_code == 200, name
    assert client.post(paths["pay"], {"action": "expire"}).status_code == 303
    assert snapshot(invoice)[0] == SandboxInvoice.TIMEOUT


def test_enabled_with_debug_off_is_an_error_until_acknowledged(settings):
    settings.DEBUG = False
    sandbox(settings, ENABLED=True, ALLOW_WITHOUT_DEBUG=False)
    assert check_ids() == ["django_invoices.W101", "django_invoices.E110"]
    with pytest.raises(SystemCheckError, match="E110"):
        call_command("check")
    sandbox(settings, ENABLED="yes", ALLOW_WITHOUT_DEBUG="yes")
    assert check_ids() == ["django_invoices.W101", "django_invoices.E110"]
    sandbox(settings, ENABLED=True, ALLOW_WITHOUT_DEBUG=True)
    assert check_ids() == ["django_invoices.W101"]
    settings.DEBUG = True
    sandbox(settings, ALLOW_WITHOUT_DEBUG=False)
    assert check_ids() == []


# -- its own keys or none --------------------------------------------------------------


@pytest.mark.parametrize("key", ["API_KEY", "PRIVATE_KEY"])
def test_a_sandbox_given_a_real_accounts_keys_refuses_to_start(settings, client, db, key):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"live": {"API_URL": LIVE, "API_KEY": "live-key", "PRIVATE_KEY": "live-pk"}},
    }
    own = {"API_KEY": "sbx-key", "PRIVATE_KEY": "sbx-pk"}
    own[key] = {"API_KEY": "live-key", "PRIVATE_KEY": "live-pk"}[key]
    sandbox(settings, **own)
    assert "django_invoices.E111" in check_ids()
    assert key in str(check_debug())
    assert "live-key" not in str(check_debug()) and "live-pk" not in str(check_debug())
    with pytest.raises(SystemCheckError, match="E111"):
        call_command("check")
    assert client.get("/sandbox/v1/invoice/assets", headers={"api-key": "sbx-key"}).status_code == (
        404
    )


def test_keys_of_its_own_that_no_real_account_has_are_fine(settings, client, db):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "ACCOUNTS": {"live": {"API_URL": LIVE, "API_KEY": "live-key"}},
    }
    sandbox(settings, API_KEY="sbx-key", PRIVATE_KEY="sbx-pk")
    assert "django_invoices.E111" not in check_ids()
    assert client.get("/sandbox/v1/invoice/assets", headers={"api-key": "sbx-key"}).status_code == (
        200
    )


def test_without_keys_of_its_own_it_never_takes_a_real_accounts_keys(settings, client, db):
    """The review's finding: with no keys it took the live account's keys, and signed
    its callbacks with the live private key."""
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "API_URL": LIVE}
    sandbox(settings, API_URLS=[])
    assert conf.credentials() == []
    assert "django_invoices.W102" in check_ids()
    response = client.get("/sandbox/v1/invoice/assets", headers=KEY)
    assert response.status_code == 401
    # An invoice left from before cannot have its callbacks signed with that key.
    row = CallbackDelivery(
        invoice=SandboxInvoice(merchant="x", amount=1, asset="USDT", expire_at=timezone.now()),
        url="https://shop.example/cb",
        body="{}",
    )
    assert delivery.signature_for(row) is None


def test_an_account_pointed_at_this_sandbox_lends_it_its_keys(settings, client, db):
    """The example shop's case: API_URL is BASE_URL plus the sandbox's prefix."""
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "API_URL": "https://SHOP.example:443/sandbox/",
        "ACCOUNTS": {"live": {"API_URL": LIVE, "API_KEY": "live-key"}},
    }
    sandbox(settings, API_URLS=[])
    assert conf.mount_path() == "/sandbox"
    assert [c.api_key for c in conf.credentials()] == ["test-api-key"]
    assert client.get("/sandbox/v1/invoice/assets", headers=KEY).status_code == 200
    live = client.get("/sandbox/v1/invoice/assets", headers={"api-key": "live-key"})
    assert live.status_code == 401
    # The same key on an account of the real provider makes it a real key: taken from
    # the sandbox account or set as the sandbox's own, it stops the sandbox.
    settings.DJANGO_INVOICES["ACCOUNTS"]["live"]["API_KEY"] = "test-api-key"
    (error,) = [m for m in check_debug() if m.id == "django_invoices.E111"]
    assert "API_KEY in DJANGO_INVOICES account 'default'" in error.msg
    assert client.get("/sandbox/v1/invoice/assets", headers=KEY).status_code == 404
    sandbox(settings, API_KEY="test-api-key")
    (error,) = [m for m in check_debug() if m.id == "django_invoices.E111"]
    assert "API_KEY in DJANGO_INVOICES_SANDBOX" in error.msg
    assert "test-api-key" not in error.msg


# -- callbacks go to the shop only -----------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://shop.example/invoices/callback/default/", True),
        ("https://SHOP.EXAMPLE:443/x", True),
        ("http://shop.example/x", False),  # port 80, not BASE_URL's 443
        ("https://shop.example:8443/x", False),
        ("http://127.0.0.1:6379/", False),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("https://hooks.example/kunapay", True),  # CALLBACK_HOSTS of the test settings
        ("https://hooks.example:8000/kunapay", True),
        ("http://localhost:8000/cb", True),
        ("http://localhost:8001/cb", False),
        ("http://[::1]:9000/cb", True),
        ("http://[::1]:9001/cb", False),
        ("ftp://shop.example/x", False),
        ("http://[::1/", False),
        ("", False),
    ],
)
def test_callbacks_may_go_to_base_urls_host_and_callback_hosts_only(settings, url, allowed):
    sandbox(settings, CALLBACK_HOSTS=["hooks.example", "localhost:8000", "[::1]:9000", "[bad"])
    assert conf.callback_host_allowed(url) is allowed


def test_a_callback_to_another_host_is_never_sent(kunapay, db):
    invoice = open_invoice()
    SandboxInvoice.objects.filter(pk=invoice.pk).update(callback_url="http://127.0.0.1:6379/")
    kunapay.expire(invoice)
    (refused,) = kunapay.deliveries(invoice)
    assert refused.state == CallbackDelivery.FAILED
    assert refused.attempts == 0 and refused.response_status is None
    assert "CALLBACK_HOSTS" in refused.error
    assert not [call for call in kunapay.mock.calls if "6379" in call.request.url]


def test_the_payment_page_shows_the_status_of_an_answer_not_its_body(kunapay, client, db):
    hook = "https://hooks.example/kunapay"
    kunapay.mock.post(hook, status=500, body="internal admin panel: password=hunter2")
    invoice = open_invoice()
    SandboxInvoice.objects.filter(pk=invoice.pk).update(callback_url=hook)
    client.post(f"/sandbox/pay/{invoice.pk}/", {"action": "expire"})
    (failed,) = kunapay.deliveries(invoice)
    assert (failed.state, failed.response_status, failed.error) == ("failed", 500, "")
    html = client.get(f"/sandbox/pay/{invoice.pk}/").content.decode()
    assert "500" in html
    assert "hunter2" not in html and "admin panel" not in html


def test_an_unknown_sandbox_path_is_404_when_on(client, db):
    assert client.get(f"/sandbox/pay/{uuid.uuid4()}/").status_code == 404


# -- the URL guard -----------------------------------------------------------------------
#
# sandbox/urls.py guards its patterns when Django imports the URLconf; here guard() is
# called on patterns made for the test, as a URLconf that includes more would call it.


def test_the_guard_covers_each_pattern_also_inside_includes(settings):
    from django.http import HttpResponse
    from django.urls import Resolver404, include, path
    from django.urls.resolvers import RegexPattern, URLResolver

    from django_invoices.sandbox.gate import guard

    def view(request, **kwargs):
        return HttpResponse("served")

    patterns = guard(
        [
            path("top/", view, {"flag": True}, name="top"),
            path("more/", include([path("deep/<int:n>/", view, {"extra": 1}, name="deep")])),
        ]
    )
    assert len(patterns) == 2
    resolver = URLResolver(RegexPattern(r"^/"), patterns)

    top = resolver.resolve("/top/")
    assert (top.func, top.kwargs, top.url_name) == (view, {"flag": True}, "top")
    deep = resolver.resolve("/more/deep/5/")
    assert (deep.func, deep.kwargs, deep.url_name) == (view, {"n": 5, "extra": 1}, "deep")
    assert resolver.reverse("deep", n=7) == "more/deep/7/"

    sandbox(settings, ENABLED=False)
    for url in ("/top/", "/more/deep/5/"):
        with pytest.raises(Resolver404):
            resolver.resolve(url)
