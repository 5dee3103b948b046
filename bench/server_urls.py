"""URLs of the server bench: the app's (as the tests mount them) and the minimal receiver."""

from django.urls import path

from tests.urls import urlpatterns as app_urls

from .minimal import minimal_callback

urlpatterns = [*app_urls, path("minimal/callback/", minimal_callback)]
