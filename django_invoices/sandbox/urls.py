"""Mount with ``path("sandbox/", include("django_invoices.sandbox.urls"))`` and set
``API_URL`` to the absolute URL of that prefix, e.g. ``http://127.0.0.1:8000/sandbox``."""

from django.urls import path

from . import api, views

app_name = "invoices_sandbox"

urlpatterns = [
    path("v1/invoice/assets", api.assets, name="assets"),
    path("v1/invoice/questionnaire", api.questionnaire, name="questionnaire"),
    path("v1/invoice", api.invoices, name="invoices"),
    path("v1/invoice/<str:invoice_id>", api.invoice, name="invoice"),
    path("v1/transaction/<str:transaction_id>", api.transaction, name="transaction"),
    path("pay/<uuid:invoice_id>/", views.payment_page, name="pay"),
]
