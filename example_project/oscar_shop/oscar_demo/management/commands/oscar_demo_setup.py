"""Prepare the Oscar demo shop: products with stock, shipping countries, an admin."""

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import oscar
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from oscar.apps.catalogue.categories import create_from_breadcrumbs
from oscar.core.loading import get_model

Country = get_model("address", "Country")
Partner = get_model("partner", "Partner")
Product = get_model("catalogue", "Product")
ProductCategory = get_model("catalogue", "ProductCategory")
ProductClass = get_model("catalogue", "ProductClass")
StockRecord = get_model("partner", "StockRecord")

PRODUCTS = [
    ("COFFEE-1KG", "Coffee beans, 1 kg", "Single-origin, roasted last week.", "24.90"),
    ("TEA-SAMPLER", "Tea sampler", "Twelve loose-leaf teas.", "18.50"),
    ("POUR-OVER", "Pour-over kit", "Dripper, filters and a scale.", "59.00"),
]
COUNTRIES = [
    ("UA", "UKR", "804", "Ukraine"),
    ("DE", "DEU", "276", "Germany"),
    ("PL", "POL", "616", "Poland"),
]
USERNAME = "admin"
EMAIL = "admin@example.com"
PASSWORD = "admin"  # a throw-away demo database on 127.0.0.1 only


class Command(BaseCommand):
    help = "Create the Oscar demo's products, shipping countries and admin user (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        coffee, _ = ProductClass.objects.get_or_create(
            name="Coffee & tea", defaults={"requires_shipping": True, "track_stock": True}
        )
        partner, _ = Partner.objects.get_or_create(name="Example Roastery")
        category = create_from_breadcrumbs("Coffee & tea")
        for upc, title, description, price in PRODUCTS:
            product, created = Product.objects.get_or_create(
                upc=upc,
                defaults={"title": title, "description": description, "product_class": coffee},
            )
            if created:
                ProductCategory.objects.create(product=product, category=category)
            StockRecord.objects.get_or_create(
                product=product,
                partner=partner,
                defaults={
                    "partner_sku": upc,
                    "price": Decimal(price),
                    "price_currency": "EUR",
                    "num_in_stock": 50,
                },
            )
        for alpha2, alpha3, numeric, name in COUNTRIES:
            Country.objects.update_or_create(
                iso_3166_1_a2=alpha2,
                defaults={
                    "iso_3166_1_a3": alpha3,
                    "iso_3166_1_numeric": numeric,
                    "printable_name": name,
                    "name": name,
                    "is_shipping_country": True,
                },
            )
        # Oscar's placeholder for products without pictures, which sorl-thumbnail
        # resizes from MEDIA_ROOT.
        media = Path(settings.MEDIA_ROOT)
        media.mkdir(parents=True, exist_ok=True)
        images = Path(oscar.__file__).parent / "static" / "oscar" / "img"
        shutil.copy(images / "image_not_found.jpg", media / settings.OSCAR_MISSING_IMAGE_URL)
        users = get_user_model()
        if not users.objects.filter(username=USERNAME).exists():
            users.objects.create_superuser(USERNAME, EMAIL, PASSWORD)
        base = settings.SHOP_BASE_URL.rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Oscar demo shop ready:",
                    f"  shop:      {base}/",
                    f"  dashboard: {base}/dashboard/  (email {EMAIL!r}, password {PASSWORD!r})",
                    f"  admin:     {base}/admin/  (user {USERNAME!r}, password {PASSWORD!r})",
                    "",
                ]
            )
        )
