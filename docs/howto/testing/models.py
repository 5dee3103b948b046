# The whole of shop/models.py, written by tests/test_guide_testing.py.

# [models]
from decimal import Decimal

from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    asset = models.CharField(max_length=16, default="EUR")

    def __str__(self):
        return self.name


class Purchase(models.Model):
    """The shop's own order; django-invoices' Order points at it (Order.shop_object)."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    email = models.EmailField()
    shipped = models.BooleanField(default=False)

    def __str__(self):
        return f"Purchase {self.pk}: {self.product}"

    @property
    def amount(self) -> Decimal:
        return self.product.price


# [end-models]
