from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "tests.merchants"
    default_auto_field = "django.db.models.BigAutoField"
