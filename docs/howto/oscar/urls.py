# The Oscar how-to's myshop/urls.py, whole (docs/howto/oscar.rst; run by
# tests/contrib/oscar/test_howto.py).

# [urls]
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # KUNA Pay's callbacks and the buyer's way back from the payment page.
    path("invoices/", include("django_invoices.urls")),
    # The buyer's page of an order waiting for its payment.
    path("kunapay/", include("django_invoices.contrib.oscar.urls")),
]

if "django_invoices.sandbox" in settings.INSTALLED_APPS:
    urlpatterns.append(path("sandbox/", include("django_invoices.sandbox.urls")))

# Oscar's own URLs (shop, checkout, dashboard) last.
urlpatterns.append(path("", include(apps.get_app_config("oscar").urls[0])))
# [end-urls]
