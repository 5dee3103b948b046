"""The errors the app raises on purpose, as a shop's code catches them."""

from django_invoices.exceptions import InvoiceCreationError, InvoicesError, KunaPayError, NotFound


def test_an_invoice_creation_error_without_details_names_no_status():
    error = InvoiceCreationError()
    assert isinstance(error, InvoicesError)
    assert str(error) == ""
    assert error.order_status == ""
    refused = InvoiceCreationError("Order A-1 is already paid", order_status="paid")
    assert (str(refused), refused.order_status) == ("Order A-1 is already paid", "paid")


def test_a_provider_error_carries_what_the_provider_said_and_nothing_by_default():
    bare = KunaPayError("connection refused")
    assert str(bare) == bare.message == "connection refused"
    assert bare.args == ("connection refused",)  # as repr() and the logs show it
    assert (bare.status_code, bare.errors, bare.codes) == (None, [], [])
    assert (bare.response_text, bare.ambiguous) == ("", False)

    refused = NotFound(
        "no such invoice",
        status_code=404,
        errors=[{"code": "NOT_FOUND", "message": "no such invoice"}, "not a dict"],
        response_text='{"errors": []}',
        ambiguous=True,
    )
    assert str(refused) == "HTTP 404: no such invoice"
    assert refused.codes == ["NOT_FOUND"]
    assert (refused.response_text, refused.ambiguous) == ('{"errors": []}', True)
