from uuid import uuid4

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from django_invoices.checkout import start_payment
from django_invoices.models import Order
from django_invoices.statuses import OrderStatus

from .forms import CheckoutForm
from .models import Product, Purchase

# Orders a customer may (still, or again) pay: a new invoice replaces an expired,
# declined or cancelled one. A paid order is done; a partly paid one is settled by hand.
PAYABLE = (
    OrderStatus.NEW,
    OrderStatus.AWAITING_PAYMENT,
    OrderStatus.EXPIRED,
    OrderStatus.CANCELLED,
    OrderStatus.FAILED,
)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/home.html", {"products": Product.objects.all()})


def order_url(order: Order) -> str:
    """The customer's page of an order: where a failed checkout sends them back to."""
    return reverse("shop:order", args=[order.external_order_id])


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
        # If KUNA Pay cannot be reached, the customer lands on the order's page, whose
        # button tries this same order again (no second order is made).
        return start_payment(request, order, error_url=order_url)
    return render(request, "shop/checkout.html", {"product": product, "form": form})


def order(request: HttpRequest, reference: str) -> HttpResponse:
    """The order's page. Its address carries the order's random reference, as the link
    KUNA Pay sends the customer back with does; a real shop would also check the user."""
    found = get_object_or_404(Order, external_order_id=reference)
    purchase = found.shop_object if isinstance(found.shop_object, Purchase) else None
    return render(
        request,
        "shop/order.html",
        {"order": found, "purchase": purchase, "payable": found.status in PAYABLE},
    )


@require_POST
def pay(request: HttpRequest, reference: str) -> HttpResponse:
    """Pay an order (again): its open invoice, or a new one once the last has ended."""
    found = get_object_or_404(Order, external_order_id=reference)
    return start_payment(request, found, error_url=order_url)
