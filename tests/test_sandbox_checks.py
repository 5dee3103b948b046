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
    # With the sandbox in the default database, the shop's apps migrate as without it.
    assert router.allow_migrate("default", "invoices_sandbox") is True
    assert router.allow_migrate("default", "django_invoices") is None
    settings.DJANGO_INVOICES_SANDBOX = {"DATABASE": "sandbox"}
    assert router.db_for_read(SandboxInvoice) == "sandbox"
    assert router.db_for_read(Order) is None
    assert router.db_for_write(Order) is None
    assert router.allow_migrate("sandbox", "invoices_sandbox") is True
    assert router.allow_migrate("default", "invoices_sandbox") is False
    assert router.allow_migrate("sandbox", "django_invoices") is False
    assert router.allow_migrate("default", "django_invoices") is None


# -- what each check says, word for word (docs/reference/checks.rst) ---------------------


def said(settings, *, debug, sandbox=None, accounts=None):
    settings.DEBUG = debug
    if sandbox is not None:
        settings.DJANGO_INVOICES_SANDBOX = {**settings.DJANGO_INVOICES_SANDBOX, **sandbox}
    if accounts is not None:
        settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "ACCOUNTS": accounts}
    return [(m.id, m.msg, m.hint) for m in check_debug()]


W101 = (
    "django_invoices.W101",
    "The KUNA Pay sandbox (django_invoices.sandbox) is installed with DEBUG off.",
    "The sandbox marks invoices paid for anyone who clicks a button. Remove it from "
    "INSTALLED_APPS and its URLs from production settings.",
)


def test_the_debug_off_warning_word_for_word(settings):
    assert said(settings, debug=False) == [W101]


def test_the_unacknowledged_switch_error_word_for_word(settings):
    assert said(settings, debug=False, sandbox={"ENABLED": True, "ALLOW_WITHOUT_DEBUG": "1"}) == [
        W101,
        (
            "django_invoices.E110",
            'DJANGO_INVOICES_SANDBOX["ENABLED"] switches the sandbox on with DEBUG off.',
            "Anyone could then pay invoices by clicking a button. Its URLs stay 404s until "
            "ENABLED and ALLOW_WITHOUT_DEBUG are both True (the values, not strings), which "
            "only belongs on a machine that takes no real payments.",
        ),
    ]


def test_the_real_keys_error_names_each_key_word_for_word(settings):
    live = {"API_URL": "https://api.kunapay.io", "API_KEY": "live-key", "PRIVATE_KEY": "live-pk"}
    assert said(
        settings,
        debug=True,
        sandbox={"API_KEY": "live-key", "PRIVATE_KEY": "live-pk"},
        accounts={"live": live},
    ) == [
        (
            "django_invoices.E111",
            "The KUNA Pay sandbox is configured with a real account's keys (API_KEY in "
            "DJANGO_INVOICES_SANDBOX, PRIVATE_KEY in DJANGO_INVOICES_SANDBOX).",
            "The sandbox would accept requests and sign callbacks with a real merchant's "
            "secrets; it answers nothing until it has keys of its own (or none: it then "
            "takes the keys of the accounts whose API_URL points at it).",
        )
    ]


def test_the_no_credentials_warning_word_for_word(settings):
    settings.DJANGO_INVOICES = {"BASE_URL": "https://shop.example"}
    assert said(settings, debug=True) == [
        (
            "django_invoices.W102",
            "The KUNA Pay sandbox accepts no credentials.",
            "Set API_KEY (or PUBLIC_KEY and PRIVATE_KEY) in DJANGO_INVOICES_SANDBOX, or point "
            "an account's API_URL in DJANGO_INVOICES at the sandbox (BASE_URL plus the "
            "sandbox's prefix, or one of DJANGO_INVOICES_SANDBOX['API_URLS']).",
        )
    ]
