# The whole of shop/apps.py, written by tests/test_guide_testing.py.

# [apps]
from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Importing the module connects its @receiver functions to the signals.
        from . import receivers  # noqa: F401


# [end-apps]
