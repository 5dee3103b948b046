# The whole of mysite/test_settings.py, written by tests/test_guide_testing.py.

# [test-settings]
from .settings import *  # noqa: F403
from .settings import DJANGO_INVOICES, INSTALLED_APPS

# The sandbox plays KUNA Pay in the tests (no URLs to include).
INSTALLED_APPS = [*INSTALLED_APPS, "django_invoices.sandbox"]

SECRET_KEY = "shop-tests-only"

DJANGO_INVOICES = {
    **DJANGO_INVOICES,
    "API_KEY": "tests-api-key",
    "PRIVATE_KEY": "tests-private-key",
}
# [end-test-settings]
