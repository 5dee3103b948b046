"""Mutants of the admin (``django_invoices/admin/*`` but ``health.py``), ``wire``,
``telemetry``, ``amounts``, ``safejson`` and ``exceptions`` that survived the suite (or
that the mutation run had not reached), each pinned here by what staff or a shop sees.

Pinned: stored JSON just past the indenting bound shows compact and whole, and JSON too
long even compact says it is cut; the health page's charts to the tenth of a unit (bar
and point positions, axis ends, tick labels, titles, the SVG written, durations in the
active language); the provider's invoices and transactions read field by field, with
the error naming a field of the wrong type, and timestamps in UTC whatever the shop's
time zone; amounts written and read; JSON from outside refused as ``ValueError``; the
provider errors' text; spans and the ids of log lines.
"""

import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import translation

from django_invoices import amounts, exceptions, safejson, telemetry, wire
from django_invoices.admin import charts, display
from django_invoices.exceptions import InvalidResponse
from django_invoices.models import CallbackEvent, Invoice, Order

INVOICE_ID = "506c695a-4187-4463-ac41-07dc0782cb0e"


def _invoice_page(admin_client, raw_payload):
    order = Order.objects.create(external_order_id="A-1", amount="1", asset="EUR")
    invoice = Invoice.objects.create(
        provider_id=INVOICE_ID,
        order=order,
        invoice_amount="1",
        invoice_asset="EUR",
        raw_payload=raw_payload,
    )
    response = admin_client.get(reverse("admin:django_invoices_invoice_change", args=[invoice.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_payload_just_past_the_depth_bound_shows_compact_and_whole(admin_client):
    depth = display.PRETTY_MAX_DEPTH + 5  # small once indented, but too deep to indent
    page = _invoice_page(admin_client, {"data": json.loads("[" * depth + "]" * depth)})
    assert "Too large or too deeply nested to indent: shown as stored." in page
    compact = "{&quot;data&quot;:" + "[" * depth + "]" * depth + "}"
    assert compact in page
    assert "characters, as stored" not in page


def test_a_payload_too_long_even_compact_says_it_is_cut(admin_client):
    page = _invoice_page(admin_client, {"data": "x" * (display.RAW_MAX_CHARS + 100)})
    assert f"the first {display.RAW_MAX_CHARS} characters, as stored." in page
    assert "x" * (display.RAW_MAX_CHARS - 20) in page
    assert "x" * (display.RAW_MAX_CHARS + 1) not in page


# -- the health page's charts (admin/charts.py) -------------------------------------------


def _hours(first, count):
    start = datetime(2026, 12, 7, first, tzinfo=dt_timezone.utc)
    return [start + timedelta(hours=n) for n in range(count)]


def _recording():
    asked = []

    def describe(start):
        asked.append(start)
        return f"<{start:%H}h>"

    return asked, describe


SERIES = [
    charts.Series("a", "Applied", "di-a"),
    charts.Series("b", "Failed", "di-b"),
    charts.Series("c", "Never", "di-c"),
]


def test_stacked_bars_are_placed_scaled_titled_and_drawn_exactly():
    starts = _hours(2, 3)
    asked, describe = _recording()
    chart = charts.bars(starts, [{"a": 3, "b": 1}, {}, {"b": 7}], SERIES, describe=describe)
    # 720 wide in 3 columns of 240; the tallest column (7) rounds up to 10: 16 per unit.
    assert chart["rects"] == [
        {
            "x": 72.0,
            "y": 120.0,
            "width": 192.0,
            "height": 48.0,
            "css": "di-a",
            "title": "<02h> · Applied: 3",
        },
        {
            "x": 72.0,
            "y": 104.0,
            "width": 192.0,
            "height": 16.0,
            "css": "di-b",
            "title": "<02h> · Failed: 1",
        },
        {
            "x": 552.0,
            "y": 56.0,
            "width": 192.0,
            "height": 112.0,
            "css": "di-b",
            "title": "<04h> · Failed: 7",
        },
    ]
    assert asked == [starts[0], starts[2]]  # each column with bars described once
    assert chart["y_ticks"] == [
        {"y": 168.0, "label": "0"},
        {"y": 88.0, "label": "5"},
        {"y": 8.0, "label": "10"},
    ]
    assert [repr(tick["y"]) for tick in chart["y_ticks"]] == ["168.0", "88.0", "8.0"]
    assert chart["x_ticks"] == [{"x": 288.0, "label": "03:00"}]  # every third hour
    assert chart["legend"] == [
        {"label": "Applied", "css": "di-a"},
        {"label": "Failed", "css": "di-b"},
    ]
    assert (chart["paths"], chart["dots"]) == ([], [])
    frame = {k: chart[k] for k in ("width", "height", "left", "right", "top", "bottom")}
    assert frame == {"width": 776, "height": 190, "left": 48, "right": 768, "top": 8, "bottom": 168}
    assert chart["label_y"] == 183
    assert chart["shapes"] == (
        '<rect class="di-a" x="72.0" y="120.0" width="192.0" height="48.0">'
        "<title>&lt;02h&gt; · Applied: 3</title></rect>\n"
        '<rect class="di-b" x="72.0" y="104.0" width="192.0" height="16.0">'
        "<title>&lt;02h&gt; · Failed: 1</title></rect>\n"
        '<rect class="di-b" x="552.0" y="56.0" width="192.0" height="112.0">'
        "<title>&lt;04h&gt; · Failed: 7</title></rect>"
    )


def test_an_empty_bar_chart_still_has_an_axis_to_one_and_its_first_series():
    chart = charts.bars(_hours(0, 1), [{}], SERIES, describe=str)
    assert chart["rects"] == []
    assert chart["shapes"] == ""
    assert [tick["label"] for tick in chart["y_ticks"]] == ["0", "0.5", "1"]
    assert [tick["y"] for tick in chart["y_ticks"]] == [168.0, 88.0, 8.0]
    assert chart["legend"] == [{"label": "Applied", "css": "di-a"}]
    assert chart["x_ticks"] == [{"x": 48.0, "label": "00:00"}]
    assert charts.bars([], [], SERIES, describe=str)["x_ticks"] == []


@pytest.mark.parametrize(
    ("tallest", "labels"),
    [
        (1, ["0", "0.5", "1"]),
        (2, ["0", "1", "2"]),
        (3, ["0", "2.5", "5"]),
        (5, ["0", "2.5", "5"]),
        (10, ["0", "5", "10"]),
        (11, ["0", "10", "20"]),
        (20, ["0", "10", "20"]),
        (21, ["0", "25", "50"]),
        (51, ["0", "50", "100"]),
        (100, ["0", "50", "100"]),
        (1234, ["0", "1,000", "2,000"]),
    ],
)
def test_the_bar_axis_ends_at_the_next_one_two_or_five(tallest, labels):
    chart = charts.bars(_hours(1, 1), [{"b": tallest}], SERIES, describe=str)
    assert [tick["label"] for tick in chart["y_ticks"]] == labels


def test_bars_stack_three_high_and_keep_one_decimal():
    # 7 columns of 102.857...; the axis goes to 2000, 0.08 per unit.
    columns = [{"a": 1000, "b": 600, "c": 34}, {"b": 7}, {}, {}, {}, {}, {}]
    rects = charts.bars(_hours(0, 7), columns, SERIES, describe=str)["rects"]
    assert [(r["x"], r["y"], r["width"], r["height"]) for r in rects] == [
        (58.3, 88.0, 82.3, 80.0),
        (58.3, 40.0, 82.3, 48.0),
        (58.3, 37.3, 82.3, 2.7),
        (161.1, 167.4, 82.3, 0.6),
    ]


def test_one_column_spans_the_whole_width():
    bar = charts.bars(_hours(0, 1), [{"a": 1}], SERIES, describe=str)["rects"][0]
    assert (bar["x"], bar["width"]) == (120.0, 576.0)
    series = [charts.Series("p50", "median", "di-p50")]
    (dot,) = charts.lines(
        _hours(0, 1),
        [{"p50": 5}],
        series,
        low=1,
        high=100,
        ticks=[],
        label=str,
        describe=str,
    )["dots"]
    assert dot["x"] == 408.0
    (first, second) = charts.lines(
        _hours(0, 7),
        [{"p50": 5}, {"p50": 5}, {}, {}, {}, {}, {}],
        series,
        low=1,
        high=100,
        ticks=[],
        label=str,
        describe=str,
    )["dots"]
    assert (first["x"], second["x"]) == (99.4, 202.3)


def test_a_tiny_bar_and_a_narrow_column_stay_visible():
    columns = [{} for _ in range(1000)]
    columns[0] = {"a": 1000}
    columns[1] = {"a": 1}
    rects = charts.bars(_hours(0, 1) * 1000, columns, SERIES, describe=str)["rects"]
    assert [(r["width"], r["height"]) for r in rects] == [(1, 160.0), (1, 0.5)]
    assert rects[1]["y"] == 167.8


def test_a_week_is_labelled_by_day_and_two_days_by_every_third_hour():
    week = charts.bars(_hours(0, 49), [{}] * 49, SERIES, describe=str)
    assert week["x_ticks"] == [
        {"x": 48.0, "label": "Mon 7"},
        {"x": 400.7, "label": "Tue 8"},
        {"x": 753.3, "label": "Wed 9"},
    ]
    two_days = charts.bars(_hours(0, 48), [{}] * 48, SERIES, describe=str)
    assert [tick["label"] for tick in two_days["x_ticks"]][:3] == ["00:00", "03:00", "06:00"]
    assert len(two_days["x_ticks"]) == 16
    assert two_days["x_ticks"][1]["x"] == 93.0


def test_lines_on_a_log_axis_break_at_gaps_and_clip_at_the_edges():
    starts = _hours(5, 4)
    asked, describe = _recording()
    series = [
        charts.Series("p50", "median", "di-p50"),
        charts.Series("p95", "p95", "di-p95"),
        charts.Series("none", "never", "di-none"),
    ]
    columns = [
        {"p50": 1.0, "p95": 10.0},
        {"p50": None, "p95": 100},
        {"p50": 0.01, "p95": 5000},
        {"p50": 2},
    ]
    chart = charts.lines(
        starts,
        columns,
        series,
        low=0.1,
        high=1000,
        ticks=[1, 10, 100],
        label=charts.seconds,
        describe=describe,
    )
    # 4 columns of 180, points in their middle; 160 high for 4 powers of ten.
    assert chart["paths"] == [
        {"points": "498.0,168.0 678.0,116.0", "css": "di-p50"},
        {"points": "138.0,88.0 318.0,48.0 498.0,8.0", "css": "di-p95"},
    ]
    assert chart["dots"] == [
        {"x": 138.0, "y": 128.0, "css": "di-p50", "title": "<05h> · median: 1 s"},
        {"x": 498.0, "y": 168.0, "css": "di-p50", "title": "<07h> · median: 0 s"},
        {"x": 678.0, "y": 116.0, "css": "di-p50", "title": "<08h> · median: 2 s"},
        {"x": 138.0, "y": 88.0, "css": "di-p95", "title": "<05h> · p95: 10 s"},
        {"x": 318.0, "y": 48.0, "css": "di-p95", "title": "<06h> · p95: 1.7 min"},
        {"x": 498.0, "y": 8.0, "css": "di-p95", "title": "<07h> · p95: 1.4 h"},
    ]
    # Each column described once, the first time a series has a value there.
    assert asked == [starts[0], starts[2], starts[3], starts[1]]
    assert chart["y_ticks"] == [
        {"y": 128.0, "label": "1 s"},
        {"y": 88.0, "label": "10 s"},
        {"y": 48.0, "label": "1.7 min"},
    ]
    assert chart["legend"] == [
        {"label": "median", "css": "di-p50"},
        {"label": "p95", "css": "di-p95"},
    ]
    assert chart["rects"] == []
    assert chart["shapes"].split("\n")[:3] == [
        '<polyline class="di-line di-p50" points="498.0,168.0 678.0,116.0"/>',
        '<polyline class="di-line di-p95" points="138.0,88.0 318.0,48.0 498.0,8.0"/>',
        '<circle class="di-p50" cx="138.0" cy="128.0" r="2">'
        "<title>&lt;05h&gt; · median: 1 s</title></circle>",
    ]


def test_a_line_chart_without_any_value_names_every_series():
    series = [charts.Series("p50", "median", "di-p50"), charts.Series("p95", "p95", "di-p95")]
    chart = charts.lines(
        _hours(0, 2),
        [{}, {"p50": None}],
        series,
        low=1,
        high=100,
        ticks=[1],
        label=charts.milliseconds,
        describe=str,
    )
    assert (chart["paths"], chart["dots"]) == ([], [])
    assert [entry["label"] for entry in chart["legend"]] == ["median", "p95"]
    assert chart["y_ticks"] == [{"y": 168.0, "label": "1 ms"}]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.04, "0 s"),
        (0.5, "0.5 s"),
        (2.0, "2 s"),
        (9.5, "9.5 s"),
        (10, "10 s"),
        (12.4, "12 s"),
        (59, "59 s"),
        (60, "1 min"),
        (90, "1.5 min"),
        (600, "10 min"),
        (3599, "60 min"),
        (3600, "1 h"),
        (5400, "1.5 h"),
        (36000, "10 h"),
        (10.4, "10 s"),
        (365400, "102 h"),
    ],
)
def test_durations_in_seconds_read_shortly(value, text):
    assert charts.seconds(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.4, "0 ms"),
        (120, "120 ms"),
        (999, "999 ms"),
        (1000, "1 s"),
        (1500, "1.5 s"),
        (60000, "1 min"),
        (90000, "1.5 min"),
    ],
)
def test_durations_in_milliseconds_read_shortly(value, text):
    assert charts.milliseconds(value) == text


def test_the_units_follow_the_active_language():
    with translation.override("uk"):
        assert charts.seconds(5) == "5 \u0441"
        assert charts.milliseconds(5) == "5 мс"
        assert charts.seconds(120) == "2 хв"
        assert charts.seconds(7200) == "2 год"
    with translation.override("en"):
        assert charts.seconds(5) == "5 s"
        assert charts.seconds(7200) == "2 h"
    with translation.override("uk"):
        assert charts.seconds(5) == "5 \u0441"


# -- wire: the provider's invoices and transactions read into typed values ---------------

TX = {
    "id": " 1f2e3d4c-0000-4000-8000-000000000001 ",
    "status": "PROCESSED",
    "type": "DEPOSIT",
    "asset": "BTC",
    "paymentCode": "BTC-NET",
    "amount": "0.0015",
    "fee": 0.0001,
    "processedAmount": 14,
    "address": "bc1qxyz",
    "txId": "abc123",
    "createdAt": "2026-11-25T10:00:00.000Z",
    "updatedAt": "2026-11-25T12:30:00+02:00",
    "invoiceId": "506c695a-4187-4463-ac41-07dc0782cb0e",
}


def _utc(*parts):
    return datetime(*parts, tzinfo=dt_timezone.utc)


def test_a_transaction_is_read_field_by_field():
    tx = wire.Transaction.from_wire(dict(TX))
    assert tx == wire.Transaction(
        id="1f2e3d4c-0000-4000-8000-000000000001",
        status="PROCESSED",
        type="DEPOSIT",
        asset="BTC",
        payment_code="BTC-NET",
        amount=Decimal("0.0015"),
        fee=Decimal("0.0001"),
        processed_amount=Decimal("14"),
        address="bc1qxyz",
        tx_id="abc123",
        created_at=_utc(2026, 11, 25, 10, 0),
        updated_at=_utc(2026, 11, 25, 10, 30),
        invoice_id="506c695a-4187-4463-ac41-07dc0782cb0e",
        raw={},
    )
    assert tx.raw == TX
    assert wire.Transaction.updated_at_of(TX) == _utc(2026, 11, 25, 10, 30)
    assert wire.Transaction.updated_at_of({"updatedAt": "2026-11-25T10:30:00"}) == _utc(
        2026, 11, 25, 10, 30
    )
    assert wire.Transaction.updated_at_of({}) is None
    assert wire.Transaction.updated_at_of(["updatedAt"]) is None


def test_an_empty_transaction_reads_as_blanks():
    tx = wire.Transaction.from_wire({"invoiceId": 42})
    assert (tx.id, tx.status, tx.type, tx.asset, tx.payment_code) == ("", "", "", "", "")
    assert (tx.amount, tx.fee, tx.processed_amount) == (None, None, None)
    assert (tx.address, tx.tx_id, tx.created_at, tx.updated_at) == ("", "", None, None)
    assert tx.invoice_id == "42"
    assert wire.Transaction.from_wire({"invoiceId": True}).invoice_id == ""
    assert wire.Transaction.from_wire({"invoiceId": {"id": 1}}).invoice_id == ""


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("id", "deposit id"),
        ("status", "deposit status"),
        ("type", "transaction type"),
        ("asset", "deposit asset"),
        ("paymentCode", "paymentCode"),
        ("address", "deposit address"),
        ("txId", "txId"),
    ],
)
def test_a_transaction_field_that_is_not_text_is_named_in_the_error(key, name):
    with pytest.raises(InvalidResponse) as caught:
        wire.Transaction.from_wire({key: 7})
    assert caught.value.message == f"KUNA Pay sent {name} as int, not text"


@pytest.mark.parametrize("key", ["amount", "fee", "processedAmount"])
def test_a_transaction_amount_that_is_not_a_number_is_refused(key):
    with pytest.raises(InvalidResponse, match="not a decimal amount"):
        wire.Transaction.from_wire({key: "1,5"})


def test_things_that_are_not_objects_are_refused_by_name():
    with pytest.raises(InvalidResponse) as caught:
        wire.Transaction.from_wire(["id"])
    assert caught.value.message == "KUNA Pay sent a transaction that is not an object"
    with pytest.raises(InvalidResponse) as caught:
        wire.Invoice.from_wire("id")
    assert caught.value.message == "KUNA Pay sent an invoice that is not an object"


INVOICE = {
    "id": "506c695a-4187-4463-ac41-07dc0782cb0e",
    "status": "PAID",
    "externalOrderId": 1001,
    "invoiceAmount": "42.5",
    "invoiceAssetCode": "EUR",
    "paymentAmount": "0.0015",
    "paymentAssetCode": "BTC",
    "addressId": "addr-1",
    "paymentLink": "https://pay.example/i/1",
    "expireAt": "2026-11-25T11:00:00.000Z",
    "completedAt": "2026-11-25T10:45:00.000Z",
    "createdAt": "2026-11-25T10:00:00+01:00",
    "transactions": [TX, "not an object", {"id": "t2"}],
}


def test_an_invoice_is_read_field_by_field_with_its_transactions():
    invoice = wire.Invoice.from_wire(dict(INVOICE))
    assert invoice == wire.Invoice(
        id="506c695a-4187-4463-ac41-07dc0782cb0e",
        status="PAID",
        external_order_id="1001",
        invoice_amount=Decimal("42.5"),
        invoice_asset="EUR",
        payment_amount=Decimal("0.0015"),
        payment_asset="BTC",
        address="addr-1",
        payment_link="https://pay.example/i/1",
        expires_at=_utc(2026, 11, 25, 11, 0),
        completed_at=_utc(2026, 11, 25, 10, 45),
        created_at=_utc(2026, 11, 25, 9, 0),
        transactions=(wire.Transaction.from_wire(TX), wire.Transaction.from_wire({"id": "t2"})),
        raw={},
    )
    assert invoice.raw == INVOICE


def test_absent_and_null_invoice_fields_differ():
    absent = wire.Invoice.from_wire({"paymentLink": 5, "transactions": {"id": 1}})
    assert absent.invoice_amount is wire.MISSING
    assert absent.payment_amount is wire.MISSING
    assert absent.expires_at is wire.MISSING
    assert absent.completed_at is wire.MISSING
    assert absent.created_at is wire.MISSING
    assert absent.transactions is None
    assert (absent.id, absent.status, absent.external_order_id, absent.payment_link) == (
        "",
        "",
        "",
        "",
    )
    assert (absent.invoice_asset, absent.payment_asset, absent.address) == ("", "", "")
    null = wire.Invoice.from_wire(
        {
            "invoiceAmount": "",
            "paymentAmount": None,
            "expireAt": None,
            "completedAt": "",
            "createdAt": "yesterday",
            "transactions": [],
        }
    )
    assert null.invoice_amount is wire.MISSING  # no amount: keep the stored one
    assert null.payment_amount is None
    assert (null.expires_at, null.completed_at) == (None, None)
    assert null.created_at is wire.MISSING  # unusable: keep the stored one
    assert null.transactions == ()


@pytest.mark.parametrize("key", ["status", "invoiceAssetCode", "paymentAssetCode", "addressId"])
def test_an_invoice_text_field_that_is_not_text_is_refused(key):
    with pytest.raises(InvalidResponse) as caught:
        wire.Invoice.from_wire({key: ["x"]})
    assert caught.value.message == f"KUNA Pay sent {key} as list, not text"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("2026-11-25T10:00:00Z", _utc(2026, 11, 25, 10, 0)),
        ("2026-11-25T10:00:00", _utc(2026, 11, 25, 10, 0)),
        ("2026-11-25T12:00:00+02:00", _utc(2026, 11, 25, 10, 0)),
        ("0001-01-01T00:00:00+05:00", None),
        ("2026-13-45T10:00:00", None),
        ("not a date", None),
        ("", None),
        (None, None),
        (20261125, None),
    ],
)
def test_timestamps_are_read_in_utc_or_not_at_all(value, parsed):
    assert wire.parse_timestamp(value) == parsed


def test_a_timestamp_field_is_none_when_null_and_missing_when_unusable():
    assert wire.timestamp(None) is None
    assert wire.timestamp("") is None
    assert wire.timestamp("2026-13-45T10:00:00") is wire.MISSING
    assert wire.timestamp(5) is wire.MISSING
    assert wire.timestamp("2026-11-25T10:00:00Z") == _utc(2026, 11, 25, 10, 0)


def test_timestamps_are_utc_whatever_the_shops_time_zone(settings):
    settings.TIME_ZONE = "Europe/Kyiv"  # Django makes it the process' local time too
    naive = wire.parse_timestamp("2026-11-25T10:00:00")
    assert naive == _utc(2026, 11, 25, 10, 0)  # no offset: UTC, not local time
    aware = wire.parse_timestamp("2026-11-25T12:00:00+02:00")
    assert aware == _utc(2026, 11, 25, 10, 0)
    assert aware.utcoffset() == timedelta(0)
    assert naive.utcoffset() == timedelta(0)


# -- amounts, safejson, exceptions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("42.50"), "42.5"),
        ("100.000", "100"),
        (7, "7"),
        (Decimal("1E+3"), "1000"),
        (Decimal("1.5E-7"), "0.00000015"),
        (Decimal("0.000"), "0"),
        ("0", "0"),
        (Decimal("-2.10"), "-2.1"),
        (Decimal("120"), "120"),
    ],
)
def test_amounts_go_out_as_plain_decimal_text(amount, text):
    assert amounts.format_amount(amount) == text


def test_amounts_that_cannot_go_out_are_refused():
    with pytest.raises(TypeError, match=r"^amounts must be Decimal or str, never float$"):
        amounts.format_amount(1.5)
    for value in ("NaN", "Infinity", Decimal("-Infinity")):
        with pytest.raises(ValueError) as caught:
            amounts.format_amount(value)
        assert str(caught.value) == f"not a finite amount: {value!r}"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        (None, None),
        ("", None),
        ("42.5", Decimal("42.5")),
        ("-1", Decimal("-1")),
        ("+.5", Decimal("0.5")),
        ("1.", Decimal("1")),
        ("1e3", Decimal("1000")),
        ("2E-2", Decimal("0.02")),
        (0.1, Decimal("0.1")),
        (12, Decimal("12")),
        (0, Decimal("0")),
    ],
)
def test_provider_amounts_are_read_as_decimals(value, parsed):
    result = amounts.parse_amount(value)
    assert result == parsed
    assert result is None or isinstance(result, Decimal)


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        [1],
        {"a": 1},
        "NaN",
        "1e999999999",
        " 1",
        "1_000",
        "\u0661",
        "1,5",
        ".",
        "e5",
        1e400,
    ],
)
def test_anything_else_is_not_an_amount(value):
    with pytest.raises(InvalidResponse) as caught:
        amounts.parse_amount(value)
    assert caught.value.message == f"not a decimal amount: {str(value)[:60]!r}"


def test_a_long_bad_amount_is_quoted_cut():
    with pytest.raises(InvalidResponse) as caught:
        amounts.parse_amount("x" * 100)
    assert caught.value.message == f"not a decimal amount: {'x' * 60!r}"


def test_json_from_outside_decodes_or_is_a_value_error():
    assert safejson.loads(b'{"a": "\\u0447\\u0430\\u0439"}') == {"a": "чай"}
    assert safejson.loads('{"a": "\\ud83d\\ude00"}') == {"a": "😀"}  # a surrogate pair
    assert safejson.loads('"\\uD83D\\uDE00"') == "😀"
    assert safejson.loads("[1]") == [1]
    for raw, message in [
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ('{"a": "\\ud800"}', "JSON text with an unpaired surrogate escape"),
        ('["\\uDBFF"]', "JSON text with an unpaired surrogate escape"),
        ('"\\udc00"', "JSON text with an unpaired surrogate escape"),
    ]:
        with pytest.raises(ValueError) as caught:
            safejson.loads(raw)
        assert str(caught.value) == message
    with pytest.raises(ValueError):
        safejson.loads(b"\xff")
    with pytest.raises(ValueError):
        safejson.loads("{")


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        ("a\x00b", True),
        (b"a\x00b", True),
        ('{"a": "\\u0000"}', True),
        (b'{"a": "\\U0000"}', True),
        ("\\u00001", True),
        ("ж\ud800", False),
        ("\\u0001", False),
        (b"plain", False),
        ("", False),
    ],
)
def test_nul_characters_are_found_raw_or_escaped(raw, found):
    assert safejson.contains_nul(raw) is found


def test_provider_errors_say_their_status_codes_and_messages():
    error = exceptions.KunaPayError(
        "refused",
        status_code=422,
        errors=[{"code": "INVALID", "message": "x"}, {"message": "y"}, "odd"],
        response_text="{}",
        ambiguous=True,
    )
    assert str(error) == "HTTP 422: refused"
    assert repr(error) == "KunaPayError('refused')"  # what a log or an error tracker shows
    assert (error.message, error.status_code, error.response_text) == ("refused", 422, "{}")
    assert error.ambiguous is True
    assert error.codes == ["INVALID", ""]
    plain = exceptions.KunaPayError("no answer")
    assert str(plain) == "no answer"
    assert (plain.status_code, plain.errors, plain.response_text) == (None, [], "")
    assert plain.ambiguous is False and plain.codes == []
    limited = exceptions.RateLimited("slow down", retry_after=2.5, status_code=429)
    assert (limited.retry_after, str(limited)) == (2.5, "HTTP 429: slow down")
    assert exceptions.RateLimited("slow down").retry_after is None
    refused = exceptions.InvoiceCreationError("paid already", order_status="paid")
    assert (str(refused), refused.order_status) == ("paid already", "paid")
    assert (
        str(exceptions.InvoiceCreationError()),
        exceptions.InvoiceCreationError().order_status,
    ) == ("", "")


# -- telemetry: spans and the ids of log lines ---------------------------------------------


def test_a_span_goes_to_the_installed_tracer_without_empty_attributes():
    calls = []

    def tracer(name, attributes):
        calls.append((name, attributes))
        return "the step"

    previous = telemetry.use_tracer(tracer)
    try:
        assert telemetry.tracing() is True
        assert telemetry.span("read", a=1, b=None, c="", d=0, e=False) == "the step"
        assert calls == [("read", {"a": 1, "d": 0, "e": False})]
        assert telemetry.use_tracer(None) is tracer
        assert telemetry.tracing() is False
        assert telemetry.span("read", a=1) is telemetry.NO_STEP
    finally:
        telemetry.use_tracer(previous)
    assert calls == [("read", {"a": 1, "d": 0, "e": False})]


def test_without_a_tracer_a_step_does_nothing_and_lets_errors_through():
    step = telemetry.span("apply", invoice_id=1)
    assert step is telemetry.NO_STEP
    with step as entered:
        assert entered is step
        assert entered.set(outcome="applied") is None
    with pytest.raises(KeyError), telemetry.span("apply"):
        raise KeyError("not swallowed")


def _cached(instance, **related):
    for name, value in related.items():
        instance._state.fields_cache[name] = value
    return instance


def test_log_ids_of_an_event_follow_its_loaded_invoice_and_order():
    order = Order(id=7, external_order_id="A-1")
    invoice = _cached(
        Invoice(id=3, provider_id=INVOICE_ID, account="shop2", order_id=7), order=order
    )
    event = _cached(CallbackEvent(id=11, account="default", invoice_id=3), invoice=invoice)
    assert telemetry.ids(event=event) == {
        "event_id": 11,
        "account": "shop2",
        "invoice_id": 3,
        "provider_invoice_id": INVOICE_ID,
        "order_id": 7,
        "external_order_id": "A-1",
    }
    # Not loaded: only what the event itself holds, never a query.
    assert telemetry.ids(event=CallbackEvent(id=12, account="default", invoice_id=3)) == {
        "event_id": 12,
        "account": "default",
        "invoice_id": 3,
    }
    assert telemetry.ids(event=CallbackEvent(id=13, account="")) == {"event_id": 13}


def test_log_ids_prefer_what_they_are_given():
    order = Order(id=7, external_order_id="A-1")
    other = Order(id=8, external_order_id="B-2")
    invoice = _cached(Invoice(id=3, provider_id=INVOICE_ID, account="", order_id=7), order=order)
    event = _cached(CallbackEvent(id=11, account="default", invoice_id=4), invoice=Invoice(id=4))
    assert telemetry.ids(event=event, invoice=invoice, order=other) == {
        "event_id": 11,
        "account": "default",  # the invoice names none: the event's
        "invoice_id": 3,
        "provider_invoice_id": INVOICE_ID,
        "order_id": 8,
        "external_order_id": "B-2",
    }
    given = telemetry.ids(
        invoice=invoice,
        account="shop3",
        transaction_id="tx-1",
        event_id=0,
        invoice_id=99,
    )
    assert given == {
        "invoice_id": 99,
        "provider_invoice_id": INVOICE_ID,
        "order_id": 7,
        "external_order_id": "A-1",
        "account": "shop3",
        "transaction_id": "tx-1",
        "event_id": 0,
    }
    assert telemetry.ids() == {}


def test_log_ids_read_only_loaded_fields_of_models_and_any_attribute_of_others():
    order = Order(id=7, external_order_id="A-1")
    del order.__dict__["external_order_id"]  # as a deferred field: reading it would query
    assert telemetry.ids(order=order) == {"order_id": 7}
    unsaved = Invoice(provider_id=None, order_id=None, account="")
    assert telemetry.ids(invoice=unsaved) == {}
    plain_order = SimpleNamespace(id=5, external_order_id="C-3")
    plain = SimpleNamespace(id=2, provider_id="abc", account="x", order_id=5, order=plain_order)
    assert telemetry.ids(invoice=plain) == {
        "invoice_id": 2,
        "provider_invoice_id": "abc",
        "account": "x",
        "order_id": 5,  # a plain object's order is not followed
    }
    assert telemetry.ids(order=SimpleNamespace()) == {}
