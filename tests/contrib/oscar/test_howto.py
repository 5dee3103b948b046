"""The Oscar how-to (docs/howto/oscar.rst) runs verbatim.

Its code lives in docs/howto/oscar/ between "# [name]" and "# [end-name]" markers (the
catalogue, a data file, is included whole); the page includes those regions, and this
test applies exactly them, in the page's order, to a project ``django-admin
startproject`` has just made: the settings appended, urls.py written, the page's
commands run. Then a buyer (``requests``) goes through Oscar's checkout on the project's
``runserver``, pays on the sandbox's page, comes back to Oscar's thank-you page, and
the page's last command prints the order's status: ``Paid``.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
from pathlib import Path

import requests

from tests.guides import DOCS, Guide, Shell, free_port, wait_for

GUIDE = Guide("howto/oscar")
PAGE = GUIDE.page
FOLDER = GUIDE.folder
INSTALLS = ("django-invoices[oscar]", "django-oscar[sorl-thumbnail]", "pycountry")
WHOLE = "catalogue.csv"  # included whole: a data file has no markers


def includes() -> list[tuple[str, str | None]]:
    """The (file, region) pairs the page includes, in order; None: the whole file."""
    found = []
    pattern = r"^\.\. literalinclude:: oscar/(\S+)\n((?:   :.*\n)*)"
    for filename, options in re.findall(pattern, PAGE.read_text(encoding="utf-8"), flags=re.M):
        start = re.search(r"^   :start-after: # \[([\w-]+)\]$", options, flags=re.M)
        if start is None:
            assert filename == WHOLE, f"{filename} is included without a region"
            found.append((filename, None))
            continue
        name = start.group(1)
        assert f"   :end-before: # [end-{name}]" in options, (filename, name)
        found.append((filename, name))
    return found


def test_the_page_shows_exactly_the_regions_the_test_runs():
    assert includes() == [
        ("commands.sh", "install"),
        ("commands.sh", "start-project"),
        ("settings.py", "oscar-settings"),
        ("settings.py", "settings"),
        ("settings.py", "sandbox-settings"),
        ("urls.py", "urls"),
        ("commands.sh", "migrate"),
        (WHOLE, None),
        ("commands.sh", "catalogue"),
        ("commands.sh", "run"),
        ("commands.sh", "paid"),
    ]
    assert (DOCS / "screenshots" / "oscar-dashboard-paid-order.png").is_file()


def csrf(text: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text).group(1)


def test_the_oscar_howto_runs_verbatim_in_a_new_project(tmp_path: Path):
    port = free_port()
    shop = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE"))}
    env["SHOP_BASE_URL"] = shop
    shell = Shell(tmp_path, env, installs=INSTALLS)

    steps = includes()
    for filename, name in steps[: steps.index(("commands.sh", "migrate"))]:
        package = shell.cwd / "myshop"
        if filename == "commands.sh":
            shell.run(GUIDE.region(filename, name))
        elif filename == "settings.py":
            settings = package / "settings.py"
            text = settings.read_text(encoding="utf-8")
            settings.write_text(text + "\n" + GUIDE.region(filename, name), encoding="utf-8")
        else:  # urls.py is written whole
            (package / filename).write_text(GUIDE.region(filename, name), encoding="utf-8")

    checked = shell.run(GUIDE.region("commands.sh", "migrate"), timeout=600)
    assert "System check identified no issues" in checked
    (shell.cwd / WHOLE).write_text((FOLDER / WHOLE).read_text(encoding="utf-8"))
    shell.run(GUIDE.region("commands.sh", "catalogue"))

    (run_line,) = [line for line in GUIDE.region("commands.sh", "run").splitlines() if line]
    log = tmp_path / "runserver.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*shell.argv(run_line), f"127.0.0.1:{port}", "--noreload"],
            cwd=shell.cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"{shop}/", server, log)
        buy_pay_and_come_back(shop, log)
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert shell.run(GUIDE.region("commands.sh", "paid")) == "Paid\n", log.read_text()
    assert "prints ``Paid``" in PAGE.read_text(encoding="utf-8")


def buy_pay_and_come_back(shop: str, log: Path) -> None:
    """A guest buys the catalogue's coffee through Oscar's checkout and pays in full."""
    buyer = requests.Session()
    # Haystack's simple backend finds products by search (Oscar's browse pages need a
    # search engine; the page says so).
    found = buyer.get(f"{shop}/search/", params={"q": "coffee"}, timeout=60)
    assert "Coffee beans, 1 kg" in html.unescape(found.text), log.read_text()
    product = re.search(r'href="(/catalogue/coffee-beans-1-kg_\d+/)"', found.text).group(1)
    page = buyer.get(shop + product, timeout=60)
    add = re.search(r'action="(/basket/add/\d+/)"', page.text).group(1)
    buyer.post(shop + add, data={"csrfmiddlewaretoken": csrf(page.text), "quantity": 1})

    gateway = buyer.get(f"{shop}/checkout/", timeout=60)
    address = buyer.post(
        f"{shop}/checkout/",
        data={
            "csrfmiddlewaretoken": csrf(gateway.text),
            "username": "buyer@example.com",
            "options": "anonymous",
        },
        timeout=60,
    )
    assert address.url == f"{shop}/checkout/shipping-address/", log.read_text()
    payment = buyer.post(
        address.url,
        data={
            "csrfmiddlewaretoken": csrf(address.text),
            "first_name": "Olena",
            "last_name": "Buyer",
            "line1": "1 Khreshchatyk St",
            "line4": "Kyiv",
            "postcode": "01001",
            "country": "UA",
        },
        timeout=60,
    )
    # One shipping method (Oscar's free one) and no payment form: straight on.
    assert payment.url == f"{shop}/checkout/payment-details/", log.read_text()
    preview = buyer.get(f"{shop}/checkout/preview/", timeout=60)
    assert "24.90" in preview.text

    # Place order: the order is saved, the buyer lands on the invoice's payment page.
    sandbox = buyer.post(
        f"{shop}/checkout/preview/",
        data={"csrfmiddlewaretoken": csrf(preview.text), "action": "place_order"},
        timeout=60,
    )
    assert sandbox.url.startswith(f"{shop}/sandbox/pay/"), log.read_text()
    assert "24.90 EUR" in sandbox.text

    asset = re.search(r'<option value="(\w+)" selected>', sandbox.text).group(1)
    paid = buyer.post(
        sandbox.url,
        data={"csrfmiddlewaretoken": csrf(sandbox.text), "action": "pay", "payment_asset": asset},
        timeout=60,
    )
    assert "data-status>PAID<" in paid.text, paid.text

    back = html.unescape(re.search(r'data-return href="([^"]+)"', paid.text).group(1))
    assert back.startswith(f"{shop}/invoices/return/?")
    thanks = buyer.get(back, timeout=60)
    assert thanks.url == f"{shop}/checkout/thank-you/", log.read_text()
    assert "confirmation" in thanks.text
