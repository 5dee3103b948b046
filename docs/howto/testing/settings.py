# Appended to the settings.py that "django-admin startproject" wrote (which defines
# INSTALLED_APPS); tests/test_guide_testing.py appends exactly the marked block.

# [settings]
import os

INSTALLED_APPS += [
    "rest_framework",
    "django_invoices",
    "shop",
]

DJANGO_INVOICES = {
    # From the environment in production; without them the shop refuses to start
    # (system checks E001 and E002).
    "API_KEY": os.environ.get("KUNAPAY_API_KEY", ""),
    "PRIVATE_KEY": os.environ.get("KUNAPAY_PRIVATE_KEY", ""),
    "BASE_URL": os.environ.get("SHOP_BASE_URL", "http://127.0.0.1:8000"),
}
# [end-settings]
