from django.apps import apps
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("invoices/", include("django_invoices.urls")),
    path("sandbox/", include("django_invoices.sandbox.urls")),
    path("kunapay/", include("django_invoices.contrib.oscar.urls")),
    path("", include(apps.get_app_config("oscar").urls[0])),
]
