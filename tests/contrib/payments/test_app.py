"""How the contrib is installed: the dotted path of PAYMENT_VARIANTS, its app label
beside django-payments' own, and the test shop's migrations."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils.module_loading import import_string
from payments.core import provider_factory

import django_invoices.contrib.payments as contrib
from django_invoices.contrib.payments.provider import KunaPayProvider


def test_the_documented_dotted_path_names_the_provider():
    assert import_string("django_invoices.contrib.payments.KunaPayProvider") is KunaPayProvider
    provider = provider_factory("kunapay-shared")
    assert isinstance(provider, KunaPayProvider)
    assert provider.order_prefix == "site2-"
    assert provider.invoice_options == {"redirect_button_title": "Back to site 2"}


def test_the_package_names_only_what_it_offers():
    assert contrib.sync_payment.__module__ == "django_invoices.contrib.payments.status"
    with pytest.raises(AttributeError, match="Provider"):
        contrib.Provider  # noqa: B018


def test_its_app_label_leaves_django_payments_its_own():
    assert apps.get_app_config("django_invoices_payments").name == contrib.__name__
    assert apps.get_app_config("payments").name == "payments"


def test_the_test_shops_migrations_are_in_step(db):
    call_command("makemigrations", "payments_shop", check=True, dry_run=True, verbosity=0)


WITHOUT_DJANGO_PAYMENTS = """
import sys


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name == "payments" or name.startswith("payments."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, NotInstalled())
import django

django.setup()
from django.urls import reverse

import django_invoices.admin, django_invoices.api.views, django_invoices.checkout
import django_invoices.services, django_invoices.testing, django_invoices.urls
import django_invoices.views

reverse("django_invoices:callback", kwargs={"account": "default"})
print(sorted(m for m in sys.modules if m.split(".")[0] == "payments" or "contrib.payments" in m))
"""


def test_a_shop_without_django_payments_imports_nothing_of_it():
    """The main test settings, with django-payments made impossible to import: the app,
    its admin, API, views and services load, and nothing of the provider does."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DJANGO_PAYMENTS],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
