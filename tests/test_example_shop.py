"""The example shop's own test suite (example_project/shop/tests, which the testing
how-to includes), run as a shop runs it, and the demo's make target."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "example_project"


def test_the_example_shops_tests_pass_with_its_own_pytest_ini(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        # Its own settings, its own SQLite: nothing of this suite's configuration.
        if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SHOP_BASE_URL")
        and not key.startswith("KUNAPAY_")
    }
    env["SANDBOX_DATABASE_PATH"] = str(tmp_path / "sandbox.sqlite3")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "shop/tests"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_takes_a_port_and_the_urls_follow():
    planned = subprocess.run(
        ["make", "-n", "demo", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "SHOP_BASE_URL=http://127.0.0.1:8123 ../.venv/bin/python manage.py demo_setup" in planned
    assert "manage.py runserver 127.0.0.1:8123" in planned
    assert "8000" not in planned
