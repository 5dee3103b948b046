"""The tutorial (docs/tutorial.rst) runs verbatim.

Its code lives in docs/tutorial/ between "# [name]" and "# [end-name]" markers; the page
includes those regions with literalinclude, and this test applies the same regions to a
project that ``django-admin startproject`` has just made: settings appended, urls.py and
views.py written, then the page's commands, a payment on the sandbox's page, and the
customer's way back. A snippet changed so that it no longer works fails here.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
import requests

from .guides import ROOT, Guide, Shell, free_port, wait_for

TUTORIAL = Guide("tutorial")
PAGE = TUTORIAL.page
region = TUTORIAL.region
page_regions = TUTORIAL.regions


def included_regions() -> set[tuple[str, str]]:
    return set(page_regions())


APPLIED = {
    ("commands.sh", "start-project"),
    ("commands.sh", "install"),
    ("commands.sh", "migrate"),
    ("commands.sh", "run"),
    ("commands.sh", "shipped"),
    ("settings.py", "settings"),
    ("settings.py", "sandbox-settings"),
    ("urls.py", "urls"),
    ("views.py", "views"),
}


def test_the_page_shows_exactly_the_regions_the_test_runs():
    assert included_regions() == APPLIED
    for filename, name in APPLIED:
        assert f":end-before: # [end-{name}]" in PAGE.read_text(encoding="utf-8")
        assert region(filename, name).strip()


def test_the_tutorial_runs_verbatim_in_a_new_project(tmp_path):
    port = free_port()
    shop = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE"))}
    env["SHOP_BASE_URL"] = shop
    shell = Shell(tmp_path, env)

    # The steps up to the first command that needs the whole project, in the page's
    # order: a command shown before the install it needs fails as it would for a reader.
    steps = page_regions()
    for filename, name in steps[: steps.index(("commands.sh", "migrate"))]:
        package = shell.cwd / "mysite"
        if filename == "commands.sh":
            shell.run(region(filename, name))
        elif filename == "settings.py":
            settings = package / "settings.py"
            text = settings.read_text(encoding="utf-8")
            settings.write_text(text + "\n" + region(filename, name), encoding="utf-8")
        else:  # urls.py and views.py are written whole
            (package / filename).write_text(region(filename, name), encoding="utf-8")

    checked = shell.run(region("commands.sh", "migrate"))
    assert "System check identified no issues" in checked

    (run_line,) = [line for line in region("commands.sh", "run").splitlines() if line]
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
        customer = requests.Session()

        # The shop's checkout: a form, then the invoice and the sandbox's payment page.
        # The customer presses the button twice (the first payment page left unpaid), so
        # the shop holds two orders when the page asks for "the" order below.
        form = customer.get(f"{shop}/checkout/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        for _press in range(2):
            page = customer.post(
                f"{shop}/checkout/", data={"csrfmiddlewaretoken": token}, timeout=60
            )
        assert page.status_code == 200, log.read_text()
        assert page.url.startswith(f"{shop}/sandbox/pay/"), page.url
        assert "42.50 EUR" in page.text

        # Pay in full (the sandbox then sends its signed callbacks to the shop), pressing
        # the button a person presses, with the currency the page offers first.
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        asset = re.search(r'<option value="(\w+)" selected>', page.text).group(1)
        paid = customer.post(
            page.url,
            data={"csrfmiddlewaretoken": token, "action": "pay", "payment_asset": asset},
            timeout=60,
        )
        assert "data-status>PAID<" in paid.text, paid.text

        # The payment page's button brings the customer back to the shop.
        back = html.unescape(re.search(r'data-return href="([^"]+)"', paid.text).group(1))
        assert back.startswith(f"{shop}/invoices/return/?")
        returned = customer.get(back, timeout=60)
        assert returned.status_code == 200
        assert "Thank you, your payment was received" in returned.text
    finally:
        server.terminate()
        server.wait(timeout=30)

    # The shop's own record, exactly as the page says it prints: "paid" and nothing else
    # (no "N objects imported automatically" first, no MultipleObjectsReturned).
    assert shell.run(region("commands.sh", "shipped")) == "paid\n", log.read_text()
    assert "prints ``paid``" in PAGE.read_text(encoding="utf-8")


def test_the_page_installs_before_its_first_command_needs_django(tmp_path):
    """Issue 20: ``django-admin startproject`` came before ``pip install``."""
    steps = [name for filename, name in page_regions() if filename == "commands.sh"]
    assert steps.index("install") < steps.index("start-project")
    shell = Shell(tmp_path, {})
    with pytest.raises(AssertionError, match="command not found"):
        shell.run(region("commands.sh", "start-project"))


def sandbox_settings(code: str, base_dir: Path) -> dict:
    """What a block of sandbox settings sets, run on a project's own settings."""
    names = {
        "BASE_DIR": base_dir,
        "INSTALLED_APPS": [],
        "DATABASES": {"default": {}},
        "DJANGO_INVOICES": {},
        "SHOP_BASE_URL": "http://127.0.0.1:8000",
    }
    exec(code, names)  # the docs' own code
    return {
        "database": names["DATABASES"]["sandbox"],
        "routers": names["DATABASE_ROUTERS"],
        "sandbox": names["DJANGO_INVOICES_SANDBOX"],
    }


def test_the_tutorial_sets_up_the_sandbox_as_the_sandbox_guide_says(tmp_path):
    """Issue 20: the tutorial's sandbox database lacked the guide's IMMEDIATE, and set
    ``ENABLED = True`` though the default already answers while DEBUG is on (and True
    with DEBUG off is check E110, not a way to "let it answer")."""
    guide = (ROOT / "docs" / "howto" / "sandbox.rst").read_text(encoding="utf-8")
    block = re.search(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", guide).group(1)
    shown = sandbox_settings(textwrap.dedent(block), tmp_path)
    tutorial = sandbox_settings(region("settings.py", "sandbox-settings"), tmp_path)
    assert tutorial == shown
    assert tutorial["database"]["OPTIONS"] == {"transaction_mode": "IMMEDIATE"}
    assert "ENABLED" not in tutorial["sandbox"]
