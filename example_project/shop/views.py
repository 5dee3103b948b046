from uuid import uuid4

from django.contrib.sessions.backends.base import SessionBase
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

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


# [start-buyer]
# An order's reference is no secret: it is in its page's address, in the link KUNA Pay
# sends the customer back with, in emails. Its pages and its pay link answer only the
# buyer: the browser that placed the order (its session remembers the reference), or
# whoever holds the order's signed link (order_link(), e.g. in the confirmation email).
# Anyone else gets a 404, as for an order that does not exist.
SESSION_KEY = "shop_orders"
REMEMBERED = 20  # the session keeps the references of the last 20 orders
LINK_SALT = "shop.order-link"  # a token for this, and nothing else signed with the key
LINK_MAX_AGE = 60 * 60 * 24 * 30  # seconds: a signed link works for 30 days


def remember(session: SessionBase, order: Order) -> None:
    """This browser placed (or holds the link of) the order: it may see and pay it."""
    known = [ref for ref in session.get(SESSION_KEY, []) if ref != order.external_order_id]
    session[SESSION_KEY] = [*known, order.external_order_id][-REMEMBERED:]


def order_link(order: Order) -> str:
    """The order's page with a signed token: the buyer's way back from another browser."""
    token = signing.dumps(order.external_order_id, salt=LINK_SALT)
    return f"{reverse('shop:order', args=[order.external_order_id])}?token={token}"


def buyers_order(request: HttpRequest, reference: str) -> Order:
    """The order ``reference`` names, if the request comes from its buyer; else 404."""
    known = reference in request.session.get(SESSION_KEY, [])
    if not known:
        token = request.GET.get("token") or request.POST.get("token") or ""
        try:
            signed = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE)
        except signing.BadSignature:  # tampered, another salt's, expired, or none
            raise Http404 from None
        if signed != reference:  # another order's token
            raise Http404
    found = get_object_or_404(Order, external_order_id=reference)
    if not known:
        remember(request.session, found)  # the link's holder goes on in this browser
    return found


# [end-buyer]


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
        remember(request.session, order)  # this browser may see and pay it
        # If KUNA Pay cannot be reached, the customer lands on the order's page, whose
        # button tries this same order again (no second order is made).
        return start_payment(request, order, error_url=order_url)
    return render(request, "shop/checkout.html", {"product": product, "form": form})


def order(request: HttpRequest, reference: str) -> HttpResponse:
    """The order's page, for its buyer only (buyers_order)."""
    found = buyers_order(request, reference)
    purchase = found.shop_object if isinstance(found.shop_object, Purchase) else None
    return render(
        request,
        "shop/order.html",
        {
            "order": found,
            "purchase": purchase,
            "payable": found.status in PAYABLE,
            "link": request.build_absolute_uri(order_link(found)),
        },
    )


# [start-pay]
@require_http_methods(["GET", "POST"])
def pay(request: HttpRequest, reference: str) -> HttpResponse:
    """Pay an order (again): its open invoice, or a new one once the last has ended.

    The buyer only: to anyone else who knows the reference this is a 404 (GET or POST),
    never the payment page, whose address carries the invoice id; with both ids the
    return page and the status API tell the order's state to whoever asks.
    """
    found = buyers_order(request, reference)
    if request.method == "GET":  # a GET changes nothing: the order's page has the button
        return HttpResponseRedirect(order_url(found))
    return start_payment(request, found, error_url=order_url)


# [end-pay]
