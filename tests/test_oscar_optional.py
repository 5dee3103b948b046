"""A shop that does not use the Oscar integration installs and imports nothing of it.

The import contract ``core-without-contrib`` (setup.cfg, ``lint-imports``) forbids the
core from importing ``django_invoices.contrib`` or ``oscar``; these tests check the
same from the outside: the app starts, and every core module imports, in a process
where Oscar cannot be imported at all; and only the ``oscar`` extra asks for it.
"""

import configparser
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WITHOUT_OSCAR = """
import importlib, json, pkgutil, sys
sys.modules["oscar"] = None  # "pip uninstall django-oscar": any import of it fails
import django
django.setup()
import django_invoices
from django.urls import resolve
resolve("/invoices/return/")  # the URLconf, views and admin loaded
imported = []
# Not pkgutil.walk_packages: it imports every package to look inside, contrib included.
def walk(path, prefix):
    for info in pkgutil.iter_modules(path, prefix):
        if info.name.startswith(("django_invoices.contrib", "django_invoices.migrations")):
            continue
        if info.name.endswith(("with_celery", "pytest_plugin")):
            continue  # need Celery / are pytest's
        module = importlib.import_module(info.name)
        imported.append(info.name)
        if info.ispkg:
            walk(module.__path__, info.name + ".")
walk(django_invoices.__path__, "django_invoices.")
print(json.dumps({
    "imported": len(imported),
    "oscar": sorted(name for name in sys.modules if name.split(".")[0] == "oscar"),
    "contrib": sorted(name for name in sys.modules if name.startswith("django_invoices.contrib")),
}))
"""


def test_the_core_runs_and_imports_without_oscar():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OSCAR],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["imported"] > 40  # every module of the core, the services' included
    assert result["oscar"] == ["oscar"]  # only the placeholder that refuses imports
    assert result["contrib"] == []


def test_only_the_oscar_extra_installs_oscar():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    required = setup["options"]["install_requires"]
    assert "oscar" not in required
    extras = setup["options.extras_require"]
    assert extras["oscar"].split() == ["django-oscar>=4.2"]
    shops = [name for name in extras if name not in ("oscar", "dev")]
    assert [name for name in shops if "oscar" in extras[name]] == []
