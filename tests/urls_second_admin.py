"""The test project's URLs plus a second admin site ("ops") with the app's admin pages,
as a shop that keeps its payment pages apart from the main admin would have."""

from django.contrib import admin
from django.urls import path

from .urls import urlpatterns as project_urlpatterns

ops = admin.AdminSite(name="ops")
for model, model_admin in list(admin.site._registry.items()):
    if model._meta.app_label in ("auth", "django_invoices"):
        ops.register(model, type(model_admin))

urlpatterns = [path("ops/", ops.urls), *project_urlpatterns]
