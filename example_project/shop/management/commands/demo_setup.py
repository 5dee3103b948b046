"""Prepare the demo shop: products and an admin user (printed on the console)."""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from shop.models import Product

PRODUCTS = [
    ("Coffee beans, 1 kg", "Single-origin, roasted last week.", "24.90"),
    ("Tea sampler", "Twelve loose-leaf teas.", "18.50"),
    ("Ceramic mug", "Hand-made, holds 350 ml.", "12.00"),
    ("Pour-over kit", "Dripper, filters and a scale.", "59.00"),
]
USERNAME = "admin"
PASSWORD = "admin"  # a throw-away demo database on 127.0.0.1 only


class Command(BaseCommand):
    help = "Create the demo products and the demo admin user (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be created; create nothing."
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        if dry_run:
            missing = [n for n, _d, _p in PRODUCTS if not Product.objects.filter(name=n).exists()]
            for name in missing:
                self.stdout.write(f"would create product {name!r}")
            if not get_user_model().objects.filter(username=USERNAME).exists():
                self.stdout.write(f"would create the admin user {USERNAME!r}")
            self.stdout.write("Dry run: nothing was created.")
            return
        for name, description, price in PRODUCTS:
            Product.objects.get_or_create(
                name=name, defaults={"description": description, "price": Decimal(price)}
            )
        user_model = get_user_model()
        if not user_model.objects.filter(username=USERNAME).exists():
            user_model.objects.create_superuser(USERNAME, "admin@example.com", PASSWORD)
        # Where the shop really is: the URL the settings build every link from.
        base = settings.SHOP_BASE_URL.rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Demo shop ready:",
                    f"  shop:  {base}/",
                    f"  admin: {base}/admin/  (user {USERNAME!r}, password {PASSWORD!r})",
                    "",
                ]
            )
        )
