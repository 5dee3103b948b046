# The whole of mysite/urls.py, written by tests/test_guide_testing.py.

# [urls]
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The callback view, where the sandbox (and KUNA Pay) posts callbacks.
    path("invoices/", include("django_invoices.urls")),
]
# [end-urls]
