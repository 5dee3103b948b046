from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from oscar.core.loading import get_model

Product = get_model("catalogue", "Product")


def home(request: HttpRequest) -> HttpResponse:
    products = Product.objects.browsable().order_by("title")
    return render(request, "oscar_demo/home.html", {"products": products})
