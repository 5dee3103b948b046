"""The admin's "Payments health" page: who sees it, what it counts, where its numbers
lead, its charts, and a query count that does not grow with the data (issue 21).

Its time at 100,000 orders and 1,000,000 callbacks on PostgreSQL is measured by
``bench/admin_pages.py`` (docs/benchmarks.rst); its SQL shape is pinned in
``test_admin_scale.py``.
"""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from django_invoices.models import (
    CallbackEvent,
    HealthHour,
    Invoice,
    Order,
    ProviderRequest,
    SweepRun,
)
from django_invoices.services import health, receipt
from django_invoices.statuses import InvoiceStatus

from .callbacks_kit import invoice_event, post
from .conftest import API, INVOICE_ID, invoice_payload

PAGE = reverse("admin:django_invoices_paymentshealth_changelist")
INVOICES = reverse("admin:django_invoices_invoice_changelist")
ORDERS = reverse("admin:django_invoices_order_changelist")
EVENTS = reverse("admin:django_invoices_callbackevent_changelist")

#: The page's queries in a test: the session and the user (the admin's own), then the
#: report: the hours summed before, the later hours' callbacks, requests, recipes and
#: refusals (each grouped by hour), the oldest pending callback, how many are pending,
#: invoices and orders that need a person, the latest sweep, the day's sweeps. With no
#: callback pending and no sweep ever, two fewer (nothing to count); one more when an
#: hour is old enough to be summed once and kept.
PAGE_QUERIES = 13


def make_invoice(ref, status=InvoiceStatus.AWAITING_PAYMENT, **fields):
    order = Order.objects.create(external_order_id=ref, amount=Decimal("10"), asset="EUR")
    return Invoice.objects.create(
        provider_id=uuid.uuid4(),
        order=order,
        status=status,
        invoice_amount=Decimal("10"),
        invoice_asset="EUR",
        **fields,
    )


def event(number=0, **fields):
    fields.setdefault("verified", True)
    fields.setdefault("state", CallbackEvent.State.APPLIED)
    return CallbackEvent.objects.create(body="{}", body_sha256=f"{number:064x}", **fields)


def request_row(result="ok", milliseconds=100, **fields):
    fields.setdefault("started_at", timezone.now())
    return ProviderRequest.objects.create(
        account="default",
        method="GET",
        endpoint="/v1/invoice/{id}",
        result=result,
        milliseconds=milliseconds,
        **fields,
    )


def text_of(page, marker):
    match = re.search(rf"<[^>]*{marker}[^>]*>([^<]*)<", page)
    assert match, f"no {marker} on the page"
    return match.group(1).strip()


# -- who sees it ----------------------------------------------------------------------------


def test_the_page_is_listed_in_the_apps_admin_index(admin_client):
    index = admin_client.get(reverse("admin:app_list", args=["django_invoices"]))
    assert f'href="{PAGE}"' in index.content.decode()
    assert "Payments health" in admin_client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize(
    ("codenames", "status"),
    [
        ((), 403),
        (("view_callbackevent",), 403),
        (("view_invoice",), 403),
        (("view_callbackevent", "view_invoice"), 200),
        (("change_callbackevent", "view_invoice"), 200),
    ],
)
def test_staff_need_the_view_permissions_of_callbacks_and_invoices(client, db, codenames, status):
    staff = User.objects.create_user("staff", password="x", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label="django_invoices", codename__in=codenames)
    )
    client.force_login(staff)
    assert client.get(PAGE).status_code == status


def test_a_visitor_is_sent_to_the_login(client, db):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_the_page_has_no_add_change_or_delete(admin_client, db):
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    some = event()
    change = reverse("admin:django_invoices_paymentshealth_change", args=[some.pk])
    assert admin_client.get(change).status_code in (302, 403)
    assert admin_client.get(reverse("admin:django_invoices_paymentshealth_add")).status_code == 403


# -- what it counts ---------------------------------------------------------------------------


def test_callbacks_are_counted_by_outcome_from_real_deliveries(client, admin_client, api, invoice):
    api.get(f"{API}/v1/invoice/{INVOICE_ID}", json={"data": invoice_payload("PAYMENT_AWAITING")})
    assert post(client, invoice_event("PAYMENT_AWAITING")).json()["state"] == "applied"
    # The same news in another body (a replay of the same body adds no row).
    again = invoice_event("PAYMENT_AWAITING", note="again")
    assert post(client, again).json()["state"] == "duplicate"
    assert post(client, invoice_event("PAID"), signature="0" * 96).status_code == 401
    api.replace("GET", f"{API}/v1/invoice/{INVOICE_ID}", status=503, json={"errors": []})
    assert post(client, invoice_event("PAID")).json()["state"] == "pending"

    response = admin_client.get(PAGE)

    day = response.context["summary"]["day"]
    assert (day["received"], day["applied"], day["duplicate"]) == (4, 1, 1)
    assert (day["refused"], day["pending"]) == (1, 1)
    # Two reads, one answered 503 (a callback's read is not retried: the next read is).
    assert (day["requests"], day["errors"]) == (2, 1)
    page = response.content.decode()
    assert text_of(page, "data-pending") == "1"
    assert text_of(page, "data-refused") == "1"
    assert text_of(page, "data-request-errors") == "1"
    (row,) = response.context["signatures"]
    assert (row["account"], row["recipe"]) == ("default", "sha384/hex/raw")
    assert (row["bad_signatures_day"], row["bad_signatures_week"]) == (1, 1)
    assert "sha384/hex/raw, sha384/hex/compact" in text_of(page, "data-recipes")


def test_the_oldest_pending_callback_is_marked_past_its_threshold(admin_client, settings, db):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "HEALTH_PENDING_MAX_AGE": 60}
    waiting = event(1, state=CallbackEvent.State.PENDING)
    CallbackEvent.objects.filter(pk=waiting.pk).update(
        received_at=timezone.now() - timedelta(minutes=5)
    )

    response = admin_client.get(PAGE)

    assert response.context["pending"]["late"] is True
    assert re.search(r'<dd class="di-bad" data-oldest>5 min</dd>', response.content.decode())


def test_a_young_pending_callback_is_not_a_problem(admin_client, db):
    event(1, state=CallbackEvent.State.PENDING)
    response = admin_client.get(PAGE)
    assert response.context["pending"]["late"] is False
    assert response.context["pending"]["count"] == "1"


def test_invoices_that_need_a_person_are_counted_and_linked(admin_client, db):
    overpaid = make_invoice("O-1", InvoiceStatus.PAID, overpaid=True)
    partly = make_invoice("P-1", InvoiceStatus.PARTIALLY_PAID)
    late = make_invoice("L-1", InvoiceStatus.PAID, expired_once=True)
    make_invoice("F-1", InvoiceStatus.PAID)  # paid in time, as asked: nobody's business
    make_invoice("E-1", InvoiceStatus.EXPIRED, expired_once=True)
    old = make_invoice("P-0", InvoiceStatus.PARTIALLY_PAID)
    Invoice.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=health.ATTENTION_DAYS + 1)
    )
    owed = Order.objects.create(external_order_id="R-1", amount=1, asset="EUR")
    Order.objects.filter(pk=owed.pk).update(needs_reconciliation=True)
    issue = Order.objects.create(external_order_id="R-2", amount=1, asset="EUR")
    Order.objects.filter(pk=issue.pk).update(reconciliation_issue="differs")

    response = admin_client.get(PAGE)
    counts, links = response.context["attention_counts"], response.context["links"]

    assert counts == {
        "overpaid": "1",
        "partly_paid": "1",
        "paid_late": "1",
        "lookup_owed": "1",
        "reconciliation_issue": "1",
    }
    expected = {
        "overpaid": overpaid.order,
        "partly_paid": partly.order,
        "paid_late": late.order,
        "lookup_owed": owed,
        "reconciliation_issue": issue,
    }
    for key, order in expected.items():
        listed = admin_client.get(links[key])
        assert listed.status_code == 200, key
        rows = list(listed.context["cl"].result_list)
        assert [getattr(row, "order", row) for row in rows] == [order], key


def test_the_numbers_link_to_the_lists_they_count(admin_client, db):
    pending = event(1, state=CallbackEvent.State.PENDING)
    failed = event(2, state=CallbackEvent.State.FAILED)
    refused = event(3, verified=False, state=CallbackEvent.State.REJECTED, outcome="bad_signature")
    event(4)  # applied
    error = request_row("timeout", 1500)
    request_row("ok")

    links = admin_client.get(PAGE).context["links"]

    def listed(url):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        return [row.pk for row in response.context["cl"].result_list]

    assert listed(links["pending"]) == [pending.pk]
    assert listed(links["failed"]) == [failed.pk]
    assert listed(links["refused"]) == [refused.pk]
    assert len(listed(links["received"])) == 4
    assert listed(links["request_errors"]) == [error.pk]
    assert len(listed(links["requests"])) == 2


def test_the_last_sweep_is_shown_with_what_it_could_not_read(admin_client, db):
    now = timezone.now()
    SweepRun.objects.create(
        kind=SweepRun.Kind.SWEEP,
        started_at=now - timedelta(hours=3, seconds=5),
        finished_at=now - timedelta(hours=3),
        invoices_read=7,
    )
    SweepRun.objects.create(
        kind=SweepRun.Kind.INVOICES,
        started_at=now - timedelta(minutes=2, seconds=3),
        finished_at=now - timedelta(minutes=2),
        invoices_read=5,
        failures=2,
        errors="invoice 1: timeout\ninvoice 2: timeout",
    )

    response = admin_client.get(PAGE)

    sweeps = response.context["sweeps"]
    assert sweeps.latest.invoices_read == 5
    assert (sweeps.runs_today, sweeps.failures_today) == (2, 2)
    page = response.content.decode()
    assert text_of(page, "data-sweep-failures") == "2"
    assert text_of(page, "data-sweep-age") == "2 min ago"
    assert response.context["sweep_late"] is False


def test_no_sweep_ever_is_a_problem_the_page_says(admin_client, db):
    response = admin_client.get(PAGE)
    assert response.context["sweep_late"] is True
    assert "No sweep has run yet" in text_of(response.content.decode(), "data-sweep-never")


def test_a_sweep_older_than_its_threshold_is_marked(admin_client, settings, db):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "HEALTH_SWEEP_MAX_AGE": 600}
    now = timezone.now()
    SweepRun.objects.create(
        kind=SweepRun.Kind.SWEEP,
        started_at=now - timedelta(hours=1),
        finished_at=now - timedelta(minutes=30),
    )
    response = admin_client.get(PAGE)
    assert response.context["sweep_late"] is True
    assert 'class="di-bad" data-sweep-age' in response.content.decode()


# -- charts ------------------------------------------------------------------------------------


def test_the_charts_are_svg_drawn_on_the_server(admin_client, db):
    applied = event(1)
    CallbackEvent.objects.filter(pk=applied.pk).update(
        processed_at=applied.received_at + timedelta(seconds=3)
    )
    event(2, verified=False, state=CallbackEvent.State.REJECTED, outcome="missing_signature")
    request_row("ok", 250)

    response = admin_client.get(PAGE)
    page = response.content.decode()

    content = page.split("data-health-page", 1)[1].split('<footer id="footer">', 1)[0]
    # Callbacks, lag, requests, latency: a day and a week each; no script at all.
    assert len(re.findall(r'<svg viewBox="[^"]+" role="img"', content)) == 8
    assert "<script" not in content
    charts = response.context["charts"]
    stacked = [rect["css"] for rect in charts["callbacks_day"]["rects"]]
    assert stacked == ["di-applied", "di-refused-1"]  # applied below, then "no signature"
    assert "Refused: no signature: 1" in charts["callbacks_day"]["rects"][1]["title"]
    assert len(charts["callbacks_week"]["rects"]) == 2
    (p50, p95) = charts["lag_day"]["dots"]
    assert p50["css"] == "di-p50" and p95["css"] == "di-p95"
    # Three seconds fall in the 2-5 s bucket; its estimate stays inside it.
    assert "s" in p50["title"] and p50["y"] >= p95["y"]
    assert [rect["css"] for rect in charts["requests_day"]["rects"]] == ["di-applied"]


def test_the_charts_cover_24_hours_and_7_days(admin_client, db):
    old = event(1)
    CallbackEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=3))
    too_old = event(2)
    CallbackEvent.objects.filter(pk=too_old.pk).update(
        received_at=timezone.now() - timedelta(days=8)
    )

    summary = admin_client.get(PAGE).context["summary"]

    assert summary["day"]["received"] == 0
    assert summary["week"]["received"] == 1


# -- queries -------------------------------------------------------------------------------------


def test_the_page_takes_a_fixed_number_of_queries(admin_client, db, django_assert_num_queries):
    with django_assert_num_queries(PAGE_QUERIES - 2 + 1):
        admin_client.get(PAGE)  # the first load keeps the hours summed (one INSERT)
    assert HealthHour.objects.count() == health.HOURS - 4  # the last four hours stay live
    with django_assert_num_queries(PAGE_QUERIES - 2):
        assert admin_client.get(PAGE).status_code == 200
    # More of everything, over many hours: the same queries.
    now = timezone.now()
    for n in range(30):
        made = event(
            100 + n,
            state=[CallbackEvent.State.PENDING, CallbackEvent.State.APPLIED][n % 2],
        )
        CallbackEvent.objects.filter(pk=made.pk).update(received_at=now - timedelta(hours=n * 5))
        request_row("ok" if n % 3 else "server_error", started_at=now - timedelta(hours=n * 5))
        make_invoice(f"N-{n}", InvoiceStatus.PARTIALLY_PAID)
        SweepRun.objects.create(kind="sweep", started_at=now, finished_at=now, failures=n % 2)
    event(999, verified=False, state=CallbackEvent.State.REJECTED, outcome="bad_signature")
    with django_assert_num_queries(PAGE_QUERIES):
        assert admin_client.get(PAGE).status_code == 200


# -- the numbers' arithmetic ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "cumulative", "total", "expected"),
    [
        # Rank 5 of 10: one past the 4 values of at most 2 s, in the (2, 5] bucket of six.
        (0.5, [0, 4, 10], 10, 2 + 3 * 1 / 6),
        # Rank 5 of 10, all in the first bucket (0, 1].
        (0.5, [10, 10, 10], 10, 0.5),
        # All beyond the last bound: at least it.
        (0.95, [0, 0, 0], 10, 5.0),
        (0.5, [0, 0, 0], 0, None),
    ],
)
def test_quantiles_are_interpolated_within_their_bucket(q, cumulative, total, expected):
    found = health.quantile(q, (1, 2, 5), cumulative, total)
    assert found == (pytest.approx(expected) if expected is not None else None)


def test_the_refusal_reason_in_sql_agrees_with_the_one_in_python(db):
    cases = [
        (True, "Expecting value: line 1 column 1 (char 0)"),
        (True, "body is not UTF-8"),
        (False, receipt.REJECT_BAD_SIGNATURE),
        (False, receipt.REJECT_NO_SIGNATURE),
        (False, receipt.REJECT_UNKNOWN_ACCOUNT),
        (False, "body of 70000 bytes is over the limit"),
        (False, "account settings unusable: no key"),
    ]
    for number, (verified, outcome) in enumerate(cases):
        event(number, verified=verified, state=CallbackEvent.State.REJECTED, outcome=outcome)
    event(99)  # applied: no reason
    found = dict(
        CallbackEvent.objects.annotate(reason=health.refusal_reason_sql()).values_list(
            "body_sha256", "reason"
        )
    )
    for number, (verified, outcome) in enumerate(cases):
        assert found[f"{number:064x}"] == receipt.refusal_reason(verified, outcome), outcome
    assert found[f"{99:064x}"] == ""
    assert {receipt.refusal_reason(v, o) for v, o in cases} == set(receipt.REFUSAL_REASONS)
