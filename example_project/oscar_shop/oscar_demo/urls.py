from django.apps import apps
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("invoices/", include("django_invoices.urls")),
    path("kunapay/", include("django_invoices.contrib.oscar.urls")),
    path("sandbox/", include("django_invoices.sandbox.urls")),
    # The demo's front page lists its products (Oscar's browse pages need a search
    # engine; Haystack's simple backend only searches).
    path("", views.home, name="home"),
    path("", include(apps.get_app_config("oscar").urls[0])),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
