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
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = ROOT / "docs" / "tutorial"
PAGE = ROOT / "docs" / "tutorial.rst"


def region(filename: str, name: str) -> str:
    text = (SNIPPETS / filename).read_text(encoding="utf-8")
    match = re.search(rf"^# \[{name}\]\n(.*?)^# \[end-{name}\]\n", text, re.S | re.M)
    assert match, f"no region {name} in {filename}"
    return match.group(1)


def included_regions() -> set[tuple[str, str]]:
    page = PAGE.read_text(encoding="utf-8")
    found = re.findall(
        r"^\.\. literalinclude:: tutorial/(\S+)\n(?:   :.*\n)*?   :start-after: # \[([\w-]+)\]\n",
        page,
        flags=re.M,
    )
    return set(found)


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Shell:
    """Runs the page's command lines: ``django-admin`` and ``python`` are this
    interpreter's, ``cd`` moves, ``pip install`` is what the suite already did."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        self.cwd = cwd
        self.env = env

    def argv(self, line: str) -> list[str]:
        words = shlex.split(line)
        if words[0] == "django-admin":
            return [sys.executable, "-m", "django", *words[1:]]
        assert words[0] == "python", line
        return [sys.executable, *words[1:]]

    def run(self, lines: str) -> str:
        output = ""
        for line in lines.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("cd "):
                self.cwd = self.cwd / line[3:].strip()
                continue
            if line.startswith("pip install "):
                assert line == "pip install django-invoices"
                continue
            done = subprocess.run(
                self.argv(line),
                cwd=self.cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
            output += done.stdout + done.stderr
        return output


def wait_for(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"runserver exited:\n{log.read_text()}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"runserver did not answer:\n{log.read_text()}")


def test_the_tutorial_runs_verbatim_in_a_new_project(tmp_path):
    port = free_port()
    shop = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE"))}
    env["SHOP_BASE_URL"] = shop
    shell = Shell(tmp_path, env)

    shell.run(region("commands.sh", "start-project"))
    shell.run(region("commands.sh", "install"))
    package = shell.cwd / "mysite"
    settings = package / "settings.py"
    settings.write_text(
        settings.read_text(encoding="utf-8")
        + "\n"
        + region("settings.py", "settings")
        + "\n"
        + region("settings.py", "sandbox-settings"),
        encoding="utf-8",
    )
    (package / "urls.py").write_text(region("urls.py", "urls"), encoding="utf-8")
    (package / "views.py").write_text(region("views.py", "views"), encoding="utf-8")

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
        form = customer.get(f"{shop}/checkout/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        page = customer.post(f"{shop}/checkout/", data={"csrfmiddlewaretoken": token}, timeout=60)
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

    # The shop's own record (Django 5.2+ shells first say what they imported).
    status = shell.run(region("commands.sh", "shipped")).strip().splitlines()[-1]
    assert status == "paid", log.read_text()
