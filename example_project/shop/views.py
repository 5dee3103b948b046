from uuid import uuid4

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from django_invoices import services
from django_invoices.exceptions import InvoicesError
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
        try:
            invoice = services.create_invoice(order)
        except InvoicesError:
            messages.error(request, "The payment service is not available; please try again.")
            return redirect("shop:checkout", product_id=product.pk)
        return redirect(invoice.payment_url)
    return render(request, "shop/checkout.html", {"product": product, "form": form})
