"""``path("kunapay/", include("django_invoices.contrib.oscar.urls"))``, before Oscar's
own URLs: the buyer's page of their order's payment (``RETURN_URLS`` points at it)."""

from django.urls import path

from . import views

app_name = "django_invoices_oscar"

urlpatterns = [
    path("payment/", views.waiting_page, name="waiting"),
    path("payment/pay/", views.pay_again, name="pay"),
]
