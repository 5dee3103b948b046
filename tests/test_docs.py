"""The README is the manual: it must render and name every setting and check; the
pages under docs/ must render too."""

import re
from pathlib import Path

import docutils.core
import pytest

from django_invoices import checks, conf

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")
PAGES = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.rst"))
# The manual: the README and the pages under docs/ (a setting may be documented in either).
MANUAL = "\n".join(
    [README, *((ROOT / "docs" / page).read_text(encoding="utf-8") for page in PAGES)]
)


def test_readme_renders_without_warnings():
    docutils.core.publish_string(
        README,
        writer="null",
        settings_overrides={"report_level": 2, "halt_level": 2},
    )


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_each_page_under_docs_renders_without_warnings(page):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    if any(directive in text for directive in ("literalinclude::", "toctree::", ":doc:`")):
        pytest.skip("uses Sphinx's own directives: the Sphinx build checks it")
    docutils.core.publish_string(
        text,
        writer="null",
        settings_overrides={"report_level": 2, "halt_level": 2},
    )


def test_every_image_in_the_readme_is_in_the_repository():
    images = re.findall(r"^\.\. image:: (\S+)", README, flags=re.MULTILINE)
    assert images
    assert [path for path in images if not (ROOT / path).is_file()] == []


def test_every_setting_is_documented():
    missing = [key for key in conf.DEFAULTS if f"``{key}``" not in MANUAL]
    assert missing == []


def test_every_check_id_is_documented():
    source = Path(checks.__file__).read_text(encoding="utf-8")
    ids = set(re.findall(r"django_invoices\.[EW]\d{3}", source))
    assert ids
    assert sorted(i for i in ids if f"``{i}``" not in MANUAL) == []


def test_the_readme_gives_the_two_commands():
    assert "make demo" in README
    assert "make test" in README


def test_the_security_page_renders_and_names_every_guard():
    from django_invoices.sandbox import conf as sandbox_conf

    page = (ROOT / "docs" / "explanation" / "security.rst").read_text(encoding="utf-8")
    docutils.core.publish_string(
        page, writer="null", settings_overrides={"report_level": 2, "halt_level": 2}
    )
    for key in ("ENABLED", "ALLOW_WITHOUT_DEBUG", "API_URLS", "CALLBACK_HOSTS"):
        assert key in sandbox_conf.DEFAULTS
        assert f"``{key}``" in page
    for check_id in ("E020", "E110", "E111", "W101", "W102"):
        assert f"``django_invoices.{check_id}``" in page
    acceptance = "test_with_debug_off_every_sandbox_url_is_404_and_an_anonymous_pay_changes_nothing"
    assert acceptance in page
    assert acceptance in (ROOT / "tests" / "test_example_project.py").read_text()
