from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "tests.contrib.payments.shop"
    label = "payments_shop"
    default_auto_field = "django.db.models.BigAutoField"
