from django.urls import path

from . import views
from .api import schema as api_schema
from .api import views as api_views

app_name = "django_invoices"

urlpatterns = [
    path("callback/<slug:account>/", views.callback, name="callback"),
    path("return/", views.payment_return, name="return"),
    # REST API
    path("api/assets/", api_views.AssetListView.as_view(), name="api-assets"),
    path(
        "api/questionnaire/",
        api_views.QuestionnaireFieldListView.as_view(),
        name="api-questionnaire",
    ),
    path("api/invoices/", api_views.InvoiceCreateView.as_view(), name="api-invoice-create"),
    path("api/invoices/status/", api_views.InvoiceStatusView.as_view(), name="api-invoice-status"),
]

if api_schema.AVAILABLE:
    urlpatterns.append(path("api/schema/", api_schema.schema_view(), name="api-schema"))
