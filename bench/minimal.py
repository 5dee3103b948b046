"""The baseline: a callback integration a shop could write by hand in a few lines.

Verify the HMAC, insert a log row, lock the invoice's row and update it. No dedupe, no
status rules, no signals, no provider read: what any receiver must do at least.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from django_invoices.models import CallbackEvent, Invoice


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
