"""Reading a callback's body and headers (``django_invoices.callbacks``): what it is
about, what is kept of it, and how the same news is recognised again. Pure functions,
no database."""

import pytest

from django_invoices.callbacks import (
    MalformedCallback,
    ParsedCallback,
    body_sha256,
    parse,
    safe_headers,
    text_of,
)

INVOICE_ID = "506c695a-4187-4463-ac41-07dc0782cb0e"


# -- what is refused, and in which words (the event's outcome for staff) -----------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"event":"Invoice","data":{"id":"a\\u0000"}}', "body contains NUL characters"),
        (b"not json", "body is not valid JSON"),
        (b'{"event":"Invoice"', "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not valid JSON"),
        (b'["Invoice"]', "body is not a JSON object"),
        (b'"Invoice"', "body is not a JSON object"),
        (b"null", "body is not a JSON object"),
    ],
    ids=["nul", "no-json", "cut-short", "not-utf8", "a-list", "a-string", "null"],
)
def test_a_body_that_is_no_json_object_is_refused_with_its_reason(body, reason):
    with pytest.raises(MalformedCallback) as refused:
        parse(body)
    assert str(refused.value) == reason


def test_json_nested_beyond_the_limit_is_refused_as_unusable():
    with pytest.raises(MalformedCallback, match=r"^body is not usable JSON: "):
        parse(b"[" * 200_000 + b"]" * 200_000)


def test_an_object_without_a_data_object_is_read_as_no_data():
    assert parse(b'{"event":"Invoice"}') == ParsedCallback(event="Invoice", data={})
    assert parse(b'{"event":"Invoice","data":[1]}') == ParsedCallback(event="Invoice", data={})
    assert parse(b'{"data":{"id":"x"}}') == ParsedCallback(event="", data={"id": "x"})


# -- what a callback is about ------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("Invoice", "invoice"),
        ("InvoiceStatus", "invoice"),
        ("InvoiceStatusChanged", "invoice"),
        ("InvoiceDeposit", "deposit"),
        ("Withdraw", "unknown"),
        ("invoice", "unknown"),  # names are case-sensitive
        ("", "unknown"),
    ],
)
def test_the_kind_of_a_callback_follows_its_event_name(event, kind):
    assert ParsedCallback(event=event, data={}).kind == kind


def test_the_invoice_a_body_names_besides_its_own_id_is_its_invoice_id_camel_case_first():
    invoice = ParsedCallback("Invoice", {"id": INVOICE_ID, "invoiceId": "other"})
    assert (invoice.object_id, invoice.referenced_invoice_id) == (INVOICE_ID, "other")

    deposit = ParsedCallback("InvoiceDeposit", {"id": "tx-1", "invoiceId": INVOICE_ID})
    assert (deposit.object_id, deposit.referenced_invoice_id) == ("tx-1", INVOICE_ID)

    snake = ParsedCallback("InvoiceDeposit", {"id": "tx-1", "invoice_id": INVOICE_ID})
    assert snake.referenced_invoice_id == INVOICE_ID

    both = ParsedCallback("InvoiceDeposit", {"invoiceId": "camel", "invoice_id": "snake"})
    assert both.referenced_invoice_id == "camel"

    neither = ParsedCallback("InvoiceDeposit", {"id": "tx-1"})
    assert neither.referenced_invoice_id == ""


def test_fields_of_a_hostile_body_are_read_as_short_text_or_nothing():
    parsed = ParsedCallback(
        "Invoice",
        {
            "id": "i" * 100,
            "status": ["PAID"],
            "externalOrderId": 42,
            "invoiceId": {"id": INVOICE_ID},
        },
    )
    assert parsed.object_id == "i" * 64
    assert parsed.status == ""
    assert parsed.external_order_id == "42"
    assert parsed.referenced_invoice_id == ""
    assert ParsedCallback("Invoice", {"status": None}).status == ""


def test_text_of_cuts_scalars_to_the_limit_and_drops_objects():
    assert text_of("x" * 100) == "x" * 64
    assert text_of("x" * 100, limit=10) == "x" * 10
    assert text_of(12.5) == "12.5"
    assert text_of(False) == "False"
    assert text_of(0) == "0"
    assert text_of(None) == text_of([]) == text_of({}) == ""


# -- the same news twice ------------------------------------------------------------------


def test_the_dedupe_key_is_the_sha256_of_event_id_status_and_update_time():
    # Literal vectors, from: sha256("\x1f".join((event, id, status, updatedAt)))
    paid = ParsedCallback(
        "Invoice", {"id": INVOICE_ID, "status": "PAID", "updatedAt": "2026-11-25T10:05:00Z"}
    )
    assert paid.dedupe_key == "017e22542e2b7854c622c0fbacb922ae499c7cfca7a62cf88e5d349c34beccf9"
    deposit = ParsedCallback("InvoiceDeposit", {"id": "tx-1", "status": "Processed"})
    assert deposit.dedupe_key == (
        "6b9be3eb85685c2388a2cb3e6c3907638ee7aee1d8b7b669715dda139076c50b"
    )


@pytest.mark.parametrize(
    "spelling", [INVOICE_ID.upper(), "{" + INVOICE_ID + "}", "urn:uuid:" + INVOICE_ID]
)
def test_an_invoice_id_in_another_spelling_is_the_same_news(spelling):
    news = {"status": "PAID", "updatedAt": "2026-11-25T10:05:00Z"}
    same = ParsedCallback("Invoice", {"id": spelling, **news})
    assert same.dedupe_key == ParsedCallback("Invoice", {"id": INVOICE_ID, **news}).dedupe_key


def test_ids_that_are_no_uuid_are_compared_as_they_are():
    news = {"status": "Processed"}
    lower = ParsedCallback("InvoiceDeposit", {"id": "tx-a", **news}).dedupe_key
    upper = ParsedCallback("InvoiceDeposit", {"id": "TX-A", **news}).dedupe_key
    assert lower != upper


# -- what is kept of the headers -----------------------------------------------------------


def test_only_the_listed_headers_are_kept_cut_short_and_the_signature_only_as_present():
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "u" * 300,
        "X-Forwarded-For": "203.0.113.7",
        "Cookie": "session=secret",
        "kun-signature": "a" * 96,
    }
    assert safe_headers(headers) == {
        "Content-Type": "application/json",
        "User-Agent": "u" * 256,
        "X-Forwarded-For": "203.0.113.7",
        "kun-signature": "present",
    }


@pytest.mark.parametrize("headers", [{}, {"kun-signature": ""}], ids=["missing", "empty"])
def test_a_missing_or_empty_signature_is_kept_as_absent(headers):
    assert safe_headers(headers) == {"kun-signature": "absent"}


def test_the_body_hash_is_the_sha256_of_the_bytes():
    assert body_sha256(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_the_signature_is_never_kept_whatever_its_spelling_in_a_real_request():
    """The view passes Django's case-insensitive ``request.headers``: a header list that
    named the signature in any spelling would keep it whole."""
    from django.http.request import HttpHeaders

    headers = HttpHeaders(
        {
            "CONTENT_TYPE": "application/json",
            "HTTP_KUN_SIGNATURE": "a" * 96,
            "HTTP_X_REAL_IP": "203.0.113.9",
        }
    )
    assert safe_headers(headers) == {
        "Content-Type": "application/json",
        "X-Real-Ip": "203.0.113.9",
        "kun-signature": "present",
    }
