from django.urls import path

from . import views

app_name = "shop"
urlpatterns = [
    path("", views.home, name="home"),
    path("buy/<int:product_id>/", views.checkout, name="checkout"),
    path("order/<str:reference>/", views.order, name="order"),
    path("order/<str:reference>/pay/", views.pay, name="pay"),
]
