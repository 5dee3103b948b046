"""The admin indents stored JSON only while that stays small: a forged body nested
800 deep shows as the raw text, cut, on a page of a few dozen kilobytes."""

import json

import pytest
from django.urls import reverse

from django_invoices.admin import display
from django_invoices.models import CallbackEvent, Invoice, Order

# The review's body: 40 arrays nested 800 deep, 64 KB in all.
NESTED = "[" * 800 + "]" * 800
HOSTILE = "[" + ",".join([NESTED] * 40) + "]"


def test_the_hostile_body_is_the_reviews_64_kb():
    assert 63_000 < len(HOSTILE) <= 64 * 1024
    assert json.loads(HOSTILE)  # valid JSON: only its shape is hostile


def test_a_64_kb_body_nested_800_deep_renders_in_a_small_page(admin_client):
    headers = {"x-nested": json.loads(NESTED[:1600])}
    event = CallbackEvent.objects.create(
        body=HOSTILE, body_sha256="0" * 64, headers=headers, state="rejected"
    )
    url = reverse("admin:django_invoices_callbackevent_change", args=[event.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert len(page) < 120_000  # was 51.5 MB
    assert f"the first {display.RAW_MAX_CHARS} characters, as stored" in page
    assert HOSTILE[: display.RAW_MAX_CHARS] in page  # the raw text, not re-indented
    assert HOSTILE[: display.RAW_MAX_CHARS + 1] not in page
    assert "\n  [" not in page  # no indentation of it anywhere
    assert "shown as stored" in page  # the headers: whole, compact, not indented


def test_a_deep_raw_payload_on_the_invoice_page_is_bounded_too(admin_client):
    order = Order.objects.create(external_order_id="A-1", amount="1", asset="EUR")
    deep = json.loads("[" * 500 + "]" * 500)
    invoice = Invoice.objects.create(
        provider_id="506c695a-4187-4463-ac41-07dc0782cb0e",
        order=order,
        invoice_amount="1",
        invoice_asset="EUR",
        raw_payload={"data": deep},
    )
    page = admin_client.get(reverse("admin:django_invoices_invoice_change", args=[invoice.pk]))
    assert page.status_code == 200
    assert len(page.content) < 120_000
    assert "shown as stored" in page.content.decode()


def test_ordinary_json_is_indented_as_before():
    data = {"b": [1, {"c": None}], "a": "Чай <b>", "e": {}, "f": []}
    expected = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    assert display.encode(data, indent=2, max_depth=20, max_chars=10_000) == (expected, True)
    compact = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert display.encode(data, indent=None, max_depth=None, max_chars=10_000) == (compact, True)
    html = str(display.pretty_json(data))
    assert "&quot;a&quot;: &quot;Чай &lt;b&gt;&quot;" in html  # escaped, not markup
    assert "as stored" not in html


def test_values_json_cannot_write_are_shown_as_text():
    from decimal import Decimal

    text, whole = display.encode({"x": Decimal("1.50")}, indent=2, max_depth=5, max_chars=99)
    assert (text, whole) == ('{\n  "x": "1.50"\n}', True)


@pytest.mark.parametrize(
    ("depth", "indented"), [(display.PRETTY_MAX_DEPTH, True), (display.PRETTY_MAX_DEPTH + 1, False)]
)
def test_indenting_stops_past_the_depth_bound(depth, indented):
    body = "[" * depth + "1" + "]" * depth  # arrays at depths 0 .. depth - 1
    html = str(display.pretty_body(body))
    assert ("as stored" not in html) is indented
    assert ("\n" + " " * 2 * depth + "1" in html) is indented


def test_indenting_stops_past_the_size_bound_and_says_how_much_is_shown():
    flat = list(range(display.PRETTY_MAX_CHARS))  # wide, not deep
    body = json.dumps(flat)
    html = str(display.pretty_body(body))
    assert f"the first {display.RAW_MAX_CHARS} characters" in html
    assert body[: display.RAW_MAX_CHARS] in html
    small = json.dumps(list(range(5000)))  # fits raw, but not once indented
    html = str(display.pretty_body(small))
    assert "shown as stored" in html and small in html
    text, whole = display.encode(flat, indent=None, max_depth=None, max_chars=100)
    assert (len(text), whole) == (100, False)


def test_bodies_that_are_not_json_show_as_received():
    assert "&lt;script&gt;" in str(display.pretty_body("<script>x"))
    assert str(display.pretty_body('"\\ud800"')).count("\\ud800") == 1


def test_text_shown_as_stored_says_so_above_it():
    html = str(display.pretty_body(json.dumps(list(range(5000)))))
    assert html.startswith(
        '<p class="help">Too large or too deeply nested to indent: shown as stored.</p><pre '
    )
    cut = str(display.pretty_body("x" * (display.RAW_MAX_CHARS + 1)))
    assert cut.startswith(
        f'<p class="help">Too large or too deeply nested to indent: the first '
        f"{display.RAW_MAX_CHARS} characters, as stored.</p><pre "
    )


def test_a_body_of_exactly_the_size_bound_is_still_indented():
    assert display.PRETTY_MAX_CHARS == display.RAW_MAX_CHARS
    body = json.dumps("a" * (display.PRETTY_MAX_CHARS - 2))  # a JSON string, as long as allowed
    assert len(body) == display.PRETTY_MAX_CHARS
    html = str(display.pretty_body(body))
    assert html.startswith("<pre ")
    assert "as stored" not in html


def test_a_body_of_exactly_the_raw_bound_is_shown_whole_not_cut():
    numbers = json.dumps(list(range(6000)))[: display.RAW_MAX_CHARS - 1]
    body = numbers[: numbers.rindex(",")] + "]"  # a list of numbers, too large indented
    body = body[:-1] + " " * (display.RAW_MAX_CHARS - len(body)) + "]"
    assert len(body) == display.RAW_MAX_CHARS
    html = str(display.pretty_body(body))
    assert "shown as stored" in html
    assert "characters, as stored" not in html
    assert body in html


def test_a_cut_keeps_the_text_written_before_the_bound():
    flat = list(range(100))
    compact = json.dumps(flat, separators=(",", ":"))
    assert display.encode(flat, indent=None, max_depth=None, max_chars=20) == (compact[:20], False)
    # Past the depth bound: what came before the container it would not open.
    assert display.encode([1, [2, [3]]], indent=None, max_depth=2, max_chars=99) == (
        "[1,[2,",
        False,
    )


def test_keys_of_several_types_are_sorted_as_text():
    data = {"b": 1, 2: "x", "a": None}  # a dict built in Python, not read from JSON
    assert display.encode(data, indent=None, max_depth=None, max_chars=99) == (
        '{"2":"x","a":null,"b":1}',
        True,
    )
