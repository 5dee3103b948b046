"""Every sandbox URL resolves only while the sandbox may answer (``conf.refusal``).

The guard sits in URL resolution rather than in the views: a refused sandbox is a 404
for every method before any middleware runs a view's checks (CSRF would otherwise
answer a POST with a 403 that shows the URL exists), and a view added to ``urls.py``
later is covered without remembering a decorator.
"""

from __future__ import annotations

import logging
from typing import Any

from django.urls import URLPattern, URLResolver
from django.urls.resolvers import ResolverMatch

from . import conf

logger = logging.getLogger("django_invoices.sandbox")


class GuardedPattern(URLPattern):
    def resolve(self, path: str) -> ResolverMatch | None:
        match = super().resolve(path)
        if match is None:
            return None
        reason = conf.refusal()
        if reason is not None:
            logger.debug("Sandbox URL %s not served: %s", path, reason)
            return None
        return match


def guard(patterns: list[Any]) -> list[Any]:
    """``patterns`` with each URL pattern (also inside includes) behind the guard."""
    guarded: list[Any] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern) and not isinstance(pattern, GuardedPattern):
            pattern = GuardedPattern(
                pattern.pattern, pattern.callback, pattern.default_args, pattern.name
            )
        elif isinstance(pattern, URLResolver):
            pattern.url_patterns[:] = guard(pattern.url_patterns)
        guarded.append(pattern)
    return guarded
