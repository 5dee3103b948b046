"""The README is a PyPI page that points into the docs; the docs' reference pages name
every setting, check, signal, management command and template. (``make docs`` builds
the site itself with warnings as errors; the tutorial runs in test_tutorial.py.)"""

import re
from pathlib import Path

import docutils.core
import pytest
from django.core.management import get_commands

from django_invoices import conf, signals
from django_invoices.sandbox import conf as sandbox_conf

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.rst").read_text(encoding="utf-8")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name", ["README.rst", "CONTRIBUTING.rst", "SECURITY.rst", "CHANGELOG.rst"]
)
def test_top_level_pages_render_without_warnings(name):
    docutils.core.publish_string(
        (ROOT / name).read_text(encoding="utf-8"),
        writer="null",
        settings_overrides={"report_level": 2, "halt_level": 2},
    )


def test_the_readme_has_no_relative_links_or_images():
    # PyPI shows the README without the repository around it.
    images = re.findall(r"^\.\. (?:image|figure):: (\S+)", README, flags=re.MULTILINE)
    assert [path for path in images if not path.startswith("https://")] == []
    targets = re.findall(r"`[^`<]*<([^>]+)>`_", README)
    assert targets
    assert [target for target in targets if not target.startswith("https://")] == []


def test_the_readme_gives_the_two_commands_and_stays_short():
    assert "make demo" in README
    assert "make test" in README
    assert "pip install django-invoices" in README
    assert len(README) < 5000


def test_every_setting_is_documented():
    settings = page("reference/settings.rst")
    missing = [key for key in conf.DEFAULTS if f"``{key}``" not in settings]
    missing += [key for key in sandbox_conf.DEFAULTS if f"``{key}``" not in settings]
    assert missing == []


def test_every_check_id_is_documented():
    source = "".join(
        path.read_text(encoding="utf-8") for path in (ROOT / "django_invoices").rglob("*.py")
    )
    ids = set(re.findall(r"django_invoices\.[EW]\d{3}", source))
    assert {"django_invoices.E001", "django_invoices.W101", "django_invoices.E101"} <= ids
    checks = page("reference/checks.rst")
    assert sorted(i for i in ids if f"``{i}``" not in checks) == []


def test_every_signal_is_documented():
    names = [name for name, value in vars(signals).items() if isinstance(value, signals.Signal)]
    assert "order_paid" in names
    text = page("reference/signals.rst")
    assert [name for name in names if f"``{name}" not in text] == []


def test_every_management_command_is_documented():
    # The page includes each command's --help, generated at build time; the prose
    # names each one too.
    ours = [name for name, app in get_commands().items() if app == "django_invoices"]
    assert "invoices_refresh_open" in ours
    text = page("reference/commands.rst")
    assert [name for name in ours if f"``{name}``" not in text] == []


def test_every_template_is_documented():
    templates = sorted(
        path.relative_to(path.parents[1]).as_posix()
        for path in (ROOT / "django_invoices").rglob("templates/*/*.html")
    )
    assert "django_invoices/return.html" in templates
    text = page("reference/templates.rst")
    assert [name for name in templates if f"``{name}``" not in text] == []


def test_every_page_is_in_a_toctree():
    index = page("index.rst")
    pages = sorted(
        path.relative_to(DOCS).with_suffix("").as_posix()
        for path in DOCS.rglob("*.rst")
        if path.parent.name not in ("_build", "_generated", "tutorial") and path.name != "index.rst"
    )
    assert "architecture" in pages
    assert [name for name in pages if f"   {name}\n" not in index] == []


def test_every_line_of_the_production_checklist_names_its_check_or_its_page():
    """Issue 20: a short checklist, in order, each line linked to the check that enforces
    it or the page that explains it; every check it names exists and is documented."""
    text = page("howto/production-checklist.rst")
    items = re.split(r"^\d+\. ", text, flags=re.M)[1:]
    assert len(items) >= 8
    checks = page("reference/checks.rst")
    source = "".join(
        path.read_text(encoding="utf-8") for path in (ROOT / "django_invoices").rglob("*.py")
    )
    for item in items:
        named = re.findall(r"``(django_invoices\.[EW]\d{3})``", item)
        assert named or ":doc:" in item, item
        for check in named:
            assert f"``{check}``" in checks and f'"{check}"' in source, check
    # What the issue asked for, in this order.
    order = ["W002", "E014", "E011", "invoices_sync", "W006", "E001", "W007"]
    where = [text.index(needle) for needle in order]
    assert where == sorted(where)
