"""Callbacks under load: the app under gunicorn on PostgreSQL, against hand-written
minimal receivers measured in the same run.

Run with ``make bench-server`` (or ``python bench/server.py``) with ``DATABASE_URL``
naming a PostgreSQL server. It creates ``test_<name>``, starts the stub provider
(``bench/stub_provider.py``) on 127.0.0.1, starts gunicorn on a free loopback port and
sends signed callbacks from a bounded number of concurrent senders, each case a fixed
number of requests (and never longer than ``--max-seconds``). It prints requests per
second, p50 and p99 latency, and the ratio to the minimal view (``bench/minimal.py``)
and to the re-reading one, the in-request mode's fair peer, which also reads the invoice
back from the provider with ``requests`` before writing it; then the bulk refresh
of invoices against a stub that answers in 100 ms, with N threads, against the ideal
``count x 0.1 s / N``. Prints figures; asserts nothing.

Worker mode (``--worker celery``, the default): a private ``redis-server`` on a free
loopback port (Debian's; or ``REDIS_URL``) is the cache and Celery's broker, gunicorn
runs with ``DJANGO_INVOICES["TASKS"] = "celery"`` and the callback view only verifies,
stores, queues and answers; then one Celery worker (``bench/celery_app.py``, one
process) applies the stored events against the 100 ms stub for ``--worker-seconds``;
and the bulk refresh runs as tasks too, on a Celery worker with N processes.
``--worker none`` leaves all that out. Other task systems plug in with
``--worker-settings '{"...": "..."}'`` (merged over ``DJANGO_INVOICES``) and
``--worker-command "..."`` (starts one worker with the same settings and database).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "test-private-key"  # PRIVATE_KEY of tests.settings, which the server runs with


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_group(process: subprocess.Popen[Any]) -> None:
    """Stop a process started in a group of its own, and its children: politely, then
    for good after 20 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def running(command: Sequence[str], env: dict[str, str], port: int | None = None) -> Iterator[Any]:
    """A child process for the block; stopped (its process group) afterwards."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE if port is None else subprocess.DEVNULL,
        stderr=None,
        text=True,
        start_new_session=True,
    )
    try:
        if port is not None:
            wait_for_port(port, process)
        yield process
    finally:
        stop_group(process)


@contextmanager
def stub_provider(delay: float) -> Iterator[str]:
    command = [sys.executable, "-m", "bench.stub_provider", "--delay", str(delay)]
    with running(command, dict(os.environ)) as process:
        line = process.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            raise RuntimeError("the stub provider did not start")
        yield f"http://127.0.0.1:{line[1]}"


def stub_reads(url: str) -> int:
    import requests

    return int(requests.get(f"{url}/stats", timeout=5).json()["reads"])


# -- CPU accounting ----------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds used so far by ``root`` and each child, by pid (Linux ``/proc``).

    Under a busy machine, wall-clock figures stretch; the CPU each request costs the
    app server and the database does not.
    """
    used = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        pid, ppid = int(stat.parent.name), int(fields[1])
        if root in (pid, ppid):
            used[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return used


def cpu_since(root: int, before: dict[int, float]) -> float:
    """CPU seconds used since ``before`` by the processes alive now (a process that
    ended meanwhile, such as a closed database connection, takes its share along)."""
    if not root:
        return 0.0
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in tree_cpu(root).items())


def postmaster_pid() -> int:
    """The PostgreSQL server's main process, if it runs on this machine (else 0)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        return int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


# -- data --------------------------------------------------------------------------------


def make_invoices(count: int, status: str = "awaiting_payment") -> list[str]:
    """``count`` fresh orders with one open invoice each; their provider ids."""
    from decimal import Decimal

    from django_invoices.models import Invoice, Order

    prefix = uuid.uuid4().hex[:8]
    orders = Order.objects.bulk_create(
        Order(
            external_order_id=f"L-{prefix}-{n}",
            amount=Decimal("42.5"),
            asset="EUR",
            status="awaiting_payment",
        )
        for n in range(count)
    )
    invoices = Invoice.objects.bulk_create(
        Invoice(
            provider_id=uuid.uuid4(),
            order=order,
            status=status,
            provider_status="PAYMENT_AWAITING",
            invoice_amount=Decimal("42.5"),
            invoice_asset="EUR",
        )
        for order in orders
    )
    return [str(invoice.provider_id) for invoice in invoices]


def paid_callback(invoice_id: str) -> tuple[bytes, dict[str, str]]:
    from django_invoices.signing import sign_callback

    body = json.dumps({"event": "Invoice", "data": {"id": invoice_id, "status": "PAID"}})
    raw = body.encode()
    return raw, {"Content-Type": "application/json", "kun-signature": sign_callback(KEY, raw)}


# -- load --------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    sent: int
    seconds: float
    latencies: list[float]
    answers: Counter[str]
    app_cpu: float = 0.0  # seconds, gunicorn's processes
    db_cpu: float = 0.0  # seconds, PostgreSQL's processes

    def per_request(self, seconds: float) -> float:
        return seconds / self.sent * 1000 if self.sent else 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def load(
    label: str,
    url: str,
    requests_: Sequence[tuple[bytes, dict[str, str]]],
    senders: int,
    max_seconds: float,
    answer: Callable[[Any], str] = lambda response: str(response.status_code),
    watch: tuple[int, int] = (0, 0),
) -> Result:
    """Send ``requests_`` from ``senders`` threads, each with its own session; ``watch``
    names the app server's and the database's main processes, whose CPU is counted."""
    import requests

    queue = list(reversed(requests_))
    lock = threading.Lock()
    latencies: list[float] = []
    answers: Counter[str] = Counter()
    deadline = time.monotonic() + max_seconds

    def sender() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    return
                body, headers = queue.pop()
            started = time.perf_counter()
            try:
                response = session.post(url, data=body, headers=headers, timeout=30)
                note = answer(response)
            except requests.RequestException as exc:
                note = type(exc).__name__
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                answers[note] += 1

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    app, db = watch
    cpu_before = (tree_cpu(app) if app else {}, tree_cpu(db) if db else {})
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    app_cpu = cpu_since(app, cpu_before[0])
    db_cpu = cpu_since(db, cpu_before[1])
    return Result(label, len(latencies), seconds, latencies, answers, app_cpu, db_cpu)


def state_of(response: Any) -> str:
    try:
        answer = response.json()
    except ValueError:
        return str(response.status_code)
    return f"{response.status_code} {answer.get('state') or answer}"


# -- the run -----------------------------------------------------------------------------


def database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def gunicorn(port: int, workers: int, env: dict[str, str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(ROOT),
        "--log-level",
        "warning",
        "django.core.wsgi:get_wsgi_application()",
    ]


def ratio(row: Result, baseline: Result) -> float:
    return row.rate / baseline.rate if baseline.rate else 0.0


def print_results(rows: list[Result], baseline: Result, reread: Result | None = None) -> None:
    """One line a row: its rate as a multiple of ``baseline`` (the minimal view) and, with
    ``reread``, of the re-reading minimal view too."""
    second = f"{'x reread':>9}" if reread else ""
    header = (
        f"{'':<46}{'req/s':>7}{'x min':>7}{second}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'app cpu':>8}{'db cpu':>7}  answers"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if reread:
            second = f"{ratio(row, reread):>9.2f}"
        answers = ", ".join(f"{n} x {note}" for note, n in row.answers.most_common())
        print(
            f"{row.label:<46}{row.rate:>7.0f}{ratio(row, baseline):>7.2f}{second}"
            f"{row.percentile(0.5):>8.1f}{row.percentile(0.99):>8.1f}{row.per_request(row.app_cpu):>8.1f}"
            f"{row.per_request(row.db_cpu):>7.1f}  {answers}"
        )
    print("(app cpu, db cpu: milliseconds of CPU per request in gunicorn and PostgreSQL)")


def callbacks_under_load(args: argparse.Namespace, env: dict[str, str]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ours = f"{base}/invoices/callback/default/"
    minimal = f"{base}/minimal/callback/"
    reread = f"{base}/minimal/reread/"
    n = args.requests
    print(
        f"gunicorn --workers {args.workers} (sync), {args.senders} concurrent senders, "
        f"{n} requests a case"
    )
    with stub_provider(0.0) as api:
        env = {**env, "BENCH_API_URL": api}
        with running(gunicorn(port, args.workers, env), env, port) as server:
            watch = (server.pid, postmaster_pid())
            # Warm-up: each worker imports, connects (to the stub too) and fills its caches.
            warm = [paid_callback(i) for i in make_invoices(args.workers * 30)]
            load("warm-up", ours, warm[::3], args.senders, 60)
            load("warm-up", minimal, warm[1::3], args.senders, 60)
            load("warm-up", reread, warm[2::3], args.senders, 60)

            fresh_minimal = [paid_callback(i) for i in make_invoices(n)]
            fresh_reread = [paid_callback(i) for i in make_invoices(n)]
            fresh_ours = [paid_callback(i) for i in make_invoices(n)]
            rows = [
                load("minimal view (HMAC, log row, lock+update)", minimal, fresh_minimal,
                     args.senders, args.max_seconds, state_of, watch),
            ]  # fmt: skip
            reads = [stub_reads(api)]
            rows.append(
                load("re-reading minimal (HMAC, log, GET, lock+upd)", reread, fresh_reread,
                     args.senders, args.max_seconds, state_of, watch)
            )  # fmt: skip
            reads.append(stub_reads(api))
            rows.append(
                load("in-request: PAID, fresh invoice, 1 API read", ours, fresh_ours,
                     args.senders, args.max_seconds, state_of, watch)
            )  # fmt: skip
            reads.append(stub_reads(api))
            repeated = paid_callback(make_invoices(1)[0])
            load("apply once", ours, [repeated], 1, 30)
            rows.append(
                load("in-request: the same PAID again (duplicate)", ours, [repeated] * n,
                     args.senders, args.max_seconds, state_of, watch)
            )  # fmt: skip
        print_results(rows, rows[0], rows[1])
        print(
            f"(stub API reads: re-reading minimal {reads[1] - reads[0]} for {rows[1].sent} "
            f"callbacks, in-request {reads[2] - reads[1]} for {rows[2].sent})"
        )
        print(
            f"in-request / re-reading minimal (its peer): {ratio(rows[2], rows[1]):.2f}; "
            f"/ minimal view: {ratio(rows[2], rows[0]):.2f}"
        )
        print()
        worker_mode(args, env)


def worker_settings(args: argparse.Namespace) -> str:
    if args.worker_settings:
        return str(args.worker_settings)
    return json.dumps({"TASKS": "celery"}) if args.worker == "celery" else ""


def celery_worker(concurrency: int) -> list[str]:
    return [
        sys.executable,
        *("-m", "celery", "-A", "bench.celery_app", "worker"),
        "--pool=prefork",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        f"--hostname=bench-{uuid.uuid4().hex[:8]}@%h",
    ]


@contextmanager
def task_worker(command: Sequence[str], env: dict[str, str], ready: str = "") -> Iterator[Any]:
    """A worker process for the block, its output in a temporary file; with ``ready``,
    started once that text shows in its output. Stopped (its process group) after."""
    with tempfile.NamedTemporaryFile("w+b", prefix="bench-worker-", suffix=".log") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while ready and ready.encode() not in Path(log.name).read_bytes():
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = Path(log.name).read_bytes()[-3000:].decode(errors="replace")
                    raise RuntimeError(f"the worker did not start:\n{tail}")
                time.sleep(0.1)
            yield process
        finally:
            stop_group(process)


def worker_mode(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Acknowledgement with a task backend, and one worker's rate."""
    chosen = worker_settings(args)
    if not chosen:
        print("worker backend: not measured (--worker none)")
        return
    command = shlex.split(args.worker_command) if args.worker_command else []
    ready = ""
    if not command and args.worker == "celery":
        command, ready = celery_worker(1), "ready."
    print(f"worker backend: DJANGO_INVOICES {chosen} (the view verifies, stores, queues, answers)")
    port = free_port()
    ours = f"http://127.0.0.1:{port}/invoices/callback/default/"
    minimal = f"http://127.0.0.1:{port}/minimal/callback/"
    env = {**env, "BENCH_INVOICES": chosen}
    rate = ""
    with stub_provider(0.1) as api:
        env["BENCH_API_URL"] = api
        with running(gunicorn(port, args.workers, env), env, port) as server:
            watch = (server.pid, postmaster_pid())
            warm = [paid_callback(i) for i in make_invoices(args.workers * 20)]
            load("warm-up", ours, warm[::2], args.senders, 60)
            load("warm-up", minimal, warm[1::2], args.senders, 60)
            fresh_minimal = [paid_callback(i) for i in make_invoices(args.requests)]
            fresh_ids = make_invoices(args.requests)
            fresh_ours = [paid_callback(i) for i in fresh_ids]
            rows = [
                load("minimal view (HMAC, log row, lock+update)", minimal, fresh_minimal,
                     args.senders, args.max_seconds, state_of, watch),
                load("worker backend: acknowledged, PAID, fresh", ours, fresh_ours,
                     args.senders, args.max_seconds, state_of, watch),
            ]  # fmt: skip
            # The same news again and again while a task is queued: each rides with it.
            # Measured before any worker runs, as the rows above, so all three are
            # measured under the same conditions.
            repeated = paid_callback(make_invoices(1)[0])
            load("queue once", ours, [repeated], 1, 30)
            rows.append(
                load("worker backend: the same PAID again (duplicate)", ours,
                     [repeated] * args.requests, args.senders, args.max_seconds, state_of, watch)
            )  # fmt: skip
            if command:
                rate = worker_rate(command, env, ready, api, args.worker_seconds, fresh_ids)
        print_results(rows, rows[0])
    print(rate or "one worker's rate: not measured (no --worker-command)")


def worker_rate(
    command: Sequence[str],
    env: dict[str, str],
    ready: str,
    api: str,
    seconds: float,
    invoice_ids: Sequence[str],
) -> str:
    """Events about ``invoice_ids`` (one each) one worker applies per second, the stub
    answering each read in 100 ms: counted from its first applied event, for
    ``seconds``. (The duplicates, settled together by one read, are not counted.)"""
    from django_invoices.models import CallbackEvent

    pending = CallbackEvent.objects.filter(
        state=CallbackEvent.State.PENDING, invoice__provider_id__in=list(invoice_ids)
    )
    before = pending.count()
    with task_worker(command, env, ready):
        deadline = time.monotonic() + 60
        while pending.count() == before and time.monotonic() < deadline:
            time.sleep(0.05)
        first, reads = pending.count(), stub_reads(api)
        started = time.perf_counter()
        while pending.exists() and time.perf_counter() - started < seconds:
            time.sleep(0.2)
        done, reads = first - pending.count(), stub_reads(api) - reads
        elapsed = time.perf_counter() - started
    return (
        f"one worker (1 process) against the 100 ms stub: {done} events in {elapsed:.1f} s = "
        f"{done / elapsed:.1f} events/s, {reads} API reads (ideal: 10 reads/s)"
    )


def bulk_refresh(args: argparse.Namespace, env: dict[str, str]) -> None:
    """``services.refresh_invoices`` of ``--refresh`` invoices, 100 ms per read."""
    from django.test.utils import override_settings

    from django_invoices import services
    from django_invoices.models import Invoice

    count = args.refresh
    print(
        f"bulk refresh of {count} invoices, stub answering each read in 100 ms "
        "(reads only: the same reads, nothing applied; cpu s: this process's CPU)"
    )
    header = (
        f"{'threads':>8}{'seconds':>9}{'ideal':>8}{'x ideal':>9}{'reads only':>12}"
        f"{'x ideal':>9}{'cpu s':>7}  outcomes"
    )
    print(header)
    print("-" * len(header))
    with stub_provider(0.1) as api:
        from django.conf import settings

        invoices_setting = {**settings.DJANGO_INVOICES, "API_URL": api}
        with override_settings(DJANGO_INVOICES=invoices_setting):
            for threads in args.threads:
                reads = reads_only(count, threads)
                ids = make_invoices(count)
                invoices = list(Invoice.objects.filter(provider_id__in=ids).order_by("pk"))
                started, cpu = time.perf_counter(), time.process_time()
                outcomes = services.refresh_invoices(invoices, max_workers=threads)
                seconds = time.perf_counter() - started
                cpu = time.process_time() - cpu
                ideal = count * 0.1 / threads
                summary = Counter(o.outcome for o in outcomes)
                print(
                    f"{threads:>8}{seconds:>9.2f}{ideal:>8.2f}{seconds / ideal:>9.2f}"
                    f"{reads:>12.2f}{reads / ideal:>9.2f}{cpu:>7.1f}  "
                    + ", ".join(f"{n} {outcome}" for outcome, n in summary.items())
                )
        if args.worker == "celery" and args.task_workers:
            refresh_as_tasks(args, env, api)


def refresh_as_tasks(args: argparse.Namespace, env: dict[str, str], api: str) -> None:
    """The same refresh queued as tasks (``refresh_invoices`` jobs of
    ``TASKS_CHUNK_SIZE`` invoices, each read one after the other) for a Celery worker
    with N processes, timed from the first task queued to the last invoice written."""
    from django.conf import settings
    from django.test.utils import override_settings

    import bench.celery_app  # noqa: F401  (the app the tasks are sent through)
    from django_invoices import background, conf
    from django_invoices.models import Invoice

    count = args.refresh
    chunk = int(conf.get("TASKS_CHUNK_SIZE"))
    print()
    tasks_queued = -(-count // chunk)  # rounded up: the last chunk may be smaller
    print(
        f"bulk refresh of {count} invoices as tasks ({tasks_queued} tasks of at most "
        f"{chunk}), a Celery worker with N processes (prefork), the same stub"
    )
    header = f"{'processes':>9}{'seconds':>9}{'ideal':>8}{'x ideal':>9}  outcomes"
    print(header)
    print("-" * len(header))
    # A queue of its own: the callbacks acknowledged earlier left their tasks queued.
    tasks = {"TASKS": "celery", "TASKS_QUEUE": f"bench-refresh-{uuid.uuid4().hex[:8]}"}
    queued = {**settings.DJANGO_INVOICES, "API_URL": api, **tasks}
    worker_env = {**env, "BENCH_API_URL": api, "BENCH_INVOICES": json.dumps(tasks)}
    for processes in args.task_workers:
        ids = make_invoices(count)
        pks = list(Invoice.objects.filter(provider_id__in=ids).values_list("pk", flat=True))
        waiting = Invoice.objects.filter(pk__in=pks, synced_at__isnull=True)
        command = [*celery_worker(processes), "--queues", tasks["TASKS_QUEUE"]]
        with task_worker(command, worker_env, "ready."):
            started = time.perf_counter()
            with override_settings(DJANGO_INVOICES=queued):
                background.enqueue_chunks("refresh_invoices", pks)
            deadline = time.monotonic() + args.max_seconds
            while waiting.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        ideal = count * 0.1 / processes
        left = waiting.count()
        paid = Invoice.objects.filter(pk__in=pks, status="paid").count()
        print(
            f"{processes:>9}{seconds:>9.2f}{ideal:>8.2f}{seconds / ideal:>9.2f}  "
            f"{count - left} refreshed ({paid} now paid), {left} not yet"
        )


def reads_only(count: int, threads: int) -> float:
    """Seconds for the same reads with nothing applied: what this machine allows."""
    from concurrent.futures import ThreadPoolExecutor

    from django_invoices import services

    def read(_: int) -> None:
        services.get_client().get_invoice(str(uuid.uuid4()))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(read, range(count)))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per case")
    parser.add_argument("--senders", type=int, default=6, help="concurrent senders")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--max-seconds", type=float, default=120, help="per case, at most")
    parser.add_argument("--refresh", type=int, default=1000, help="invoices to bulk refresh")
    parser.add_argument(
        "--threads", type=int, nargs="*", default=[4, 8, 16], help="bulk refresh pool sizes"
    )
    parser.add_argument(
        "--worker", default="celery", choices=["celery", "none"], help="the task system measured"
    )
    parser.add_argument(
        "--worker-seconds", type=float, default=20, help="one worker's rate measured this long"
    )
    parser.add_argument(
        "--task-workers", type=int, nargs="*", default=[8], help="processes, refresh as tasks"
    )
    parser.add_argument("--worker-settings", default="", help="JSON merged over DJANGO_INVOICES")
    parser.add_argument("--worker-command", default="", help="starts one task worker")
    parser.add_argument("--skip", nargs="*", default=[], choices=["callbacks", "refresh"])
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.server_settings"
    with redis_for(args):
        run(args)


@contextmanager
def redis_for(args: argparse.Namespace) -> Iterator[None]:
    """For ``--worker celery``: ``REDIS_URL``, or a private redis-server on a free
    loopback port (no persistence), stopped afterwards; its URL in ``BENCH_REDIS_URL``."""
    if args.worker != "celery":
        yield
        return
    if os.environ.get("REDIS_URL"):
        os.environ["BENCH_REDIS_URL"] = os.environ["REDIS_URL"]
        yield
        return
    if not shutil.which("redis-server"):
        sys.exit("--worker celery needs redis-server (apt-get install redis-server) or REDIS_URL")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no"]  # fmt: skip
    with running(command, dict(os.environ), port):
        os.environ["BENCH_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        yield


def run(args: argparse.Namespace) -> None:
    from bench import common

    common.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("bench/server.py needs DATABASE_URL naming a PostgreSQL server")
    old_name = connection.settings_dict["NAME"]
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.server_settings",
            "DATABASE_URL": database_url(name),
            "PYTHONPATH": str(ROOT),
        }
        print(
            f"django-invoices server bench: postgresql {common._server_version(connection)}, "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )
        print()
        if "callbacks" not in args.skip:
            callbacks_under_load(args, env)
            print()
        if "refresh" not in args.skip:
            bulk_refresh(args, env)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)


if __name__ == "__main__":
    main()
