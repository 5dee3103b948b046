from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("invoices/", include("django_invoices.urls")),
    path("sandbox/", include("django_invoices.sandbox.urls")),
    path("", include("shop.urls")),
]
