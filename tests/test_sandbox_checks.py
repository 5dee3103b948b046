from django.core.management import call_command
from django.test import override_settings

from django_invoices.sandbox.checks import check_debug
from django_invoices.sandbox.conf import credentials


def ids():
    return [message.id for message in check_debug()]


def test_warns_when_installed_with_debug_off(settings):
    settings.DEBUG = False
    assert ids() == ["django_invoices.W101"]
    assert check_debug()[0].hint


def test_quiet_with_debug_on(settings):
    settings.DEBUG = True
    assert ids() == []


def test_warns_when_no_credentials_are_accepted(settings):
    settings.DEBUG = True
    settings.DJANGO_INVOICES = {"BASE_URL": "https://shop.example"}
    assert ids() == ["django_invoices.W102"]


def test_the_check_framework_runs_it(capsys):
    with override_settings(DEBUG=False):
        call_command("check")
    assert "django_invoices.W101" in capsys.readouterr().err


def test_credentials_default_to_every_sandbox_account_and_can_be_set(settings):
    settings.DJANGO_INVOICES = {
        "API_URL": "https://api.kunapay.test",  # in API_URLS of the test settings
        "API_KEY": "k",
        "PRIVATE_KEY": "p",
        "ACCOUNTS": {
            "eu": {"PUBLIC_KEY": "pub", "PRIVATE_KEY": "eu"},
            "bad": {},
            "real": {"API_URL": "https://api.kunapay.io", "API_KEY": "live", "PRIVATE_KEY": "x"},
        },
    }
    assert [(c.api_key, c.public_key, c.private_key) for c in credentials()] == [
        ("k", "", "p"),
        ("", "pub", "eu"),
    ]
    settings.DJANGO_INVOICES_SANDBOX = {"API_KEY": "own", "PRIVATE_KEY": "own-p"}
    (own,) = credentials()
    assert (own.api_key, own.private_key) == ("own", "own-p")
    assert "own-p" not in repr(own)


def test_the_router_keeps_sandbox_tables_in_their_own_database(settings):
    from django_invoices.models import Order
    from django_invoices.sandbox.models import SandboxInvoice
    from django_invoices.sandbox.routers import SandboxRouter

    router = SandboxRouter()
    assert router.db_for_write(SandboxInvoice) == "default"
    settings.DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
    assert router.db_for_read(SandboxInvoice) == "sandbox"
    assert router.db_for_write(Order) is None
    assert router.allow_migrate("sandbox", "invoices_sandbox") is True
    assert router.allow_migrate("default", "invoices_sandbox") is False
    assert router.allow_migrate("sandbox", "django_invoices") is False
    assert router.allow_migrate("default", "django_invoices") is None
