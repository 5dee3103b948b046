from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from django_invoices.models import Order


def home(request: HttpRequest) -> HttpResponse:
    orders = Order.objects.all()[:20]
    return render(request, "shop/home.html", {"orders": orders})
