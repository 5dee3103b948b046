"""Sphinx configuration of the django-invoices documentation (``make docs``).

The reference pages that must never drift from the code are generated here, offline,
at every build: the REST API's OpenAPI schema (drf-spectacular), the management
commands' ``--help``, and the list of service functions (autodoc). Django is set up
with the test suite's settings for that.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

import django  # noqa: E402

django.setup()

import django_invoices  # noqa: E402

project = "django-invoices"
author = "The django-invoices authors"
copyright = "the django-invoices authors"
release = django_invoices.__version__
version = release

extensions = ["sphinx.ext.autodoc"]
html_theme = "furo"
html_title = f"django-invoices {release}"
exclude_patterns = ["_build", "_generated"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# "Back to the shop" is a lazy translation; its repr is not what a reader wants.
autodoc_preserve_defaults = True


def write(name: str, text: str) -> None:
    GENERATED.mkdir(exist_ok=True)
    path = GENERATED / name
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def openapi_schema() -> None:
    from django.test import Client
    from django.urls import reverse

    response = Client().get(reverse("django_invoices:api-schema"), {"format": "yaml"})
    assert response.status_code == 200, response.status_code
    text = response.content.decode("utf-8")
    write("openapi.yaml", text)

    import yaml

    schema = yaml.safe_load(text)
    rows = [".. list-table::", "   :header-rows: 1", "", "   * - Request", "     - What it does"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            summary = " ".join(str(operation.get("description", "")).split())
            rows += [f"   * - ``{method.upper()} {path}``", f"     - {summary}"]
    write("openapi-operations.rst", "\n".join(rows) + "\n")


def commands() -> None:
    from django.core.management import get_commands, load_command_class

    lines: list[str] = []
    for name, app in sorted(get_commands().items()):
        if app != "django_invoices":
            continue
        parser = load_command_class(app, name).create_parser("manage.py", name)
        title = f"``{name}``"
        lines += [title, "~" * len(title), "", ".. code-block:: text", ""]
        lines += [f"    {line}".rstrip() for line in parser.format_help().splitlines()]
        lines.append("")
    write("commands.rst", "\n".join(lines))


def services() -> None:
    import inspect

    from django_invoices import services as module

    lines = []
    for name in module.__all__:
        if inspect.isfunction(getattr(module, name)):
            lines += [f".. autofunction:: django_invoices.services.{name}", ""]
    write("services.rst", "\n".join(lines))


openapi_schema()
commands()
services()
