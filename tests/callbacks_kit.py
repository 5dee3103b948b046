"""Building and posting signed callbacks, for the tests of the callback view."""

import json

from django_invoices.signing import sign_callback

from .conftest import INVOICE_ID

KEY = "test-private-key"  # tests/settings.py


def invoice_event(status, **data):
    return {"event": "Invoice", "data": {"id": INVOICE_ID, "status": status, **data}}


def deposit_event(tx_id, amount="0.0005", status="Processed", **data):
    return {
        "event": "InvoiceDeposit",
        "data": {
            "id": tx_id,
            "type": "InvoiceDeposit",
            "invoiceId": INVOICE_ID,
            "asset": "BTC",
            "paymentCode": "BTC",
            "amount": amount,
            "fee": "0",
            "processedAmount": amount,
            "status": status,
            **data,
        },
    }


def post(client, payload=None, *, raw=None, key=KEY, signature=None, account="default"):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    if signature is None:
        signature = sign_callback(key, body)
    if signature:
        headers["kun-signature"] = signature
    return client.generic(
        "POST",
        f"/invoices/callback/{account}/",
        data=body,
        content_type="application/json",
        headers=headers,
    )
