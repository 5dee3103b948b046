# [views]
from decimal import Decimal

from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods
from payments import PaymentError, RedirectNeeded

from .models import Payment

BUY_FORM = """<form method="post">
<input type="hidden" name="csrfmiddlewaretoken" value="{}">
<button>Pay 42.50 EUR</button>
</form>"""


@require_http_methods(["GET", "POST"])
def checkout(request):
    if request.method == "GET":
        return HttpResponse(format_html(BUY_FORM, get_token(request)))
    payment = Payment.objects.create(
        variant="kunapay",
        description="A pot of tea",
        total=Decimal("42.50"),
        currency="EUR",
    )
    try:
        # Creates the KUNA Pay invoice and always raises RedirectNeeded: to the
        # invoice's payment page.
        payment.get_form()
    except RedirectNeeded as to:
        return redirect(str(to))
    except PaymentError as error:
        # KUNA Pay could not be reached: the Payment stays "waiting"; try again later.
        return HttpResponse(str(error), status=503)


def result(request, pk):
    payment = get_object_or_404(Payment, pk=pk)
    return HttpResponse(
        format_html(
            "<p>Payment {}: {} ({} {} received)</p>",
            payment.pk,
            payment.status,
            payment.captured_amount,
            payment.currency,
        )
    )


# [end-views]
