# [urls]
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("checkout/", views.checkout, name="checkout"),
    path("invoices/", include("django_invoices.urls")),
]

if "django_invoices.sandbox" in settings.INSTALLED_APPS:
    urlpatterns.append(path("sandbox/", include("django_invoices.sandbox.urls")))
# [end-urls]
