from django.urls import path

from . import views

app_name = "shop"
urlpatterns = [
    path("", views.home, name="home"),
    path("buy/<int:product_id>/", views.checkout, name="checkout"),
]
