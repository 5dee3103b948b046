# [views]
import uuid
from decimal import Decimal

from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from django_invoices.checkout import start_payment
from django_invoices.models import Order

BUY_FORM = """<form method="post">
<input type="hidden" name="csrfmiddlewaretoken" value="{}">
<button>Pay 42.50 EUR</button>
</form>"""


@require_http_methods(["GET", "POST"])
def checkout(request):
    if request.method == "GET":
        return HttpResponse(format_html(BUY_FORM, get_token(request)))
    order = Order.objects.create(
        # Sent to KUNA Pay as externalOrderId: unique per order.
        external_order_id=f"A-{uuid.uuid4().hex[:12]}",
        amount=Decimal("42.50"),
        asset="EUR",
    )
    # Creates the invoice and sends the customer to its payment page; if KUNA Pay
    # fails, the customer gets a page that says so (and the log says why).
    return start_payment(request, order)


# [end-views]
