"""The background-work guide (docs/howto/background.rst) runs as it reads, with real
workers started by the commands it gives.

Its code lives in docs/howto/background/ between "# [name]" and "# [end-name]" markers;
the page includes those regions. Each test makes a project with
``django-admin startproject shop``, installs the app as the tutorial does (its settings,
sandbox, URLs and checkout), adds the guide's settings and files for one task system,
and starts the development server and the guide's worker: a Celery worker on Redis
(``celery -A shop worker -Q celery,payments``), or django-tasks' ``db_worker``. KUNA Pay
is the project's embedded sandbox, which the worker reads over HTTP as it would the
provider. A signed PAID callback is acknowledged at once, still pending, and the worker
applies it within seconds.

They need Redis (``REDIS_URL``, else Debian's ``redis-server`` on a free port) for Celery
and django-tasks-db for ``db_worker``; without them they are skipped, unless
``REQUIRE_WORKERS=1`` (``make test-workers``, run by ``.ci/run``), when they fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import django
import pytest

from django_invoices.signing import sign_callback

from .guides import Guide, Shell, free_port, wait_for

GUIDE = Guide("howto/background")
TUTORIAL = Guide("tutorial")
DJANGO_6 = django.VERSION >= (6, 0)
# The tutorial's sandbox key, with which the sandbox signs and the shop verifies.
PRIVATE_KEY = "sandbox-private-key"
# How long a paid callback may wait for its worker, and the test for everything.
APPLIED_WITHIN = 10
TIMEOUT = 180


class TookTooLong(Exception):
    pass


@pytest.fixture(autouse=True)
def bounded():
    """Each test, processes and all, ends within TIMEOUT seconds."""

    def expire(signum, frame):
        raise TookTooLong(f"the test ran for more than {TIMEOUT} seconds")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIMEOUT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def missing(*needs: str) -> str:
    for module in needs:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[dev]')"
    if "redis" in needs and not os.environ.get("REDIS_URL") and not shutil.which("redis-server"):
        return "no REDIS_URL and no redis-server (apt-get install redis-server)"
    return ""


def needs(*modules: str) -> None:
    reason = missing(*modules)
    if not reason:
        return
    if os.environ.get("REQUIRE_WORKERS") == "1":
        pytest.fail(f"REQUIRE_WORKERS=1 but the guide's workers cannot run: {reason}")
    pytest.skip(reason)


# -- the page ----------------------------------------------------------------------------

CELERY = [
    ("commands.sh", "install-celery"),
    ("celery.py", "celery-app"),
    ("package_init.py", "celery-init"),
    ("settings.py", "celery-settings"),
    ("commands.sh", "celery-worker"),
    ("settings.py", "celery-beat"),
]
TASKS_DB = [
    ("commands.sh", "install-tasks-db"),
    ("settings.py", "tasks-db-settings"),
    ("commands.sh", "install-tasks-db-django52"),
    ("settings.py", "tasks-db-settings-django52"),
    ("commands.sh", "tasks-db-worker"),
]
OTHERS = [("settings.py", "sqlite-settings"), ("queue.py", "enqueue"), ("crontab", "cron")]


def test_the_page_shows_exactly_the_regions_the_tests_run():
    shown = GUIDE.regions()
    assert sorted(shown) == sorted([*CELERY, *TASKS_DB, *OTHERS])
    # Each system's steps in the order the tests take them.
    assert [pair for pair in shown if pair in CELERY] == CELERY
    assert [pair for pair in shown if pair in TASKS_DB] == TASKS_DB


def test_the_celery_worker_listens_to_the_queue_the_routes_name():
    """Issue 20: with the guide's routes, the usual ``celery -A shop worker`` listened to
    Celery's default queue only, and the callback's task waited in Redis unseen."""
    routes = GUIDE.region("settings.py", "celery-settings")
    queues = set(re.findall(r'"queue": "(\w+)"', routes))
    (worker,) = Shell(Path(), {}).lines(GUIDE.region("commands.sh", "celery-worker"))
    listened = shlex.split(worker)[shlex.split(worker).index("-Q") + 1].split(",")
    assert queues == {"payments"}
    assert set(listened) == {"celery", *queues}


# -- a project made as the guide says ------------------------------------------------------


class Project:
    """``startproject shop``, the tutorial's app and sandbox, the guide's additions."""

    def __init__(self, root: Path, env: dict[str, str], installs: tuple[str, ...]):
        self.shell = Shell(root, env, installs=installs)
        self.env = env
        self.port = int(env["SHOP_BASE_URL"].rsplit(":", 1)[1])
        self.url = env["SHOP_BASE_URL"]

    @property
    def package(self) -> Path:
        return self.shell.cwd / "shop"

    def start(self) -> None:
        self.shell.run("django-admin startproject shop\ncd shop")
        for name in ("settings", "sandbox-settings"):
            self.append_settings(TUTORIAL.region("settings.py", name))
        for name in ("urls", "views"):
            (self.package / f"{name}.py").write_text(
                TUTORIAL.region(f"{name}.py", name), encoding="utf-8"
            )

    def append_settings(self, code: str) -> None:
        settings = self.package / "settings.py"
        settings.write_text(settings.read_text(encoding="utf-8") + "\n" + code, encoding="utf-8")

    def manage(self, script: str) -> str:
        """``manage.py shell`` runs ``script``; its output."""
        done = subprocess.run(
            [*self.shell.argv("python manage.py shell --no-imports"), "-c", script],
            cwd=self.shell.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    @contextmanager
    def process(self, line: str, log: Path, ready: str, *extra: str) -> Iterator[subprocess.Popen]:
        """The page's command ``line`` running, once ``ready`` is in its output."""
        with log.open("w") as out:
            child = subprocess.Popen(
                [*self.shell.argv(line), *extra],
                cwd=self.shell.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 60
            while ready not in log.read_text(errors="replace"):
                if child.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{line} did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.1)
            yield child
        finally:
            stop(child)

    @contextmanager
    def serving(self, log: Path) -> Iterator[None]:
        """The tutorial's ``runserver`` on this project's port: the shop and its sandbox."""
        (line,) = self.shell.lines(TUTORIAL.region("commands.sh", "run"))
        with log.open("w") as out:
            server = subprocess.Popen(
                [*self.shell.argv(line), f"127.0.0.1:{self.port}", "--noreload"],
                cwd=self.shell.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(f"{self.url}/checkout/", server, log, seconds=60)
            yield
        finally:
            stop(server)


def stop(child: subprocess.Popen) -> None:
    """The process and whatever it started (Celery's pool), gone."""
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(5)
    with suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)  # a pool child left behind


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DATABASE", "KUNAPAY_", "SHOP_", "CELERY_"))
    }
    env.update(
        SHOP_BASE_URL=f"http://127.0.0.1:{free_port()}",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


# The sandbox's invoice, already PAID there, and the shop's order and invoice for it: what
# the shop holds once a customer paid and before the callback says so.
PAID_AT_KUNA_PAY = """
import json
from datetime import timedelta
from decimal import Decimal
from django.conf import settings
from django.utils import timezone
from django_invoices.models import Invoice, Order
from django_invoices.sandbox import conf
from django_invoices.sandbox.models import SandboxInvoice

base = settings.DJANGO_INVOICES["BASE_URL"]
remote = SandboxInvoice.objects.create(
    merchant=conf.credentials()[0].merchant,
    status="PAID",
    amount=Decimal("42.50"),
    asset="EUR",
    external_order_id="G-1",
    callback_url=base + "/invoices/callback/default/",
    expire_at=timezone.now() + timedelta(hours=1),
    completed_at=timezone.now(),
)
order = Order.objects.create(external_order_id="G-1", amount=Decimal("42.50"), asset="EUR")
Invoice.objects.create(
    provider_id=remote.pk, order=order, invoice_amount=order.amount, invoice_asset="EUR"
)
print(json.dumps(str(remote.pk)))
"""

STATE = """
import json
from django_invoices.models import CallbackEvent, Order
print(json.dumps({
    "events": sorted(e.state for e in CallbackEvent.objects.all()),
    "order": Order.objects.get(external_order_id="G-1").status,
    "applied_at": max(
        (e.processed_at.timestamp() for e in CallbackEvent.objects.all() if e.processed_at),
        default=None,
    ),
}))
"""
APPLIED = {"events": ["applied"], "order": "paid"}


def post_paid(url: str, invoice_id: str) -> dict:
    body = json.dumps({"event": "Invoice", "data": {"id": invoice_id, "status": "PAID"}}).encode()
    request = urllib.request.Request(
        f"{url}/invoices/callback/default/",
        data=body,
        headers={
            "Content-Type": "application/json",
            "kun-signature": sign_callback(PRIVATE_KEY, body),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def state(project: Project) -> dict:
    """The callback events' states and the order's status (and when the last event was
    applied, by the worker's clock)."""
    return json.loads(project.manage(STATE).strip().splitlines()[-1])


def wait_until_applied(project: Project, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        now = state(project)
        applied_at = now.pop("applied_at")
        if now == APPLIED or time.monotonic() > deadline:
            return {**now, "applied_at": applied_at}
        time.sleep(0.3)


def paid_callback_is_applied(project: Project, worker: subprocess.Popen, log: Path) -> float:
    """Posts a signed PAID callback; the seconds until the worker applied it."""
    invoice_id = json.loads(project.manage(PAID_AT_KUNA_PAY).strip().splitlines()[-1])
    sent = time.time()
    # Acknowledged at once, with no read of KUNA Pay inside the request.
    assert post_paid(project.url, invoice_id)["state"] == "pending"
    # Polled through manage.py (seconds each on a busy machine) for longer than the
    # bound; the event's own processed_at says when the worker applied it.
    now = wait_until_applied(project, 3 * APPLIED_WITHIN)
    applied_at = now.pop("applied_at")
    assert now == APPLIED, log.read_text(errors="replace")
    assert worker.poll() is None, log.read_text(errors="replace")
    return applied_at - sent


# -- Celery on Redis ---------------------------------------------------------------------


@pytest.fixture
def redis_url(tmp_path):
    """REDIS_URL, emptied, or a private redis-server on a free loopback port."""
    needs("celery", "redis")
    import redis

    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        port = free_port()
        server = subprocess.Popen(
            [
                *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(tmp_path)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while True:
        try:
            redis.Redis.from_url(url).flushdb()
            break
        except redis.ConnectionError as exc:
            if time.monotonic() > deadline:
                if server is None and os.environ.get("REQUIRE_WORKERS") != "1":
                    pytest.skip(f"no Redis at REDIS_URL: {exc}")
                raise
            time.sleep(0.1)
    yield url
    if server is not None:
        server.terminate()
        server.wait(10)


@pytest.mark.workers
def test_the_guides_celery_worker_applies_a_paid_callback(tmp_path, redis_url):
    env = environment(tmp_path, CELERY_BROKER_URL=redis_url)
    project = Project(tmp_path, env, installs=("django-invoices[celery]",))
    project.shell.run(GUIDE.region("commands.sh", "install-celery"))
    project.start()
    project.append_settings(GUIDE.region("settings.py", "sqlite-settings"))
    project.append_settings(GUIDE.region("settings.py", "celery-settings"))
    project.append_settings(GUIDE.region("settings.py", "celery-beat"))
    (project.package / "celery.py").write_text(
        GUIDE.region("celery.py", "celery-app"), encoding="utf-8"
    )
    init = project.package / "__init__.py"
    init.write_text(
        init.read_text(encoding="utf-8") + GUIDE.region("package_init.py", "celery-init"),
        encoding="utf-8",
    )
    project.shell.run(TUTORIAL.region("commands.sh", "migrate"))

    (worker_line,) = project.shell.lines(GUIDE.region("commands.sh", "celery-worker"))
    with project.serving(tmp_path / "server.log"):
        log = tmp_path / "celery.log"
        with project.process(worker_line, log, "ready.") as worker:
            # The worker knows every task of the app, the beat schedule's among them.
            assert "django_invoices.process_pending_callbacks" in log.read_text()
            took = paid_callback_is_applied(project, worker, log)
            assert took <= APPLIED_WITHIN

            # The shop's own code queues jobs as the page shows, and the sweep's cron
            # command runs (here it queues nothing: the invoice was just read).
            project.manage(GUIDE.region("queue.py", "enqueue"))
            (cron,) = GUIDE.region("crontab", "cron").splitlines()
            command = re.fullmatch(r"(?:\S+\s+){5}cd \S+ && \S+/bin/(python .*)", cron).group(1)
            assert "Nothing to read" in project.shell.run(command)
            after = state(project)
            assert (after["events"], after["order"]) == (["applied"], "paid")
        assert "ERROR" not in log.read_text(), log.read_text()


# -- django-tasks' database backend -------------------------------------------------------


@pytest.mark.workers
def test_the_guides_db_worker_applies_a_paid_callback(tmp_path):
    needs("django_tasks_db", *(() if DJANGO_6 else ("django_tasks",)))
    suffix = "" if DJANGO_6 else "-django52"
    install = GUIDE.region("commands.sh", f"install-tasks-db{suffix}")
    env = environment(tmp_path)
    project = Project(tmp_path, env, installs=tuple(shlex.split(install)[2:]))
    project.shell.run(install)
    # A shop that runs already (migrated as the tutorial says), then the guide's settings:
    # only the guide's own migrate creates the backend's table.
    project.start()
    project.shell.run(TUTORIAL.region("commands.sh", "migrate"))
    project.append_settings(GUIDE.region("settings.py", "sqlite-settings"))
    project.append_settings(GUIDE.region("settings.py", f"tasks-db-settings{suffix}"))

    *setup, worker_line = project.shell.lines(GUIDE.region("commands.sh", "tasks-db-worker"))
    assert setup == ["python manage.py migrate"]
    project.shell.run("\n".join(setup))
    with project.serving(tmp_path / "server.log"):
        log = tmp_path / "db_worker.log"
        with project.process(worker_line, log, "Starting worker") as worker:
            took = paid_callback_is_applied(project, worker, log)
            assert took <= APPLIED_WITHIN


def test_ci_runs_these_tests_with_real_workers_required():
    """``.ci/run`` starts Redis and runs ``make test-workers``, which runs this file with
    REQUIRE_WORKERS=1: a missing worker fails CI instead of skipping."""
    root = GUIDE.page.parents[2]
    recipe = (root / "Makefile").read_text().split("test-workers: $(STAMP)")[1].split("\n\n")[0]
    assert re.search(
        r"REQUIRE_WORKERS=1 timeout \d+ \S+ -m pytest -q tests/test_guide_background\.py", recipe
    )
    assert "REDIS_URL=redis://" in (root / ".ci" / "run").read_text()
    assert "make test-workers" in (root / ".ci" / "run").read_text()
