"""Every URL of the sandbox as mounted in the current ROOT_URLCONF, found by walking the
URL resolver (not a hand-made list: a URL added to the sandbox later is covered)."""

from __future__ import annotations

import uuid

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import UUIDConverter

NAMESPACE = "invoices_sandbox"


def _patterns(patterns, inside=False):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, inside or pattern.namespace == NAMESPACE)
        elif isinstance(pattern, URLPattern) and inside:
            yield pattern


def sandbox_paths(invoice_id: str) -> dict[str, str]:
    """{URL name: path} for every sandbox URL, ids filled in with ``invoice_id``."""
    found = {}
    for pattern in _patterns(get_resolver().url_patterns):
        assert pattern.name, f"unnamed sandbox URL {pattern.pattern}"
        kwargs = {
            name: uuid.UUID(invoice_id) if isinstance(converter, UUIDConverter) else invoice_id
            for name, converter in getattr(pattern.pattern, "converters", {}).items()
        }
        found[pattern.name] = reverse(f"{NAMESPACE}:{pattern.name}", kwargs=kwargs)
    assert found, "no sandbox URL is mounted"
    return found
