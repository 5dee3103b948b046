"""Django's Tasks framework: ``django.tasks`` on Django 6.0 and newer, the
``django-tasks`` package (its backport) on Django 5.2. The one place that knows which.

``AVAILABLE`` is False when neither is installed; ``task`` and ``task_backends`` are
then None.
"""

from __future__ import annotations

from typing import Any

task: Any
task_backends: Any

try:
    from django.tasks import task, task_backends
except ImportError:
    try:
        from django_tasks import task, task_backends
    except ImportError:
        task = task_backends = None

AVAILABLE = task_backends is not None
