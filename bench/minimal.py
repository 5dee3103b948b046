"""The baselines: callback integrations a shop could write by hand in a few lines.

``minimal_callback``: verify the HMAC, insert a log row, lock the invoice's row and
update it. No dedupe, no status rules, no signals, no provider read: what any receiver
must do at least. ``minimal_reread_callback``: the same, with the invoice read back from
the provider before it is written, as a receiver that trusts no callback body does.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import requests
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from django_invoices.models import CallbackEvent, Invoice

# One session per process, reused across requests: the connection to the provider
# stays open, as a careful hand-written integration keeps it.
session = requests.Session()


@csrf_exempt
def minimal_callback(request: HttpRequest) -> JsonResponse:
    body = request.body
    key = settings.DJANGO_INVOICES["PRIVATE_KEY"].encode()
    expected = hmac.new(key, body, hashlib.sha384).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("kun-signature", "")):
        return JsonResponse({"error": "bad signature"}, status=401)
    payload = json.loads(body)
    data = payload["data"]
    with transaction.atomic():
        CallbackEvent.objects.create(
            body=body.decode(),
            body_sha256=hashlib.sha256(body).hexdigest(),
            verified=True,
            event_name=payload["event"],
            object_id=data["id"],
            state=CallbackEvent.State.APPLIED,
        )
        invoice = Invoice.objects.select_for_update().get(provider_id=data["id"])
        invoice.provider_status = data["status"]
        invoice.status = "paid"
        invoice.save(update_fields=["provider_status", "status", "updated_at"])
    return JsonResponse({"state": "applied"})


@csrf_exempt
def minimal_reread_callback(request: HttpRequest) -> JsonResponse:
    """The peer of the app's in-request mode (``TASKS`` unset): the callback is only
    news that something changed, so the invoice is read from the provider with
    ``requests`` and written from that read, not from the body. No dedupe, no status
    rules, no signals, no read budget, no retries."""
    body = request.body
    key = settings.DJANGO_INVOICES["PRIVATE_KEY"].encode()
    expected = hmac.new(key, body, hashlib.sha384).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("kun-signature", "")):
        return JsonResponse({"error": "bad signature"}, status=401)
    payload = json.loads(body)
    invoice_id = payload["data"]["id"]
    CallbackEvent.objects.create(
        body=body.decode(),
        body_sha256=hashlib.sha256(body).hexdigest(),
        verified=True,
        event_name=payload["event"],
        object_id=invoice_id,
        state=CallbackEvent.State.APPLIED,
    )
    response = session.get(
        f"{settings.DJANGO_INVOICES['API_URL']}/v1/invoice/{invoice_id}",
        headers={"api-key": settings.DJANGO_INVOICES["API_KEY"]},
        timeout=5,
    )
    response.raise_for_status()
    read = response.json()["data"]
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(provider_id=invoice_id)
        invoice.provider_status = read["status"]
        if read["status"] == "PAID":
            invoice.status = "paid"
        invoice.save(update_fields=["provider_status", "status", "updated_at"])
    return JsonResponse({"state": "applied"})
