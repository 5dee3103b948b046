"""What abuse of the callback endpoint may cost: replays add no rows, refused and
repeated requests have a budget per minute, and the provider's own traffic never
meets it (``services.receipt``, ``services.limits``, ``services.retention``)."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from django_invoices.models import CallbackEvent
from django_invoices.services import limits

from .callbacks_kit import invoice_event, post
from .conftest import ECHO_URL, invoice_payload

State = CallbackEvent.State


@pytest.fixture
def no_limits(settings):
    settings.DJANGO_INVOICES = {
        **settings.DJANGO_INVOICES,
        "CALLBACK_REFUSED_PER_MINUTE": None,
        "CALLBACK_REPLAYS_PER_MINUTE": None,
    }


@pytest.fixture
def minute(monkeypatch):
    """The rate limit's clock, under the test's hand: ``minute.advance(seconds)``."""

    class Clock:
        now = 1_800_000_000.0

        def advance(self, seconds):
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(limits.time, "time", lambda: clock.now)
    return clock


def stored_bytes():
    """What the database holds, in bytes: the live rows of the events table (as stored,
    out-of-line values included) on PostgreSQL, the whole database on SQLite. On
    PostgreSQL a replay's update leaves the row's old version behind until VACUUM
    reclaims it, which the test's one long transaction keeps it from doing: the files'
    size would count versions that a shop's autovacuum frees."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT COALESCE(SUM(pg_column_size(e.*)), 0) + "
                "COUNT(*) * 24 FROM django_invoices_callbackevent e"
            )
            return cursor.fetchone()[0]
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute("PRAGMA page_size")
        return pages * cursor.fetchone()[0]


def big_paid_body():
    """A genuine PAID callback padded to 64 KB (the largest body taken)."""
    payload = invoice_event("PAID", note="")
    size = len(json.dumps(payload).encode())
    payload["data"]["note"] = "x" * (64 * 1024 - size)
    body = json.dumps(payload).encode()
    assert len(body) == 64 * 1024
    return body


# -- replays -------------------------------------------------------------------------------


def test_a_thousand_replays_of_a_64_kb_genuine_body_add_under_100_kb_and_answer_like_the_first(
    client, api, invoice, no_limits
):
    api.get(ECHO_URL, json={"data": invoice_payload("PAID")})
    body = big_paid_body()
    first = post(client, raw=body)
    assert (first.status_code, first.json()["state"]) == (200, "applied")
    before = stored_bytes()
    answers = {post(client, raw=body).status_code for _ in range(1000)}
    assert answers == {200}
    assert stored_bytes() - before < 100 * 1024
    event = CallbackEvent.objects.get()
    assert (event.times_received, event.state) == (1001, State.APPLIED)
    assert event.last_received_at >= event.received_at
    assert len(api.calls) == 1


def test_a_replay_of_a_settled_callback_is_answered_as_a_duplicate(client, api, invoice):
    api.get(ECHO_URL, json={"data": invoice_payload("PAID")})
    first = post(client, invoice_event("PAID")).json()
    again = post(client, invoice_event("PAID")).json()
    assert again == {
        "event": first["event"],
        "state": "duplicate",
        "detail": "the same callback arrived before",
    }


def test_a_replay_of_a_pending_callback_is_acted_on_again(client, api, invoice):
    api.get(ECHO_URL, status=503, json={"errors": []})
    first = post(client, invoice_event("PAID")).json()
    assert first["state"] == "pending"
    Invoice = type(invoice)
    Invoice.objects.update(callbacks_read_after=None)  # its backoff has run out
    api.replace("GET", ECHO_URL, json={"data": invoice_payload("PAID")})
    again = post(client, invoice_event("PAID")).json()
    assert (again["event"], again["state"]) == (first["event"], "applied")
    assert CallbackEvent.objects.get().times_received == 2


def test_refused_replays_are_counted_on_one_row_per_body_and_signature(client, invoice):
    for _ in range(5):
        assert post(client, invoice_event("PAID"), key="not the key").status_code == 401
    assert post(client, invoice_event("PAID"), signature="").status_code == 401
    rows = sorted(CallbackEvent.objects.values_list("outcome", "times_received"))
    assert rows == [("bad_signature", 5), ("missing_signature", 1)]


def test_a_genuine_body_after_a_forged_copy_of_it_is_still_acted_on(client, api, invoice):
    """The same bytes with a bad signature first (someone saw the body, not the key)
    must not swallow the genuine delivery."""
    api.get(ECHO_URL, json={"data": invoice_payload("PAID")})
    assert post(client, invoice_event("PAID"), key="not the key").status_code == 401
    assert post(client, invoice_event("PAID")).json()["state"] == "applied"
    assert CallbackEvent.objects.count() == 2


def test_unknown_accounts_store_no_body_and_count_replays(client, db):
    for _ in range(3):
        assert post(client, invoice_event("PAID"), account="nobody").status_code == 404
    event = CallbackEvent.objects.get()
    assert (event.account, event.body, event.times_received) == ("nobody", "", 3)
    assert event.body_size > 0 and len(event.body_sha256) == 64


def test_a_callback_refused_for_the_shops_own_settings_is_looked_at_anew(client, invoice, settings):
    broken = {**settings.DJANGO_INVOICES, "CALLBACK_SIGNATURE_RECIPES": "nonsense"}
    settings.DJANGO_INVOICES = broken
    assert post(client, invoice_event("PAID")).status_code == 503
    assert post(client, invoice_event("PAID")).status_code == 503
    assert CallbackEvent.objects.count() == 2


# -- pruning ---------------------------------------------------------------------------------


def test_prune_removes_duplicates_and_unknown_accounts_past_their_ages(client, api, invoice):
    api.get(ECHO_URL, json={"data": invoice_payload("PAID")})
    applied = post(client, invoice_event("PAID")).json()["event"]
    # The same news in other bytes: a duplicate, not a replay.
    duplicate = post(client, raw=json.dumps(invoice_event("PAID"), indent=1).encode())
    duplicate = duplicate.json()["event"]
    stranger = post(client, invoice_event("PAID"), account="nobody").json()
    refused = post(client, invoice_event("PAID"), key="not the key").json()
    assert (stranger["error"], refused["error"]) == ("unknown_account", "bad_signature")
    assert CallbackEvent.objects.get(pk=duplicate).state == State.DUPLICATE
    now = timezone.now()
    ages = {applied: 400, duplicate: 91, "nobody": 8, "refused": 29}
    for key, days in ages.items():
        rows = (
            CallbackEvent.objects.filter(account=key)
            if key == "nobody"
            else CallbackEvent.objects.filter(outcome=refused["error"])
            if key == "refused"
            else CallbackEvent.objects.filter(pk=key)
        )
        rows.update(received_at=now - timedelta(days=days))
    out = StringIO()
    call_command("invoices_prune_callbacks", stdout=out)
    assert out.getvalue().strip() == (
        "Deleted 0 refused callbacks, 1 duplicate callback, 1 callback for an unknown account, "
        "0 records of requests to KUNA Pay, 0 sweep runs."
    )
    left = set(CallbackEvent.objects.values_list("outcome", flat=True))
    assert left == {"read 'PAID': created -> paid", "bad_signature"}


def test_the_ages_of_what_is_pruned_are_settings():
    from django_invoices import conf

    assert conf.DEFAULTS["REJECTED_EVENT_MAX_AGE"] == 30
    assert conf.DEFAULTS["DUPLICATE_EVENT_MAX_AGE"] == 90
    assert conf.DEFAULTS["UNKNOWN_ACCOUNT_EVENT_MAX_AGE"] == 7


def _prune(*args):
    out = StringIO()
    call_command("invoices_prune_callbacks", *args, stdout=out)
    return out.getvalue()


def _aged(days, **fields):
    event = CallbackEvent.objects.create(**{"account": "default", "body": "{}", **fields})
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(days=days)
    )
    return event


def test_prune_names_one_of_each_kind_and_a_dry_run_deletes_nothing(db):
    from django_invoices.models import ProviderRequest, SweepRun

    long_ago = timezone.now() - timedelta(days=400)
    _aged(400, state=State.REJECTED, outcome="bad_signature")
    _aged(400, state=State.DUPLICATE, verified=True)
    _aged(400, state=State.REJECTED, outcome="unknown_account", account="nobody")
    kept = _aged(400, state=State.APPLIED, verified=True)
    ProviderRequest.objects.create(
        started_at=long_ago,
        account="default",
        method="GET",
        endpoint="/v1/invoice/{id}",
        result=ProviderRequest.Result.OK,
        milliseconds=5,
    )
    SweepRun.objects.create(kind=SweepRun.Kind.SWEEP, started_at=long_ago, finished_at=long_ago)
    one_each = (
        "1 refused callback, 1 duplicate callback, 1 callback for an unknown account, "
        "1 record of a request to KUNA Pay, 1 sweep run"
    )

    assert _prune("--dry-run") == f"Dry run: {one_each} would be deleted.\n"
    counts = (CallbackEvent.objects.count(), ProviderRequest.objects.count())
    assert (*counts, SweepRun.objects.count()) == (4, 1, 1)

    assert _prune() == f"Deleted {one_each}.\n"
    assert list(CallbackEvent.objects.all()) == [kept]
    assert not ProviderRequest.objects.exists() and not SweepRun.objects.exists()


def test_prune_takes_an_age_in_days_and_fractions_of_days(db):
    refused = _aged(0.5, state=State.REJECTED, outcome="bad_signature")
    nothing = "0 refused callbacks, 0 duplicate callbacks, 0 callbacks for unknown accounts"
    monitoring = "0 records of requests to KUNA Pay, 0 sweep runs"
    assert _prune("--older-than", "1") == f"Deleted {nothing}, {monitoring}.\n"
    assert _prune("--older-than", "0.25") == (
        f"Deleted 1 refused callback, {nothing[len('0 refused callbacks, ') :]}, {monitoring}.\n"
    )
    assert not CallbackEvent.objects.filter(pk=refused.pk).exists()


@pytest.mark.parametrize("days", ["-1", "36600.5", "36601"])
def test_prune_refuses_an_age_outside_a_century(db, days):
    from django.core.management import CommandError

    with pytest.raises(CommandError) as refused:
        _prune("--older-than", days)
    assert str(refused.value) == "--older-than must be 0 to 36600 days."


def test_prune_takes_an_age_of_a_century(db):
    assert _prune("--older-than", "36600", "--dry-run").startswith("Dry run: 0 refused")


def test_prunes_options_say_what_they_do():
    from django.core.management import load_command_class

    command = load_command_class("django_invoices", "invoices_prune_callbacks")
    parser = command.create_parser("manage.py", "invoices_prune_callbacks")
    options = {
        a.dest: (a.metavar, a.help) for a in parser._actions if a.dest in ("older_than", "dry_run")
    }
    assert options == {
        "older_than": ("DAYS", "One age for every kind instead of the settings' ages."),
        "dry_run": (None, "Count what would go, and delete nothing."),
    }


# -- the rate limit --------------------------------------------------------------------------


def test_the_budgets_are_120_refused_a_minute_per_address_and_600_replays_per_account():
    from django_invoices import conf

    assert conf.DEFAULTS["CALLBACK_REFUSED_PER_MINUTE"] == 120
    assert conf.DEFAULTS["CALLBACK_REPLAYS_PER_MINUTE"] == 600
    assert limits.WINDOW == 60


def test_refused_callbacks_past_the_budget_get_429_and_are_not_stored(
    client, invoice, settings, minute
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REFUSED_PER_MINUTE": 5}
    minute.now = 1_800_000_020.0  # 40 s before the minute ends
    answers = [
        post(client, invoice_event("PAID", updatedAt=str(n)), key="forged").status_code
        for n in range(8)
    ]
    assert answers == [401] * 5 + [429] * 3
    assert CallbackEvent.objects.count() == 5
    limited = post(client, invoice_event("PAID", updatedAt="9"), key="forged")
    assert limited.status_code == 429
    assert limited["Retry-After"] == "40"
    assert limited.json() == {
        "error": "rate_limited",
        "detail": "too many refused or repeated callbacks",
    }
    assert limits.refused_today() == 4
    minute.advance(40)  # a new minute: a new budget
    assert post(client, invoice_event("PAID", updatedAt="10"), key="forged").status_code == 401


def test_new_authentic_callbacks_are_never_counted_or_refused(
    client, api, invoice, settings, minute
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REFUSED_PER_MINUTE": 1}
    api.get(ECHO_URL, json={"data": invoice_payload("PAYMENT_AWAITING")})
    assert post(client, invoice_event("PAID"), key="forged").status_code == 401
    assert post(client, invoice_event("PAID", updatedAt="x"), key="forged").status_code == 429
    # The provider's own callbacks from the same address, 300 in the same minute.
    for n in range(300):
        news = invoice_event("PAYMENT_AWAITING", updatedAt=f"2026-12-07T10:00:{n:03d}")
        assert post(client, news).status_code == 200


def test_the_providers_retries_of_a_refused_callback_never_meet_the_budget(client, invoice, minute):
    """KUNA Pay sends a callback up to 12 times, 2, 4, 8 ... seconds apart, while it is
    not answered 200 (a wrong signature recipe, say): with the default budget of 120
    refused a minute, even 20 callbacks refused at once stay under it."""
    start = minute.now
    schedule = [0, *[sum(2**k for k in range(1, n + 1)) for n in range(1, 12)]]
    assert schedule[:4] == [0, 2, 6, 14] and len(schedule) == 12
    answers = []
    for offset in schedule:
        minute.now = start + offset
        for n in range(20):
            payload = invoice_event("PAID", updatedAt=str(n))
            answers.append(post(client, payload, key="a key not ours").status_code)
    assert set(answers) == {401}


def test_replays_past_the_accounts_budget_get_429(client, api, invoice, settings, minute):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REPLAYS_PER_MINUTE": 3}
    api.get(ECHO_URL, json={"data": invoice_payload("PAID")})
    answers = [post(client, invoice_event("PAID")).status_code for _ in range(6)]
    assert answers == [200, 200, 200, 200, 429, 429]
    assert CallbackEvent.objects.get().times_received == 6


def test_the_admin_shows_how_many_callbacks_the_rate_limit_refused_today(
    admin_client, client, invoice, settings, minute
):
    settings.DJANGO_INVOICES = {**settings.DJANGO_INVOICES, "CALLBACK_REFUSED_PER_MINUTE": 1}
    for n in range(4):
        post(client, invoice_event("PAID", updatedAt=str(n)), key="forged")
    page = admin_client.get("/admin/django_invoices/callbackevent/")
    assert "3 callbacks refused by the rate limit today" in page.content.decode()
