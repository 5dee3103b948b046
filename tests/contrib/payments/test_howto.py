"""The django-payments how-to (docs/howto/django-payments.rst) runs verbatim.

Its code lives in docs/howto/django-payments/ between "# [name]" and "# [end-name]"
markers; the page includes those regions with literalinclude, and this test applies the
same regions, in the page's order, to a project that ``django-admin startproject`` has
just made: settings appended, the shop's model, views and the URLs written where the
page says, then its commands, a payment on the sandbox's page, and the buyer's way back
through django-payments' process URL. A snippet changed so that it no longer works
fails here.
"""

from __future__ import annotations

import html
import os
import re
import subprocess

import requests

from tests.guides import Guide, Shell, free_port, wait_for

GUIDE = Guide("howto/django-payments")

# Where the page says each file goes ("Replace ``shop/models.py``", ...); settings.py is
# appended to the one startproject wrote.
WRITTEN = {
    "models.py": "shop/models.py",
    "views.py": "shop/views.py",
    "urls.py": "mysite/urls.py",
}
APPLIED = [
    ("commands.sh", "install"),
    ("commands.sh", "start-project"),
    ("settings.py", "settings"),
    ("settings.py", "sandbox-settings"),
    ("models.py", "models"),
    ("views.py", "views"),
    ("urls.py", "urls"),
    ("commands.sh", "migrate"),
    ("commands.sh", "run"),
    ("commands.sh", "paid"),
]


def test_the_page_shows_exactly_the_regions_the_test_runs():
    assert GUIDE.regions() == APPLIED
    for filename, name in APPLIED:
        assert GUIDE.region(filename, name).strip()
    for filename, target in WRITTEN.items():
        name = next(name for f, name in APPLIED if f == filename)
        assert f"``{target}``" in GUIDE.before(filename, name), target
    assert "mysite/settings.py" in GUIDE.before("settings.py", "settings")


def test_the_howto_runs_verbatim_in_a_new_project(tmp_path):
    port = free_port()
    shop = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE"))}
    env["SHOP_BASE_URL"] = shop
    shell = Shell(tmp_path, env, installs=("django-invoices[payments]",))

    steps = GUIDE.regions()
    for filename, name in steps[: steps.index(("commands.sh", "migrate"))]:
        code = GUIDE.region(filename, name)
        if filename == "commands.sh":
            shell.run(code)
        elif filename == "settings.py":
            settings = shell.cwd / "mysite" / "settings.py"
            text = settings.read_text(encoding="utf-8")
            settings.write_text(text + "\n" + code, encoding="utf-8")
        else:
            (shell.cwd / WRITTEN[filename]).write_text(code, encoding="utf-8")

    checked = shell.run(GUIDE.region("commands.sh", "migrate"))
    assert "System check identified no issues" in checked

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
        wait_for(f"{shop}/checkout/", server, log)
        buyer = requests.Session()

        # The shop's checkout: get_form creates the invoice and sends the buyer to the
        # sandbox's payment page.
        form = buyer.get(f"{shop}/checkout/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        page = buyer.post(f"{shop}/checkout/", data={"csrfmiddlewaretoken": token}, timeout=60)
        assert page.status_code == 200, log.read_text()
        assert page.url.startswith(f"{shop}/sandbox/pay/"), page.url
        assert "42.50 EUR" in page.text

        # Pay in full: the sandbox posts its signed callbacks to django-invoices'
        # callback view, whose outcome moves the Payment.
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        asset = re.search(r'<option value="(\w+)" selected>', page.text).group(1)
        paid = buyer.post(
            page.url,
            data={"csrfmiddlewaretoken": token, "action": "pay", "payment_asset": asset},
            timeout=60,
        )
        assert "data-status>PAID<" in paid.text, paid.text

        # Back to the shop through django-payments' process URL, then its success page.
        back = html.unescape(re.search(r'data-return href="([^"]+)"', paid.text).group(1))
        assert back.startswith(f"{shop}/payments/process/"), back
        returned = buyer.get(back, timeout=60)
        assert returned.status_code == 200, log.read_text()
        assert returned.url == f"{shop}/paid/1/", returned.url
        assert "Payment 1: confirmed (42.50 EUR received)" in returned.text
    finally:
        server.terminate()
        server.wait(timeout=30)

    # The shop's own record, as the page says it prints.
    assert shell.run(GUIDE.region("commands.sh", "paid")) == "confirmed 42.50 EUR\n", (
        log.read_text()
    )
    assert "prints ``confirmed 42.50 EUR``" in GUIDE.text()
