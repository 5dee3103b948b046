"""``make demo-worker`` as it ships: the example shop with django-tasks' database worker
on SQLite and the local-memory cache applies every paid callback within seconds, and a
lost wake-up costs at most the deferred check's ten seconds.

The processes are the Makefile's: the same settings (``demo.env`` and
``DEMO_WORKER=1``), ``manage.py db_worker --interval 0.5 --no-reload`` and
``runserver``, here on a free port and temporary SQLite files. KUNA Pay is the shop's
embedded sandbox, which the worker reads over HTTP as it would the provider.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from django_invoices.signing import sign_callback

from .example_shop import EXAMPLE, ROOT, clean_env, demo_env, free_port, serving

pytest.importorskip("django_tasks_db")

CHECK_SECONDS = 10  # services.queue.WAKE_CHECK

SETUP = """
import json
from datetime import timedelta
from decimal import Decimal
from django.conf import settings
from django.utils import timezone
from django_invoices.models import Invoice, Order
from django_invoices.sandbox import conf
from django_invoices.sandbox.models import SandboxInvoice

base = settings.DJANGO_INVOICES["BASE_URL"]
ids = []
for n in range(%(count)d):
    remote = SandboxInvoice.objects.create(
        merchant=conf.credentials()[0].merchant,
        status="PAID",
        amount=Decimal("24.90"),
        asset="EUR",
        external_order_id="W-%%d" %% n,
        callback_url=base + "/invoices/callback/default/",
        expire_at=timezone.now() + timedelta(hours=1),
        completed_at=timezone.now(),
    )
    order = Order.objects.create(
        external_order_id="W-%%d" %% n, amount=Decimal("24.90"), asset="EUR"
    )
    Invoice.objects.create(
        provider_id=remote.pk, order=order, invoice_amount=order.amount, invoice_asset="EUR"
    )
    ids.append(str(remote.pk))
print(json.dumps(ids))
"""

STATES = """
import json
from django_invoices.models import CallbackEvent
print(json.dumps([
    [str(e.invoice.provider_id), e.state, e.processed_at.timestamp() if e.processed_at else None]
    for e in CallbackEvent.objects.select_related("invoice").order_by("pk")
]))
"""

DROP_WAKE_UP = """
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
# The wake-up runs at once (the backend writes "no run_after" as the year 9999); the
# deferred check, ten seconds on.
lost = DBTaskResult.objects.filter(status="READY", run_after__year=9999)
print(lost.delete()[0])
"""


@pytest.fixture
def shop(tmp_path):
    """The demo's environment in worker mode, migrated, on temporary SQLite files."""
    env = clean_env(
        **demo_env(),
        DEMO_WORKER="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SANDBOX_DATABASE_PATH=str(tmp_path / "sandbox.sqlite3"),
        PYTHONPATH=str(ROOT),
    )
    port = free_port()
    env["SHOP_BASE_URL"] = f"http://127.0.0.1:{port}"
    for args in (["migrate", "--noinput"], ["migrate", "--noinput", "--database", "sandbox"]):
        manage(env, *args)
    manage(env, "demo_setup")
    return env, port


def manage(env, *args, script=None):
    command = [sys.executable, "manage.py", *args]
    if script is not None:
        command = [sys.executable, "manage.py", "shell", "-c", script]
    done = subprocess.run(command, cwd=EXAMPLE, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # The script's own output is its last line (Django's shell may say what it imported).
    return done.stdout.strip().splitlines()[-1] if script is not None else done.stdout


@contextmanager
def db_worker(env, log_path: Path):
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--interval", "0.5", "--no-reload"],
            cwd=EXAMPLE,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield worker
        finally:
            worker.terminate()
            worker.wait(10)


def post_paid(url, invoice_id):
    import urllib.request

    body = json.dumps({"event": "Invoice", "data": {"id": invoice_id, "status": "PAID"}}).encode()
    request = urllib.request.Request(
        f"{url}/invoices/callback/default/",
        data=body,
        headers={
            "Content-Type": "application/json",
            "kun-signature": sign_callback(demo_env()["KUNAPAY_PRIVATE_KEY"], body),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for_states(env, expected, seconds):
    deadline = time.monotonic() + seconds
    while True:
        states = json.loads(manage(env, script=STATES))
        if sorted(state for _, state, _ in states) == expected or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def test_the_makefile_runs_the_demo_worker_as_this_test_does():
    recipe = (ROOT / "Makefile").read_text().split("demo-worker: $(STAMP)")[1].split("\n\n")[0]
    assert "DEMO_WORKER=1" in recipe
    assert re.search(r"manage\.py db_worker --interval 0\.5 --no-reload", recipe)
    assert "manage.py runserver" in recipe


def test_make_demo_worker_applies_three_paid_callbacks_five_seconds_apart_within_fifteen_seconds(
    shop, tmp_path
):
    env, port = shop
    ids = json.loads(manage(env, script=SETUP % {"count": 3}))
    with serving(env, port, tmp_path / "server.log") as url, db_worker(env, tmp_path / "w.log"):
        sent = {}
        for n, invoice_id in enumerate(ids):
            if n:
                time.sleep(5)
            sent[invoice_id] = time.time()
            assert post_paid(url, invoice_id)["state"] == "pending"
        states = wait_for_states(env, ["applied"] * 3, 20)
    assert sorted(state for _, state, _ in states) == ["applied"] * 3, states
    for invoice_id, _state, applied in states:
        assert applied - sent[invoice_id] <= 15, (invoice_id, applied - sent[invoice_id])


def test_make_demo_worker_applies_a_callback_whose_wake_up_was_lost_within_the_check(
    shop, tmp_path
):
    env, port = shop
    [invoice_id] = json.loads(manage(env, script=SETUP % {"count": 1}))
    with serving(env, port, tmp_path / "server.log") as url:
        sent = time.time()
        assert post_paid(url, invoice_id)["state"] == "pending"
        assert manage(env, script=DROP_WAKE_UP).strip() == "1"  # the message is lost
        with db_worker(env, tmp_path / "worker.log"):
            states = wait_for_states(env, ["applied"], CHECK_SECONDS + 10)
    [(_, state, applied)] = states
    assert state == "applied"
    assert CHECK_SECONDS - 1 <= applied - sent <= CHECK_SECONDS + 5
