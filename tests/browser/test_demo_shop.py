"""The example shop in a real headless Chromium: buy, pay in the sandbox, come back.

The shop runs as ``make demo`` runs it (its own settings, the values of ``demo.env``,
SQLite, the embedded sandbox),
in a subprocess on a free port, with throw-away databases. Chromium is Debian's
(``/usr/bin/chromium``, or ``CHROMIUM_PATH``), driven by Playwright's Python package;
no browser is downloaded. Without Chromium the tests skip, unless ``REQUIRE_BROWSER=1``
(set by ``.ci/run``) makes that a failure. Screenshots of every step are written to
``screenshots/<test name>/``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from ..example_shop import clean_env, demo_env, free_port, serving

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_project"
SHOTS = ROOT / "screenshots"
DOCS_SHOTS = ROOT / "docs" / "screenshots"  # the pictures the docs show, kept in git
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def _chromium() -> str | None:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    return path if path and os.access(path, os.X_OK) else None


def _missing(reason: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


class Shop(str):
    """The shop's base URL, knowing where its database is."""

    database: Path
    log: Path
    env: dict[str, str]  # the shop's environment, for its management commands

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``manage.py`` of the running shop (its settings, its databases)."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=EXAMPLE,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def shipped(self) -> list[int]:
        """The ``shipped`` flag of every purchase, read straight from the shop's database."""
        # closing(): sqlite3's own context manager commits but does not close.
        with closing(sqlite3.connect(self.database)) as db:
            return [row[0] for row in db.execute("SELECT shipped FROM shop_purchase ORDER BY id")]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The example shop served on 127.0.0.1:<free port>."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("shop")
    env = clean_env(
        **demo_env(),  # what `make demo` passes: DEBUG on, the demo's keys
        SHOP_BASE_URL=base,
        DATABASE_URL=f"sqlite:///{data / 'shop.sqlite3'}",
        SANDBOX_DATABASE_PATH=str(data / "sandbox.sqlite3"),
        PYTHONUNBUFFERED="1",
    )

    def manage(*args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=EXAMPLE, env=env, check=True, timeout=120
        )

    manage("migrate", "--noinput")
    manage("migrate", "--noinput", "--database", "sandbox")
    manage("demo_setup")
    with serving(env, port, data / "server.log"):
        served = Shop(base)
        served.database = data / "shop.sqlite3"
        served.log = data / "server.log"
        served.env = env
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = _chromium()
    if executable is None:
        _missing("Chromium not found (apt-get install chromium, or set CHROMIUM_PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 420, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20_000)
    folder = SHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    steps = []

    def shot(name: str) -> None:
        steps.append(name)
        page.screenshot(path=str(folder / f"{len(steps):02d}-{name}.png"), full_page=True)

    page.shot = shot
    yield page
    context.close()


def buy_first_product(page, shop: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(shop + "/")
    page.shot("shop")
    page.click("text=Buy >> nth=0")
    page.fill("input[name=email]", "buyer@example.com")
    page.shot("checkout")
    page.click("#pay")
    page.wait_for_url("**/sandbox/pay/**")
    page.shot("sandbox-payment-page")


def test_buy_pay_and_come_back_to_a_paid_order(page, shop):  # type: ignore[no-untyped-def]
    buy_first_product(page, shop)
    page.click("button[name=action][value=pay]")
    page.wait_for_selector("[data-return]")
    assert page.inner_text("[data-status]") == "PAID"
    page.shot("sandbox-paid")
    page.click("[data-return]")
    page.wait_for_url("**/invoices/return/**")
    page.shot("shop-return-paid")
    assert "Thank you, your payment was received" in page.inner_text("h1")
    assert "24.90 EUR" in page.content()
    # The signed callbacks reached the shop: its order_paid receiver shipped the purchase,
    # and said so on the console (the shop logger has a handler).
    assert shop.shipped()[-1] == 1
    assert "Shipped Purchase" in shop.log.read_text()


def test_let_it_expire_and_come_back(page, shop):  # type: ignore[no-untyped-def]
    buy_first_product(page, shop)
    page.click("button[name=action][value=expire]")
    page.wait_for_selector("[data-return]")
    assert page.inner_text("[data-status]") == "TIMEOUT"
    page.shot("sandbox-expired")
    page.click("[data-return]")
    page.wait_for_url("**/invoices/return/**")
    page.shot("shop-return-expired")
    assert "Your payment was not completed" in page.inner_text("h1")
    assert shop.shipped()[-1] == 0
    # The same order can be paid again, from the page the customer is on.
    page.click("[data-pay-again]")
    page.wait_for_url("**/sandbox/pay/**")
    page.click("button[name=action][value=pay]")
    page.wait_for_selector("[data-return]")
    page.click("[data-return]")
    page.wait_for_url("**/invoices/return/**")
    page.shot("shop-return-paid-again")
    assert "Thank you, your payment was received" in page.inner_text("h1")
    assert shop.shipped()[-1] == 1


def test_only_the_buyer_opens_the_order(page, browser, shop):  # type: ignore[no-untyped-def]
    buy_first_product(page, shop)
    page.click("button[name=action][value=expire]")
    page.wait_for_selector("[data-return]")
    page.click("[data-return]")
    page.wait_for_url("**/invoices/return/**")
    page.click(".di-continue a:text-is('Your order')")
    page.wait_for_url("**/order/**")
    page.shot("order-page")
    order_page = page.url
    link = page.get_attribute("[data-order-link]", "href")
    assert link.startswith(order_page + "?token=")

    # Another browser that knows the reference: the 404 of a missing order, even after
    # coming through the return page, whose address it may hold too.
    stranger = browser.new_context()
    try:
        elsewhere = stranger.new_page()
        assert elsewhere.goto(order_page).status == 404
        assert elsewhere.goto(order_page + "pay/").status == 404
        # The buyer's signed link opens the order there, and its button pays it.
        assert elsewhere.goto(link).status == 200
        elsewhere.click("#pay")
        elsewhere.wait_for_url("**/sandbox/pay/**")
        elsewhere.click("button[name=action][value=pay]")
        elsewhere.wait_for_selector("[data-return]")
        elsewhere.click("[data-return]")
        elsewhere.wait_for_url("**/invoices/return/**")
        assert "Thank you, your payment was received" in elsewhere.inner_text("h1")
    finally:
        stranger.close()
    assert shop.shipped()[-1] == 1


def _overflow(page):  # type: ignore[no-untyped-def]
    """How far the page, or any card on it, is wider than its box (0 when it fits)."""
    return page.evaluate(
        """() => Math.max(
            document.documentElement.scrollWidth - document.documentElement.clientWidth,
            ...[...document.querySelectorAll('.card')].map(c => c.scrollWidth - c.clientWidth))"""
    )


def test_the_sandbox_page_fits_a_375_px_phone(page, shop):  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 375, "height": 812})
    buy_first_product(page, shop)
    page.click("summary:has-text('Failure modes')")
    # Each checkbox sits inside the label of its own option, on the same line.
    for box in page.locator("ul.checks input[type=checkbox]").all():
        label = page.locator(f"label[for='{box.get_attribute('id')}']")
        assert label.locator("input").get_attribute("id") == box.get_attribute("id")
        box_top, text_top = box.bounding_box()["y"], label.locator("span").bounding_box()["y"]
        assert abs(box_top - text_top) < 12
    assert "USDT (" in page.inner_text("select[name=payment_asset]")  # what is due in each
    assert _overflow(page) == 0
    page.screenshot(path=str(DOCS_SHOTS / "sandbox-payment-page-375px.png"), full_page=True)
    page.click("button[name=action][value=pay]")
    page.wait_for_selector("[data-return]")
    assert page.locator("[data-to-pay]").count() == 0
    assert "Received" in page.inner_text("[data-received]")
    assert "24.90 EUR" in page.inner_text("[data-amount]")
    carried = page.locator("[data-carried]").all_inner_texts()
    assert carried[-1] == "PAID" and "CONFIRMATION_AWAITING" in [
        t.replace("\n", "") for t in carried
    ]
    assert _overflow(page) == 0
    page.shot("sandbox-375px")
    page.screenshot(path=str(DOCS_SHOTS / "sandbox-paid-375px.png"), full_page=True)


def test_staff_find_the_payment_in_the_admin(page, shop):  # type: ignore[no-untyped-def]
    buy_first_product(page, shop)
    page.click("button[name=action][value=pay]")
    page.wait_for_selector("[data-return]")
    page.click("[data-return]")
    page.wait_for_url("**/invoices/return/**")
    reference = page.inner_text(".di-order")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(shop + "/admin/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin")
    page.click("input[type=submit]")
    page.goto(shop + "/admin/django_invoices/order/")
    row = page.locator("#result_list tr", has_text=reference)
    assert "Paid" in row.inner_text()
    page.shot("admin-orders")
    row.locator("td.field-current_invoice a").click()
    page.wait_for_selector("#deposits-group")
    page.shot("admin-invoice")
    assert "Paid" in page.inner_text("#content")
    assert page.locator("#deposits-group tbody tr.has_original").count() >= 1
    assert "applied" in page.inner_text("#callback_events-group").lower()
    assert "59.000" not in page.content() and "24.900" not in page.content()


def test_staff_see_the_current_invoice_and_the_callback_log(page, shop):  # type: ignore[no-untyped-def]
    buy_first_product(page, shop)
    page.click("button[name=action][value=pay]")
    page.wait_for_selector("[data-return]")
    page.set_viewport_size({"width": 1100, "height": 860})
    page.goto(shop + "/admin/")
    if page.locator("input[name=username]").count():
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "admin")
        page.click("input[type=submit]")
    page.goto(shop + "/admin/django_invoices/order/")
    # At 1100 px the current-invoice column is whole, inside the list's visible width.
    visible = page.locator(".results").bounding_box()
    cell = page.locator("#result_list td.field-current_invoice").first.bounding_box()
    assert cell["x"] + cell["width"] <= visible["x"] + visible["width"]
    page.shot("admin-orders-1100px")

    # A forged callback: refused, and listed with what it claims and why it was refused.
    forged = urllib.request.Request(
        shop + "/invoices/callback/default/",
        data=b'{"event": "Invoice", "data": {"id": "forged-invoice", "status": "PAID"}}',
        headers={"Content-Type": "application/json", "kun-signature": "0" * 96},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    # The error holds the open response; left to the garbage collector, its socket
    # warns (an error here) in whichever test happens to run next.
    with refused.value:
        assert refused.value.code == 401

    # The callback log on a wide screen: every column in view, the nav sidebar open.
    page.set_viewport_size({"width": 1600, "height": 860})
    page.goto(shop + "/admin/django_invoices/callbackevent/")
    visible = page.locator(".results").bounding_box()
    last = page.locator("#result_list thead th").last.bounding_box()
    assert last["x"] + last["width"] <= visible["x"] + visible["width"]
    header = page.inner_text("#result_list thead")
    assert "PROVIDER STATUS" in header.upper()
    statuses = [
        text.replace("\n", "")
        for text in page.locator("#result_list td.field-provider_status_display").all_inner_texts()
    ]
    assert "PAID" in statuses and "PAYMENT_AWAITING" in statuses
    refused_row = page.locator("#result_list tr", has_text="forged-invoice")
    assert "bad_signature" in refused_row.inner_text()
    page.shot("admin-callback-events")
    page.screenshot(path=str(DOCS_SHOTS / "admin-callback-events.png"), full_page=True)


def test_staff_see_the_payments_health(page, shop):  # type: ignore[no-untyped-def]
    """Issue 21: the health page in Chromium, reached from the app's admin index, after a
    payment, a forged callback and a sweep; its screenshot is the monitoring guide's."""
    buy_first_product(page, shop)
    page.click("button[name=action][value=pay]")
    page.wait_for_selector("[data-return]")
    forged = urllib.request.Request(
        shop + "/invoices/callback/default/",
        data=b'{"event": "Invoice", "data": {"id": "forged-invoice", "status": "PAID"}}',
        headers={"Content-Type": "application/json", "kun-signature": "f" * 96},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    with refused.value:
        assert refused.value.code == 401
    swept = shop.manage("invoices_sync", "--older-than", "0")
    assert swept.returncode == 0, swept.stdout + swept.stderr

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(shop + "/admin/")
    if page.locator("input[name=username]").count():
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "admin")
        page.click("input[type=submit]")
    page.goto(shop + "/admin/django_invoices/")
    page.click("a[href$='/django_invoices/paymentshealth/']")
    page.wait_for_selector("[data-health-page]")

    assert page.inner_text("h1") == "Payments health"
    assert int(page.inner_text("[data-card=callbacks] dd a >> nth=0")) >= 3
    assert int(page.inner_text("[data-refused]")) >= 1
    assert page.inner_text("[data-pending]") == "0"
    assert page.locator("[data-sweep-age]").count() == 1
    assert page.locator("[data-sweep-never]").count() == 0
    assert "sha384/hex/raw" in page.inner_text("[data-signatures]")
    # Eight charts, drawn and wide enough to read; bars for the callbacks that came.
    charts = page.locator("figure.di-chart svg")
    assert charts.count() == 8
    for index in range(8):
        assert charts.nth(index).bounding_box()["width"] > 400
    assert page.locator("figure.di-chart rect.di-applied").count() >= 2
    assert page.locator("figure.di-chart rect.di-refused-0").count() >= 2  # bad signature
    assert (
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        == 0
    )
    page.shot("admin-payments-health")
    page.screenshot(path=str(DOCS_SHOTS / "admin-payments-health.png"), full_page=True)
    # Its numbers lead to the lists they count.
    page.click("[data-refused]")
    page.wait_for_selector("#result_list")
    assert "bad_signature" in page.inner_text("#result_list")
