"""The shop's settings for its tests: its own, with a secret and keys that are the
tests' own (the real ones live only in production's environment)."""

from .settings import *  # noqa: F403
from .settings import DJANGO_INVOICES

SECRET_KEY = "shop-tests-only"

DJANGO_INVOICES = {
    **DJANGO_INVOICES,
    "API_KEY": "tests-api-key",
    "PRIVATE_KEY": "tests-private-key",
}
