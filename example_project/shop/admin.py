from django.contrib import admin

from .models import Product, Purchase


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "price", "asset")


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = ("pk", "product", "email", "shipped", "created_at")
    list_filter = ("shipped",)
