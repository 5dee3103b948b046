from uuid import uuid4

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from django_invoices.checkout import start_payment
from django_invoices.models import Order

from .forms import CheckoutForm
from .models import Product, Purchase


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/home.html", {"products": Product.objects.all()})


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=product_id)
    form = CheckoutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        purchase = Purchase.objects.create(product=product, email=form.cleaned_data["email"])
        order = Order.objects.create(
            external_order_id=f"shop-{purchase.pk}-{uuid4().hex[:8]}",
            amount=product.price,
            asset=product.asset,
            description=product.name,
            email=purchase.email,
            shop_object=purchase,
        )
        return start_payment(request, order, error_url="shop:home")
    return render(request, "shop/checkout.html", {"product": product, "form": form})
