"""How the payments are doing, in numbers: the admin's health page and the health check.

Every query here is bounded whatever the size of the tables: the charts read the
callbacks and provider requests of the last ``DAYS`` days through their time indexes,
grouped by hour in the database; each count stops at ``COUNT_CAP`` rows or reads a
partial index of a few rows; the latest sweep and the oldest pending callback are one
index lookup each. ``docs/benchmarks.rst`` has the page's time at 100,000 orders and
1,000,000 callbacks. Percentiles are estimated from counts per bucket
(``LAG_BUCKETS``, ``LATENCY_BUCKETS``), interpolated within the bucket, as Prometheus'
``histogram_quantile`` does.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import TruncHour
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone as dj_timezone

from .. import conf
from ..exceptions import KunaPayError
from ..models import (
    NEEDS_A_PERSON,
    CallbackEvent,
    HealthHour,
    Invoice,
    Order,
    ProviderRequest,
    SweepRun,
)
from ..statuses import InvoiceStatus
from . import queue, receipt
from .provider import get_client

#: Days the charts cover (the 24-hour charts are their last 24 hours).
DAYS = 7
HOURS = DAYS * 24
#: Counts stop here ("1000+"): a count must not read a whole table on a bad day.
COUNT_CAP = 1000
#: Days back the counts of invoices that need a person look (by the invoice's creation).
ATTENTION_DAYS = 30
#: Merchant accounts shown one by one (a resolver may know thousands).
ACCOUNTS_SHOWN = 20

#: Upper bounds (seconds) of the buckets of the time from a callback's receipt to its
#: applied change.
LAG_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400)
#: Upper bounds (milliseconds) of the buckets of a request's time at KUNA Pay.
LATENCY_BUCKETS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000)

# What a callback became, as the charts name it: its state, or "refused:<reason>".
APPLIED = CallbackEvent.State.APPLIED
OUTCOMES = (
    "applied",
    "duplicate",
    "ignored",
    "pending",
    "failed",
    *(f"refused:{reason}" for reason in receipt.REFUSAL_REASONS),
)

#: Requests whose answer is an answer: anything else counts as an error.
ANSWERED = (ProviderRequest.Result.OK, ProviderRequest.Result.NOT_FOUND)


def refusal_reason_sql() -> Case:
    """``receipt.refusal_reason`` of a stored event, in SQL ("" when not refused)."""
    rejected = Q(state=CallbackEvent.State.REJECTED)
    named = (
        receipt.REJECT_BAD_SIGNATURE,
        receipt.REJECT_NO_SIGNATURE,
        receipt.REJECT_UNKNOWN_ACCOUNT,
    )
    return Case(
        When(rejected & Q(verified=True), then=Value(receipt.REJECT_MALFORMED)),
        When(rejected & Q(outcome__in=named), then=F("outcome")),
        When(
            rejected & Q(outcome__startswith=receipt.TOO_LARGE_OUTCOME),
            then=Value(receipt.REJECT_TOO_LARGE),
        ),
        When(rejected, then=Value(receipt.REJECT_MISCONFIGURED)),
        default=Value(""),
        output_field=CharField(),
    )


def hour_of(moment: datetime) -> datetime:
    """The whole UTC hour ``moment`` falls in."""
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


# -- charts: per hour ----------------------------------------------------------------------


@dataclass
class Hour:
    """One hour of callbacks and provider requests."""

    start: datetime
    callbacks: dict[str, int] = field(default_factory=dict)
    # Applied callbacks received this hour whose lag was at most each LAG_BUCKETS bound.
    lag: list[int] = field(default_factory=lambda: [0] * len(LAG_BUCKETS))
    requests: int = 0
    errors: int = 0
    # Requests started this hour that took at most each LATENCY_BUCKETS bound.
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    # Per merchant account: the recipe and key of its newest authentic callback of the
    # hour ("recipe", "key", "at": ISO time) and its refused callbacks by reason.
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def applied(self) -> int:
        return self.callbacks.get("applied", 0)

    @property
    def received(self) -> int:
        return sum(self.callbacks.values())

    def account(self, name: str) -> dict[str, Any]:
        return self.accounts.setdefault(name, {"recipe": "", "key": "", "at": "", "refused": {}})

    def stored(self) -> dict[str, Any]:
        """What ``HealthHour.summary`` keeps of it."""
        return {
            "callbacks": self.callbacks,
            "lag": self.lag,
            "requests": self.requests,
            "errors": self.errors,
            "latency": self.latency,
            "accounts": self.accounts,
        }

    @classmethod
    def from_stored(cls, start: datetime, summary: dict[str, Any]) -> Hour:
        hour = cls(start)
        hour.callbacks = dict(summary.get("callbacks", {}))
        hour.requests = int(summary.get("requests", 0))
        hour.errors = int(summary.get("errors", 0))
        hour.accounts = dict(summary.get("accounts", {}))
        # Buckets stored by an older release with other bounds are dropped, not misread.
        if len(summary.get("lag", ())) == len(LAG_BUCKETS):
            hour.lag = [int(n) for n in summary["lag"]]
        if len(summary.get("latency", ())) == len(LATENCY_BUCKETS):
            hour.latency = [int(n) for n in summary["latency"]]
        return hour


#: Hours that ended this long ago are summed once into a ``HealthHour`` row and read
#: from it; the later ones are summed live at each load. By then nearly every callback
#: of the hour is settled (a read backs off 10 minutes at most); one that settles later
#: (an outage of hours, staff applying a failed one again) keeps its earlier state on the
#: charts, while the numbers of the page always count live.
ROLLUP_DELAY = timedelta(hours=3)


def hours(now: datetime | None = None) -> list[Hour]:
    """The last ``HOURS`` hours, oldest first (the current hour last, so far).

    Hours summed before come from ``HealthHour`` (one query of at most ``HOURS`` rows);
    the others are summed now, by four queries grouped by hour over their time range
    (normally the last few hours only), and those older than ``ROLLUP_DELAY`` are kept
    for the next loads (one ``INSERT``; insert-only, a race of two loads is harmless).
    """
    now = now or dj_timezone.now()
    first = hour_of(now) - timedelta(hours=HOURS - 1)
    starts = [first + timedelta(hours=n) for n in range(HOURS)]
    kept = {
        _utc(start): Hour.from_stored(_utc(start), summary)
        for start, summary in HealthHour.objects.filter(hour__gte=first).values_list(
            "hour", "summary"
        )
    }
    missing = [start for start in starts if start not in kept]
    if missing:
        live = summed(missing[0], now)
        due = hour_of(now - ROLLUP_DELAY)
        keep = [
            HealthHour(hour=start, summary=live[start].stored())
            for start in missing
            if start < due and start in live
        ]
        if keep:
            HealthHour.objects.bulk_create(keep, ignore_conflicts=True)
        kept.update({start: hour for start, hour in live.items() if start not in kept})
    return [kept.get(start) or Hour(start) for start in starts]


def summed(since: datetime, now: datetime) -> dict[datetime, Hour]:
    """Every hour from ``since`` (a whole hour) to ``now``, summed from the callbacks
    and the records of requests: four queries grouped by hour in the database."""
    table = {}
    start = since
    while start <= now:
        table[start] = Hour(start)
        start += timedelta(hours=1)
    lag = ExpressionWrapper(F("processed_at") - F("received_at"), output_field=DurationField())
    applied = Q(state=APPLIED)
    lag_counts = {
        f"lag{n}": Count(
            "pk",
            filter=applied
            & Q(LessThanOrEqual(lag, Value(timedelta(seconds=bound), DurationField()))),
        )
        for n, bound in enumerate(LAG_BUCKETS)
    }
    hour_of_event = TruncHour("received_at", tzinfo=timezone.utc)
    events = CallbackEvent.objects.filter(received_at__gte=since)
    rows = (
        events.annotate(hour=hour_of_event, reason=refusal_reason_sql())
        .values("hour", "state", "reason")
        .annotate(n=Count("pk"), **lag_counts)
        .order_by()
    )
    for row in _rows(rows):
        hour = table.get(_utc(row["hour"]))
        if hour is None:  # received in the future (a clock ahead): not drawn
            continue
        key = f"refused:{row['reason']}" if row["reason"] else str(row["state"])
        hour.callbacks[key] = hour.callbacks.get(key, 0) + row["n"]
        for n in range(len(LAG_BUCKETS)):
            hour.lag[n] += row[f"lag{n}"]
    latency_counts = {
        f"ms{n}": Count("pk", filter=Q(milliseconds__lte=bound))
        for n, bound in enumerate(LATENCY_BUCKETS)
    }
    requests = (
        ProviderRequest.objects.filter(started_at__gte=since)
        .annotate(hour=TruncHour("started_at", tzinfo=timezone.utc))
        .values("hour")
        .annotate(
            n=Count("pk"), errors=Count("pk", filter=~Q(result__in=ANSWERED)), **latency_counts
        )
        .order_by()
    )
    for row in _rows(requests):
        hour = table.get(_utc(row["hour"]))
        if hour is None:
            continue
        hour.requests += row["n"]
        hour.errors += row["errors"]
        for n in range(len(LATENCY_BUCKETS)):
            hour.latency[n] += row[f"ms{n}"]
    recipes = (
        events.filter(verified=True)
        .annotate(hour=hour_of_event)
        .values("hour", "account", "signature_variant", "key_fingerprint")
        .annotate(last=Max("received_at"))
        .order_by()
    )
    for row in _rows(recipes):
        hour = table.get(_utc(row["hour"]))
        if hour is None:
            continue
        entry = hour.account(row["account"])
        at = _utc(row["last"]).isoformat()
        if at > entry["at"]:
            entry.update(recipe=row["signature_variant"], key=row["key_fingerprint"], at=at)
    # Refused callbacks are few: the partial index of unverified ones, and the state
    # index for the authentic ones refused as malformed.
    refused = (
        events.filter(state=CallbackEvent.State.REJECTED)
        .annotate(hour=hour_of_event, reason=refusal_reason_sql())
        .values("hour", "account", "reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in _rows(refused):
        hour = table.get(_utc(row["hour"]))
        if hour is None:
            continue
        counts = hour.account(row["account"])["refused"]
        counts[row["reason"]] = counts.get(row["reason"], 0) + row["n"]
    return table


def _rows(query: Any) -> Iterable[dict[str, Any]]:
    """The rows of a ``values()`` query, as plain dicts to the type checker."""
    return cast(Iterable[dict[str, Any]], query)


def _utc(value: datetime) -> datetime:
    if dj_timezone.is_naive(value):
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def quantile(
    q: float, bounds: Sequence[float], cumulative: Sequence[int], total: int
) -> float | None:
    """The ``q`` quantile (0 to 1) of ``total`` values of which ``cumulative[i]`` were at
    most ``bounds[i]``, interpolated linearly within its bucket; None without values.
    Beyond the last bound, the last bound (the value is at least that)."""
    if total <= 0:
        return None
    rank = q * total
    index = bisect.bisect_left(list(cumulative), rank)
    if index >= len(bounds):
        return float(bounds[-1])
    below = cumulative[index - 1] if index else 0
    lower = bounds[index - 1] if index else 0.0
    inside = cumulative[index] - below
    if inside <= 0:
        return float(bounds[index])
    return float(lower + (bounds[index] - lower) * (rank - below) / inside)


def sum_hours(table: Sequence[Hour]) -> Hour:
    """The hours added up into one."""
    total = Hour(table[0].start if table else dj_timezone.now())
    for hour in table:
        for key, n in hour.callbacks.items():
            total.callbacks[key] = total.callbacks.get(key, 0) + n
        total.lag = [a + b for a, b in zip(total.lag, hour.lag, strict=True)]
        total.requests += hour.requests
        total.errors += hour.errors
        total.latency = [a + b for a, b in zip(total.latency, hour.latency, strict=True)]
    return total


def lag_quantile(hour: Hour, q: float) -> float | None:
    """Seconds from receipt to applied of the ``q`` quantile of ``hour``'s applied callbacks."""
    return quantile(q, LAG_BUCKETS, hour.lag, hour.applied)


def latency_quantile(hour: Hour, q: float) -> float | None:
    """Milliseconds of the ``q`` quantile of ``hour``'s requests to KUNA Pay."""
    return quantile(q, LATENCY_BUCKETS, hour.latency, hour.requests)


# -- numbers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """Authentic callbacks waiting for a read: how many (up to ``COUNT_CAP`` + 1), and
    when the oldest arrived."""

    count: int
    oldest: datetime | None

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP

    def age(self, now: datetime | None = None) -> timedelta | None:
        if self.oldest is None:
            return None
        return max(timedelta(0), (now or dj_timezone.now()) - self.oldest)


def pending() -> Pending:
    waiting = queue.pending()
    oldest = waiting.order_by("received_at").values_list("received_at", flat=True).first()
    if oldest is None:
        return Pending(0, None)
    return Pending(waiting.order_by().values("pk")[: COUNT_CAP + 1].count(), oldest)


@dataclass(frozen=True)
class Attention:
    """Invoices created in the last ``ATTENTION_DAYS`` days a person should look at,
    and the orders flagged for reconciliation (each count stops past ``COUNT_CAP``)."""

    since: datetime
    overpaid: int
    partly_paid: int
    paid_late: int
    # A create whose answer never came: looked up by the sweep (a person if it fails).
    lookup_owed: int
    # What the provider holds for the order differs from it: for a person.
    reconciliation_issue: int


def attention(now: datetime | None = None) -> Attention:
    """Two queries over partial indexes of the rows concerned, on a bad day a few more."""
    since = (now or dj_timezone.now()) - timedelta(days=ATTENTION_DAYS)
    overpaid, partly, late = _count_each(
        Invoice.objects.filter(NEEDS_A_PERSON, created_at__gte=since),
        Q(overpaid=True),
        Q(status=InvoiceStatus.PARTIALLY_PAID),
        Q(status=InvoiceStatus.PAID, expired_once=True),
    )
    owed, issues = _count_each(
        Order.objects.filter(Q(needs_reconciliation=True) | ~Q(reconciliation_issue="")),
        Q(needs_reconciliation=True),
        ~Q(reconciliation_issue=""),
    )
    return Attention(since, overpaid, partly, late, owed, issues)


def _count_each(rows: QuerySet[Any], *kinds: Q) -> list[int]:
    """How many of ``rows`` are of each kind, each count stopping one past ``COUNT_CAP``.

    One read of at most ``COUNT_CAP`` rows per kind tells every count while it ends
    short. A full read may have left out rows of one kind for those of another (3,001
    overpaid invoices hide a partly paid one), so then each kind is counted on its own.
    """
    limit = COUNT_CAP * len(kinds) + 1
    flags = {
        f"kind_{n}": ExpressionWrapper(kind, output_field=BooleanField())
        for n, kind in enumerate(kinds)
    }
    read = list(rows.order_by().annotate(**flags).values_list(*flags)[:limit])
    if len(read) < limit:
        return [min(sum(bool(row[n]) for row in read), COUNT_CAP + 1) for n in range(len(kinds))]
    return [rows.filter(kind).order_by().values("pk")[: COUNT_CAP + 1].count() for kind in kinds]


@dataclass(frozen=True)
class Sweeps:
    """The latest sweep run, and the runs of the last 24 hours."""

    latest: SweepRun | None
    runs_today: int
    failures_today: int

    def age(self, now: datetime | None = None) -> timedelta | None:
        if self.latest is None:
            return None
        return max(timedelta(0), (now or dj_timezone.now()) - self.latest.finished_at)


def sweeps(now: datetime | None = None) -> Sweeps:
    now = now or dj_timezone.now()
    latest = SweepRun.objects.order_by("-finished_at", "-pk").first()
    if latest is None:
        return Sweeps(None, 0, 0)
    today = SweepRun.objects.filter(finished_at__gte=now - timedelta(days=1)).values("failures")
    counted = list(today[: COUNT_CAP + 1])
    return Sweeps(latest, len(counted), sum(row["failures"] for row in counted))


@dataclass
class AccountSignatures:
    """One merchant account's callbacks: the recipe and key that verified its newest
    authentic callback, and its callbacks refused in the last 24 hours and 7 days, by
    reason."""

    account: str
    recipe: str = ""
    key_fingerprint: str = ""
    verified_at: datetime | None = None
    refused_day: dict[str, int] = field(default_factory=dict)
    refused_week: dict[str, int] = field(default_factory=dict)

    @property
    def bad_signatures_day(self) -> int:
        return sum(self.refused_day.get(r, 0) for r in SIGNATURE_REASONS)

    @property
    def bad_signatures_week(self) -> int:
        return sum(self.refused_week.get(r, 0) for r in SIGNATURE_REASONS)


#: Refusals that are about the signature.
SIGNATURE_REASONS = (receipt.REJECT_BAD_SIGNATURE, receipt.REJECT_NO_SIGNATURE)


def signatures(table: Sequence[Hour]) -> list[AccountSignatures]:
    """Per account (the configured ones first, at most ``ACCOUNTS_SHOWN``, then others
    that callbacks were refused for, as many again), from the hours of ``hours()``."""
    names = list(conf.account_names())[:ACCOUNTS_SHOWN]
    found = {name: AccountSignatures(name) for name in names}
    for index, hour in enumerate(table):
        today = index >= len(table) - 24
        for name, seen in hour.accounts.items():
            entry = found.get(name)
            if entry is None:
                if not seen["refused"] or len(found) >= ACCOUNTS_SHOWN * 2:
                    continue  # a flood of posts for made-up account names: the list stays short
                entry = found[name] = AccountSignatures(name)
            if seen["at"] and (
                entry.verified_at is None or seen["at"] > entry.verified_at.isoformat()
            ):
                entry.recipe, entry.key_fingerprint = seen["recipe"], seen["key"]
                entry.verified_at = datetime.fromisoformat(seen["at"])
            for reason, n in seen["refused"].items():
                entry.refused_week[reason] = entry.refused_week.get(reason, 0) + n
                if today:
                    entry.refused_day[reason] = entry.refused_day.get(reason, 0) + n
    return list(found.values())


# -- for the health check --------------------------------------------------------------------


def provider_reachable(account: str = conf.DEFAULT_ACCOUNT) -> str:
    """Whether KUNA Pay answers ``account``'s keys: one authenticated read (the newest
    invoice of the list, ``GET /v1/invoice?take=1``) with the short timeouts. "" when it
    answered, else why not (never a key)."""
    try:
        get_client(account, fast=True).list_invoices(take=1)
    except KunaPayError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return ""


def oldest_pending_age(now: datetime | None = None) -> timedelta | None:
    """How long the oldest authentic pending callback has waited; None when none waits."""
    return pending().age(now)


def since_last_sweep(now: datetime | None = None) -> timedelta | None:
    """How long ago the latest sweep (or chunk of one) finished; None when none ever did."""
    latest = SweepRun.objects.order_by("-finished_at", "-pk").values_list("finished_at", flat=True)
    finished = latest.first()
    if finished is None:
        return None
    return max(timedelta(0), (now or dj_timezone.now()) - finished)


def thresholds() -> tuple[timedelta, timedelta]:
    """``HEALTH_PENDING_MAX_AGE`` and ``HEALTH_SWEEP_MAX_AGE`` as timedeltas."""
    return (
        timedelta(seconds=float(conf.get("HEALTH_PENDING_MAX_AGE"))),
        timedelta(seconds=float(conf.get("HEALTH_SWEEP_MAX_AGE"))),
    )


def report(now: datetime | None = None) -> dict[str, Any]:
    """Everything the health page shows, read at ``now``."""
    now = now or dj_timezone.now()
    table = hours(now)
    return {
        "now": now,
        "hours": table,
        "pending": pending(),
        "attention": attention(now),
        "sweeps": sweeps(now),
        "signatures": signatures(table),
        "recipes": conf.get("CALLBACK_SIGNATURE_RECIPES"),
        "thresholds": thresholds(),
    }
