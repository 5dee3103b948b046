# [urls]
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("checkout/", views.checkout, name="checkout"),
    path("paid/<int:pk>/", views.result, name="paid"),
    path("not-paid/<int:pk>/", views.result, name="not-paid"),
    # KUNA Pay's callbacks, and the admin's order pages.
    path("invoices/", include("django_invoices.urls")),
    # Where the buyer comes back from KUNA Pay's payment page.
    path("payments/", include("payments.urls")),
]

if "django_invoices.sandbox" in settings.INSTALLED_APPS:
    urlpatterns.append(path("sandbox/", include("django_invoices.sandbox.urls")))
# [end-urls]
