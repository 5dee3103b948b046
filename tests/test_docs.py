"""The README is the manual: it must render and name every setting and check; the
pages under docs/ must render too."""

import re
from pathlib import Path

import docutils.core
import pytest

from django_invoices import checks, conf

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")


def test_readme_renders_without_warnings():
    docutils.core.publish_string(
        README,
        writer="null",
        settings_overrides={"report_level": 2, "halt_level": 2},
    )


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.rst")), ids=str)
def test_each_page_under_docs_renders_without_warnings(page):
    docutils.core.publish_string(
        (ROOT / "docs" / page).read_text(encoding="utf-8"),
        writer="null",
        settings_overrides={"report_level": 2, "halt_level": 2},
    )


def test_every_image_in_the_readme_is_in_the_repository():
    images = re.findall(r"^\.\. image:: (\S+)", README, flags=re.MULTILINE)
    assert images
    assert [path for path in images if not (ROOT / path).is_file()] == []


def test_every_setting_is_documented():
    # The README's settings table, or a page under docs/ while the manual moves there.
    docs = README + "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.rst"))
    missing = [key for key in conf.DEFAULTS if f"``{key}``" not in docs]
    assert missing == []


def test_every_check_id_is_documented():
    source = Path(checks.__file__).read_text(encoding="utf-8")
    ids = set(re.findall(r"django_invoices\.[EW]\d{3}", source))
    assert ids
    assert sorted(i for i in ids if f"``{i}``" not in README) == []


def test_the_readme_gives_the_two_commands():
    assert "make demo" in README
    assert "make test" in README
