"""The Ukrainian catalog: complete, compiled from the committed .po, and used by Django.

The .po is read with a small parser and the .mo with the standard library, so the test
needs neither polib nor the gettext tools (msgfmt) on the CI machine.
"""

import ast
import gettext
from pathlib import Path

import pytest
from django.utils import translation

from django_invoices.statuses import InvoiceStatus, OrderStatus

LC_MESSAGES = Path(__file__).resolve().parent.parent / "django_invoices/locale/uk/LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"
UK_PLURAL_FORMS = 4


def read_po(path):
    """The entries of a .po file as dicts of keyword -> text (header included)."""
    entries, entry, key = [], {}, None
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if entry:
                entries.append(entry)
            entry, key = {}, None
        elif line.startswith("#"):
            continue  # comments, flags and obsolete (#~) entries
        elif line.startswith('"'):
            entry[key] += ast.literal_eval(line)
        else:
            key, _, text = line.partition(" ")
            entry[key] = ast.literal_eval(text)
    return entries


def load_mo():
    with MO.open("rb") as fp:
        return gettext.GNUTranslations(fp)


def test_po_has_no_untranslated_or_fuzzy_entries():
    text = PO.read_text(encoding="utf-8")
    assert "#, fuzzy" not in text and ", fuzzy" not in text
    entries = [e for e in read_po(PO) if e["msgid"]]
    assert len(entries) > 200
    for entry in entries:
        if "msgid_plural" in entry:
            forms = [entry.get(f"msgstr[{i}]", "") for i in range(UK_PLURAL_FORMS)]
            assert all(forms), entry["msgid"]
        else:
            assert entry["msgstr"], entry["msgid"]


GETTEXT_CALLS = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext"}


def marked_strings():
    """The literal msgids the package's Python code marks for translation (where each
    is), read with ``ast``: what ``makemessages`` would find, without GNU gettext."""
    package = PO.parents[3]
    found = {}
    for path in sorted(package.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            first = node.args[1] if name == "pgettext" and len(node.args) > 1 else node.args[0]
            text = first.value if isinstance(first, ast.Constant) else None
            if name in GETTEXT_CALLS and isinstance(text, str) and text:
                found.setdefault(text, f"{path.relative_to(package)}:{node.lineno}")
    return found


def test_every_string_the_code_marks_is_in_the_catalog():
    """A string added to the code and never run through ``makemessages`` is caught here:
    it would reach Ukrainian users in English."""
    msgids = {entry["msgid"] for entry in read_po(PO)}
    marked = marked_strings()
    assert len(marked) > 200
    missing = {text: where for text, where in marked.items() if text not in msgids}
    assert missing == {}


def test_mo_header_is_ukrainian():
    info = load_mo().info()
    assert info["language"] == "uk"
    assert info["content-type"] == "text/plain; charset=UTF-8"
    assert info["plural-forms"].startswith(f"nplurals={UK_PLURAL_FORMS};")


def test_mo_matches_po():
    """Every .po entry is in the compiled .mo, with the same text (the .mo is not stale)."""
    catalog = load_mo()._catalog
    mo_msgids = {key[0] if isinstance(key, tuple) else key for key in catalog} - {""}
    entries = [e for e in read_po(PO) if e["msgid"]]
    assert len(mo_msgids) == len(entries)
    for entry in entries:
        msgid = entry["msgid"]
        if "msgid_plural" in entry:
            for i in range(UK_PLURAL_FORMS):
                assert catalog[(msgid, i)] == entry[f"msgstr[{i}]"], msgid
        else:
            assert catalog[msgid] == entry["msgstr"], msgid


def test_customer_strings_come_out_in_ukrainian():
    with translation.override("uk"):
        assert translation.gettext("Thank you, your payment was received") == (
            "Дякуємо, вашу оплату отримано"
        )
        assert str(OrderStatus.PAID.label) == "Оплачено"
        assert str(InvoiceStatus.AWAITING_PAYMENT.label) == "Очікує оплати"
    with translation.override("en"):
        assert str(OrderStatus.PAID.label) == "Paid"


@pytest.mark.parametrize(
    ("seconds", "word"),
    [
        (1, "кожну 1 секунду"),
        (3, "кожні 3 секунди"),
        (5, "кожні 5 секунд"),
        (21, "кожну 21 секунду"),
    ],
)
def test_plural_forms_follow_ukrainian_rules(seconds, word):
    with translation.override("uk"):
        text = translation.ngettext(
            "This page checks again by itself every %(seconds)s second.",
            "This page checks again by itself every %(seconds)s seconds.",
            seconds,
        ) % {"seconds": seconds}
    assert word in text
