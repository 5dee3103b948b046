"""The demo's own command."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from shop.models import Product


@pytest.mark.django_db
def test_demo_setup_dry_run_creates_nothing():
    out = StringIO()
    call_command("demo_setup", "--dry-run", stdout=out)
    assert "would create product 'Tea sampler'" in out.getvalue()
    assert "would create the admin user 'admin'" in out.getvalue()
    assert Product.objects.count() == 0
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_demo_setup_creates_the_products_once():
    call_command("demo_setup", stdout=StringIO())
    call_command("demo_setup", stdout=StringIO())
    assert Product.objects.count() == 4
    assert get_user_model().objects.filter(username="admin").count() == 1
