"""Checks of the payments for django-health-check (the ``[healthcheck]`` extra).

List them with the shop's own checks in its health view::

    HealthCheckView.as_view(checks=[
        "health_check.checks.Database",
        "django_invoices.contrib.healthcheck.KunaPayReachable",
        "django_invoices.contrib.healthcheck.CallbacksFlowing",
        "django_invoices.contrib.healthcheck.SweepRunning",
    ])

- ``KunaPayReachable(account="default")``: KUNA Pay answers an authenticated read with
  the account's keys (``GET /v1/invoice?take=1``, the short timeouts of a callback's
  read); a refused key, a timeout or a 5xx makes the check fail.
- ``CallbacksFlowing(max_age=None)``: the oldest authentic callback still waiting for a
  read is younger than ``max_age`` (default ``HEALTH_PENDING_MAX_AGE``).
- ``SweepRunning(max_age=None)``: a sweep (``invoices_sync``, or a chunk of it on a
  task worker) finished within ``max_age`` (default ``HEALTH_SWEEP_MAX_AGE``).

They read through ``django_invoices.services.health``, in the thread of the health
view's request (``sync_to_async`` with ``thread_sensitive``): no database connection is
left open in a thread of the view's executor. Messages never carry a key.
"""

from __future__ import annotations

import dataclasses
import datetime

from asgiref.sync import sync_to_async
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from .. import conf
from ..services import health


def _seconds(delta: datetime.timedelta) -> str:
    return f"{delta.total_seconds():.0f} s"


@dataclasses.dataclass
class KunaPayReachable(HealthCheck):
    """KUNA Pay answers the account's keys."""

    account: str = conf.DEFAULT_ACCOUNT

    async def run(self) -> None:
        await sync_to_async(self.check, thread_sensitive=True)()

    def check(self) -> None:
        problem = health.provider_reachable(self.account)
        if problem:
            raise ServiceUnavailable(f"KUNA Pay, account {self.account!r}: {problem}")


@dataclasses.dataclass
class CallbacksFlowing(HealthCheck):
    """No authentic callback has waited for a read longer than ``max_age``."""

    max_age: datetime.timedelta | None = None

    async def run(self) -> None:
        await sync_to_async(self.check, thread_sensitive=True)()

    def check(self) -> None:
        limit = self.max_age if self.max_age is not None else health.thresholds()[0]
        age = health.oldest_pending_age()
        if age is not None and age > limit:
            raise ServiceUnavailable(
                f"the oldest pending callback has waited {_seconds(age)}, "
                f"more than {_seconds(limit)}"
            )


@dataclasses.dataclass
class SweepRunning(HealthCheck):
    """A sweep finished within ``max_age``."""

    max_age: datetime.timedelta | None = None

    async def run(self) -> None:
        await sync_to_async(self.check, thread_sensitive=True)()

    def check(self) -> None:
        limit = self.max_age if self.max_age is not None else health.thresholds()[1]
        age = health.since_last_sweep()
        if age is None:
            raise ServiceUnavailable("no sweep (invoices_sync) has ever finished")
        if age > limit:
            raise ServiceUnavailable(
                f"the last sweep finished {_seconds(age)} ago, more than {_seconds(limit)}"
            )
