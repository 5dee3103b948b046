from decimal import Decimal

from django.db import models


class Product(models.Model):
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    asset = models.CharField(max_length=16, default="EUR")

    class Meta:
        ordering = ("pk",)

    def __str__(self) -> str:
        return self.name


class Purchase(models.Model):
    """The shop's own order; django-invoices' Order points at it (Order.shop_object)."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT)
    email = models.EmailField()
    shipped = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Purchase {self.pk}: {self.product}"

    @property
    def amount(self) -> Decimal:
        return self.product.price
