"""The testing guide (docs/howto/testing.rst) runs as it reads.

Its code lives in docs/howto/testing/ between "# [name]" and "# [end-name]" markers;
the page includes those regions, and this test builds a shop from exactly them, in the
page's order: ``startproject`` and ``startapp``, the settings appended, each file
written where the page says, the migrations made, then the page's ``pytest``, whose
tests must all pass. A block the page cuts short (the models, the receiver's imports,
how the receiver is connected) fails here.
"""

from __future__ import annotations

import os
import re

from .guides import Guide, Shell

GUIDE = Guide("howto/testing")

# Where each region goes in the reader's project (the page names each path before its
# block); "append" adds to what is there, in the page's order.
FILES = {
    ("settings.py", "settings"): ("mysite/settings.py", "append"),
    ("urls.py", "urls"): ("mysite/urls.py", "write"),
    ("test_settings.py", "test-settings"): ("mysite/test_settings.py", "write"),
    ("pytest.ini", "pytest-ini"): ("pytest.ini", "write"),
    ("models.py", "models"): ("shop/models.py", "write"),
    ("receivers.py", "receivers"): ("shop/receivers.py", "write"),
    ("apps.py", "apps"): ("shop/apps.py", "write"),
    ("conftest.py", "conftest"): ("tests/conftest.py", "write"),
    ("test_payments.py", "test-payments"): ("tests/test_payments.py", "append"),
    ("test_payments.py", "test-ships-once"): ("tests/test_payments.py", "append"),
}
COMMANDS = ["install", "start-project", "migrations", "run-tests"]


def test_the_page_shows_exactly_the_regions_the_test_runs():
    shown = GUIDE.regions()
    assert sorted(set(shown)) == sorted([*FILES, *(("commands.sh", name) for name in COMMANDS)])
    assert len(shown) == len(set(shown))
    for (filename, name), (path, _how) in FILES.items():
        assert f"``{path}``" in GUIDE.before(filename, name), (filename, name, path)


def test_each_file_the_page_shows_is_whole():
    """What the page shows of a file is all of it: nothing outside the markers."""
    for filename in {filename for filename, _name in FILES}:
        text = (GUIDE.folder / filename).read_text(encoding="utf-8")
        outside = re.sub(r"^# \[([\w-]+)\]\n.*?^# \[end-\1\]\n", "", text, flags=re.S | re.M)
        code = [line for line in outside.splitlines() if line.strip() and line[0] != "#"]
        assert code == [], (filename, code)


def test_the_testing_guide_runs_as_it_reads(tmp_path):
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DATABASE", "KUNAPAY_", "SHOP_", "PYTEST_"))
    }
    shell = Shell(tmp_path, env, installs=("django-invoices[testing]",))
    output = ""
    for filename, name in GUIDE.regions():
        if filename == "commands.sh":
            output = shell.run(GUIDE.region(filename, name), timeout=300)
            continue
        path, how = FILES[(filename, name)]
        target = shell.cwd / path
        target.parent.mkdir(parents=True, exist_ok=True)
        before = target.read_text(encoding="utf-8") if how == "append" and target.exists() else ""
        target.write_text(before + GUIDE.region(filename, name), encoding="utf-8")

    # The last command is the page's pytest: every test of the page ran, and passed.
    assert GUIDE.regions()[-1] == ("commands.sh", "run-tests")
    assert re.search(r"\b3 passed\b", output), output
    assert "failed" not in output, output
