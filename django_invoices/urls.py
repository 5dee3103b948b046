from django.urls import path

from . import views

app_name = "django_invoices"

urlpatterns = [
    path("callback/<slug:account>/", views.callback, name="callback"),
    path("return/", views.payment_return, name="return"),
]
