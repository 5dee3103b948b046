"""What the app does when Django starts it (``DjangoInvoicesConfig.ready``)."""

import sys

import pytest
from django.apps import apps

import django_invoices.tasks

CELERY_TASKS = "django_invoices.tasks.with_celery"


@pytest.fixture
def fresh_start(monkeypatch):
    """Starting the app again, as if the Celery tasks had never been imported."""
    monkeypatch.delitem(sys.modules, CELERY_TASKS, raising=False)
    monkeypatch.delattr(django_invoices.tasks, "with_celery", raising=False)
    return apps.get_app_config("django_invoices").ready


# Another test may have imported the tasks before: importing them again registers each name
# a second time on Celery's default app, which warns. The assertion is about the import.
@pytest.mark.filterwarnings("ignore:Task name 'django_invoices")
def test_with_celery_the_tasks_are_registered_at_startup(settings, fresh_start):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "TASKS": "celery"}
    fresh_start()
    assert CELERY_TASKS in sys.modules


def test_without_celery_no_celery_task_is_imported(settings, fresh_start):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "TASKS": "django.tasks"}
    fresh_start()
    assert CELERY_TASKS not in sys.modules


def test_a_missing_celery_does_not_stop_the_start(settings, fresh_start, monkeypatch):
    # Reported by the system check E011 instead, with what to install.
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "TASKS": "celery"}
    monkeypatch.setitem(sys.modules, "celery", None)
    fresh_start()
    assert CELERY_TASKS not in sys.modules
