"""Views the provider and the customer reach. Placeholders until their issues land."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST


@csrf_exempt
@require_POST
def callback(request: HttpRequest, account: str) -> HttpResponse:
    return HttpResponse("callbacks are not handled yet", status=501, content_type="text/plain")


@require_GET
def payment_return(request: HttpRequest) -> HttpResponse:
    return HttpResponse("not implemented yet", status=501, content_type="text/plain")
