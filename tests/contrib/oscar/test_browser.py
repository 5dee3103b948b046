"""The Oscar example shop in a real headless Chromium: buy through Oscar's checkout, pay
on the sandbox's page, see the order paid in Oscar's dashboard.

The shop runs as ``make demo-oscar`` runs it (example_project/oscar_shop/, the values
of ``demo.env``, SQLite, the embedded sandbox) in a subprocess on a free port, with
throw-away databases. Chromium is Debian's, as for the other browser tests
(tests/browser/test_demo_shop.py): without it the test skips, unless
``REQUIRE_BROWSER=1`` makes that a failure. Each step's screenshot goes to
``screenshots/<test name>/``; the dashboard's page of the paid order also to
``docs/screenshots/oscar-dashboard-paid-order.png``, which the Oscar how-to shows.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.test_demo_shop import CHROMIUM_FLAGS, _chromium, _missing
from tests.example_shop import EXAMPLE, ROOT, clean_env, demo_env, free_port, serving

SHOP = EXAMPLE / "oscar_shop"
SHOTS = ROOT / "screenshots"
DASHBOARD_SHOT = ROOT / "docs" / "screenshots" / "oscar-dashboard-paid-order.png"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Oscar example shop on 127.0.0.1:<free port>, set up as `make demo-oscar` does."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tmp_path_factory.mktemp("oscar-shop")
    env = clean_env(
        **demo_env(),  # what `make demo-oscar` passes: DEBUG on, the demo's keys
        DJANGO_SETTINGS_MODULE="oscar_demo.settings",
        SHOP_BASE_URL=base,
        DATABASE_URL=f"sqlite:///{data / 'shop.sqlite3'}",
        SANDBOX_DATABASE_PATH=str(data / "sandbox.sqlite3"),
        OSCAR_DEMO_MEDIA=str(data / "media"),
        PYTHONUNBUFFERED="1",
    )

    def manage(*args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=SHOP, env=env, check=True, timeout=600
        )

    manage("migrate", "--noinput")
    manage("migrate", "--noinput", "--database", "sandbox")
    manage("oscar_demo_setup")
    with serving(env, port, data / "server.log", cwd=SHOP, start_within=60) as served:
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
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, request):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    folder = SHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    steps: list[str] = []

    def shot(name: str) -> Path:
        steps.append(name)
        path = folder / f"{len(steps):02d}-{name}.png"
        opened.screenshot(path=str(path), full_page=True)
        return path

    opened.shot = shot
    yield opened
    context.close()


def test_buy_through_oscars_checkout_pay_and_see_it_paid_in_the_dashboard(page, shop):  # type: ignore[no-untyped-def]
    # The shop's front page and Oscar's basket.
    page.goto(shop + "/")
    page.shot("shop")
    page.click("[data-add=COFFEE-1KG]")
    page.wait_for_selector("text=has been added to your basket")
    page.goto(shop + "/basket/")
    page.shot("basket")
    page.click("text=Proceed to checkout")

    # Oscar's checkout, as a guest: the email, a shipping address, the preview.
    page.wait_for_url("**/checkout/")
    page.fill("input[name=username]", "buyer@example.com")
    page.shot("checkout-gateway")
    page.click("button:has-text('Continue')")
    page.wait_for_url("**/checkout/shipping-address/")
    page.fill("input[name=first_name]", "Olena")
    page.fill("input[name=last_name]", "Buyer")
    page.fill("input[name=line1]", "1 Khreshchatyk St")
    page.fill("input[name=line4]", "Kyiv")
    page.fill("input[name=postcode]", "01001")
    page.select_option("select[name=country]", "UA")
    page.shot("shipping-address")
    page.click("button:has-text('Continue')")
    page.wait_for_url("**/checkout/payment-details/")
    page.click("#view_preview")
    page.wait_for_url("**/checkout/preview/")
    page.shot("preview")
    page.click("#place-order")

    # Placed (pending payment): the buyer is on the KUNA Pay sandbox's page.
    page.wait_for_url("**/sandbox/pay/**")
    assert "24.90 EUR" in page.content()
    page.shot("sandbox-payment-page")
    page.click("button[name=action][value=pay]")
    page.wait_for_selector("[data-return]")
    assert page.inner_text("[data-status]") == "PAID"
    page.shot("sandbox-paid")

    # Back in the shop: the payment is confirmed, so Oscar's thank-you page.
    page.click("[data-return]")
    page.wait_for_url("**/checkout/thank-you/")
    page.shot("thank-you")
    heading = page.inner_text("h1")
    assert "confirmation" in heading
    number = heading.split("Order ")[1].split(":")[0].strip()

    # Staff: the dashboard's order page says Paid and lists the invoice and its deposit.
    page.goto(shop + "/accounts/login/")
    page.fill("#id_login-username", "admin@example.com")
    page.fill("#id_login-password", "admin")
    page.click("button[name=login_submit]")
    page.wait_for_url(shop + "/dashboard/")
    page.goto(f"{shop}/dashboard/orders/{number}/")
    page.wait_for_selector("[data-kunapay-invoices]")
    assert page.inner_text("[data-invoice-status]") == "Paid"
    assert "Paid" in page.inner_text("table.table >> nth=1")  # Oscar's order information
    assert "Settled" in page.content()
    path = page.shot("dashboard-paid-order")
    DASHBOARD_SHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, DASHBOARD_SHOT)
