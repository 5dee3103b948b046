"""The example shop is safe to copy: started with DJANGO_DEBUG=0 it serves no sandbox,
leaks nothing on its error pages, and refuses the demo's published keys.

Each test runs the example project's own settings in subprocesses (``manage.py``), as a
shop would run it; the sandbox's URLs are found by walking its URL resolver.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from django_invoices.checks import PUBLISHED_DEMO_VALUES

from .example_shop import EXAMPLE, ROOT, clean_env, demo_env, free_port, serving

# An operator's own values: the shop starts with them (the demo's keys would stop it).
OWN_KEYS = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
    "KUNAPAY_API_KEY": "operator-api-key",
    "KUNAPAY_PRIVATE_KEY": "operator-private-key",
}

SETUP = """
import json
from datetime import timedelta
from decimal import Decimal
from django.conf import settings
from django.utils import timezone
from django_invoices.models import Invoice, Order
from django_invoices.sandbox import conf
from django_invoices.sandbox.models import SandboxInvoice
from tests.sandbox_paths import sandbox_paths

base = settings.DJANGO_INVOICES["BASE_URL"]
remote = SandboxInvoice.objects.create(
    merchant=conf.credentials()[0].merchant,
    amount=Decimal("24.90"),
    asset="EUR",
    external_order_id="A-1",
    callback_url=base + "/invoices/callback/default/",
    expire_at=timezone.now() + timedelta(hours=1),
)
order = Order.objects.create(external_order_id="A-1", amount=Decimal("24.90"), asset="EUR")
Invoice.objects.create(
    provider_id=remote.pk,
    order=order,
    invoice_amount=order.amount,
    invoice_asset="EUR",
    payment_url=base + "/sandbox/pay/%s/" % remote.pk,
)
print(json.dumps({"debug": settings.DEBUG, "paths": sandbox_paths(str(remote.pk))}))
"""

STATE = """
import json
from django.apps import apps
rows = {}
for label in ("django_invoices", "invoices_sandbox", "shop"):
    for model in apps.get_app_config(label).get_models():
        rows[model._meta.label] = list(model.objects.order_by("pk").values())
print(json.dumps(rows, default=str, sort_keys=True))
"""

# The control: under DEBUG the same URL is served, so the 404s above mean something.
SERVED_UNDER_DEBUG = """
import json
from django.test import Client
print(json.dumps({"status": Client().get(%r).status_code}))
"""


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def shell(env: dict[str, str], script: str) -> dict:
    result = manage(env, "shell", "-c", script)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def request(url: str, method: str = "GET", data: bytes | None = None, **headers: str):
    """(status, body) of one HTTP request; error statuses are answers too."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        # The error holds the open response: closed here, not whenever it is collected.
        with exc:
            return exc.code, exc.read().decode()


class Shop:
    def __init__(self, url: str, env: dict[str, str], paths: dict[str, str], log: Path):
        self.url, self.env, self.paths, self.log = url, env, paths, log


@pytest.fixture(scope="module")
def production_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The example shop started with DJANGO_DEBUG=0 (runserver, on a free port)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("example")
    env = clean_env(
        **OWN_KEYS,
        DJANGO_DEBUG="0",
        SHOP_BASE_URL=url,
        DATABASE_URL=f"sqlite:///{data / 'shop.sqlite3'}",
        SANDBOX_DATABASE_PATH=str(data / "sandbox.sqlite3"),
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    for args in (("migrate", "--noinput"), ("migrate", "--noinput", "--database", "sandbox")):
        result = manage(env, *args)
        assert result.returncode == 0, result.stderr
    setup = shell(env, SETUP)
    assert setup["debug"] is False
    log_path = data / "server.log"
    with serving(env, port, log_path) as served:
        assert served == url
        yield Shop(url, env, setup["paths"], log_path)


def test_with_debug_off_every_sandbox_url_is_404_and_an_anonymous_pay_changes_nothing(
    production_shop,
):
    """The acceptance test of issue 11: the example shop started with DJANGO_DEBUG=0."""
    shop = production_shop
    assert set(shop.paths) >= {"assets", "questionnaire", "invoices", "invoice", "pay"}
    before = shell(shop.env, STATE)
    assert before["invoices_sandbox.SandboxInvoice"][0]["status"] == "CREATED"
    api_key = {"api-key": OWN_KEYS["KUNAPAY_API_KEY"]}
    for name, path in shop.paths.items():
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
            status, body = request(shop.url + path, method, b"" if method != "GET" else None)
            assert status == 404, (method, name, path)
            assert request(shop.url + path, method, None, **api_key)[0] == 404
    # The review's attack: "Pay in full" on the public page, with a CSRF cookie and token
    # of the attacker's own making, so that only the sandbox's guard can stop it.
    token = "a" * 32
    status, body = request(
        shop.url + shop.paths["pay"],
        "POST",
        b"action=pay&amount=24.90&csrfmiddlewaretoken=" + token.encode(),
        **{"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={token}"},
    )
    assert status == 404
    assert "Not found (404)" in body  # the example's plain page, nothing of the sandbox
    assert "invoices_sandbox" not in body and "urlpatterns" not in body.lower()
    assert shell(shop.env, STATE) == before
    # The same pay page is served by the same project under DEBUG: the guard did this.
    debug_env = {**shop.env, "DJANGO_DEBUG": "1"}
    assert shell(debug_env, SERVED_UNDER_DEBUG % shop.paths["pay"]) == {"status": 200}


def test_with_debug_off_error_pages_leak_nothing(production_shop):
    shop = production_shop
    status, body = request(shop.url + "/admin/", Host="evil.example")
    assert status == 400
    assert "Bad request (400)" in body
    assert len(body) < 1000
    for leak in ("DisallowedHost", "Traceback", "evil.example", "DATABASE_URL", "SECRET"):
        assert leak not in body
    status, body = request(shop.url + "/no/such/page/")
    assert (status, len(body) < 1000) == (404, True)
    assert "Not found (404)" in body and "/no/such/page/" not in body
    rendered = shell(
        shop.env,
        "import json\n"
        "from django.test import RequestFactory\n"
        "from django.views.defaults import server_error\n"
        "print(json.dumps(server_error(RequestFactory().get('/')).content.decode()))",
    )
    assert "Server error (500)" in rendered


def test_the_example_has_debug_off_and_no_secrets_by_default():
    env = clean_env(PYTHONPATH=str(ROOT))
    found = shell(
        env,
        "import json\n"
        "from django.conf import settings\n"
        "print(json.dumps([settings.DEBUG, settings._wrapped.SECRET_KEY,\n"
        "    settings.DJANGO_INVOICES['API_KEY'], settings.DJANGO_INVOICES['PRIVATE_KEY'],\n"
        "    settings.DJANGO_INVOICES['PUBLIC_KEY']]))",
    )
    assert found == [False, "", "", "", ""]
    assert (
        shell(
            {**env, "DJANGO_DEBUG": "1"},
            "import json\nfrom django.conf import settings\nprint(json.dumps(settings.DEBUG))",
        )
        is True
    )


def test_the_demos_published_values_stop_the_shop_when_debug_is_off():
    demo = demo_env()
    assert demo["DJANGO_DEBUG"] == "1"
    secret_values = {value for name, value in demo.items() if name != "DJANGO_DEBUG"}
    assert secret_values <= PUBLISHED_DEMO_VALUES  # the check knows every one of them
    refused = manage(clean_env(**{**demo, "DJANGO_DEBUG": "0"}), "check")
    assert refused.returncode != 0
    assert "django_invoices.E020" in refused.stderr
    for name in ("SECRET_KEY", "API_KEY", "PRIVATE_KEY"):
        assert name in refused.stderr
    for value in secret_values:
        assert value not in refused.stderr  # the message names them, never shows them
    assert "django_invoices.E020" not in manage(clean_env(**demo), "check").stderr


def test_make_demo_passes_the_demo_values(tmp_path):
    """``make -n demo`` prints the commands: each carries demo.env's values."""
    result = subprocess.run(
        ["make", "-n", "demo", "STAMP="], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "manage.py" in line]
    assert len(commands) == 4
    for line in commands:
        for name, value in demo_env().items():
            assert f"{name}={value}" in line
