from django.urls import include, path

urlpatterns = [
    path("invoices/", include("django_invoices.urls")),
    path("payments/", include("payments.urls")),
    path("sandbox/", include("django_invoices.sandbox.urls")),
]
