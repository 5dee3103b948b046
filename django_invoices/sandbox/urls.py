"""Mount with ``path("sandbox/", include("django_invoices.sandbox.urls"))`` and set
``API_URL`` to the absolute URL of that prefix, e.g. ``http://127.0.0.1:8000/sandbox``.
The URLs answer only while ``DEBUG`` is on, or when ``DJANGO_INVOICES_SANDBOX`` enables
them on purpose (``conf.refusal``); otherwise each one is a 404."""

from django.urls import path

from . import api, gate, views

app_name = "invoices_sandbox"

urlpatterns = [
    path("v1/invoice/assets", api.assets, name="assets"),
    path("v1/invoice/questionnaire", api.questionnaire, name="questionnaire"),
    path("v1/invoice", api.invoices, name="invoices"),
    path("v1/invoice/<str:invoice_id>", api.invoice, name="invoice"),
    path("v1/transaction/<str:transaction_id>", api.transaction, name="transaction"),
    path("pay/<uuid:invoice_id>/", views.payment_page, name="pay"),
]
# Unless the sandbox may answer (DEBUG, or enabled on purpose), none of these resolve.
urlpatterns = gate.guard(urlpatterns)
