"""Fixtures that start real processes: Redis, Celery and django-tasks workers, and the
stub provider they talk to.

The tests need PostgreSQL (DATABASE_URL), Debian's redis-server (or REDIS_URL), Celery,
django-tasks and django-tasks-db, and run with ``--ds=tests.workers.settings``
(``make test-workers``). Without them they are skipped, unless REQUIRE_WORKERS=1 (CI),
when a missing piece fails them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from .stub import StubProvider

ROOT = Path(__file__).resolve().parents[2]


def _missing() -> str:
    if os.environ.get("DJANGO_SETTINGS_MODULE") != "tests.workers.settings" and (
        django_settings.SETTINGS_MODULE != "tests.workers.settings"
    ):
        return "run with --ds=tests.workers.settings (make test-workers)"
    if django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "DATABASE_URL must name a PostgreSQL server"
    for module in ("celery", "redis", "django_tasks", "django_tasks_db"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[test]')"
    if not os.environ.get("REDIS_URL") and not shutil.which("redis-server"):
        return "no REDIS_URL and no redis-server (apt-get install redis-server)"
    return ""


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    if not reason:
        return
    if os.environ.get("REQUIRE_WORKERS") == "1":
        return  # _workers_available fails them instead
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _workers_available():
    reason = _missing()
    if reason:
        pytest.fail(f"REQUIRE_WORKERS=1 but the worker tests cannot run: {reason}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url():
    """REDIS_URL, or a private redis-server on a free loopback port."""
    server = None
    url = os.environ.get("REDIS_URL")
    if not url:
        port = free_port()
        server = subprocess.Popen(
            [
                *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    _wait_for_redis(url)
    yield url
    if server is not None:
        server.terminate()
        server.wait(10)


def _wait_for_redis(url, seconds=15):
    import redis

    deadline = time.monotonic() + seconds
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def cache_kind():
    """The shop's cache in the test (and in the workers it starts): "redis", "locmem"
    or "dummy" (see settings.py); a test parametrises it to run with each."""
    return "redis"


@pytest.fixture(autouse=True)
def _clear_cache(_workers_available, redis_url, settings, cache_kind):
    """Replaces the suite's own: Redis (the broker, and the cache unless the test runs
    with another) is emptied for each test."""
    import redis

    from .settings import CACHE_BACKENDS

    redis.Redis.from_url(redis_url).flushdb()
    chosen = dict(CACHE_BACKENDS[cache_kind])
    if cache_kind == "redis":
        chosen["LOCATION"] = redis_url
    settings.CACHES = {"default": chosen}
    settings.CELERY_BROKER_URL = redis_url


@pytest.fixture
def stub():
    with StubProvider() as provider:
        yield provider


@pytest.fixture
def signal_log(tmp_path):
    path = tmp_path / "signals.log"
    path.touch()

    def read():
        return [line.split()[0] for line in path.read_text().splitlines()]

    read.path = path
    return read


class Worker:
    """One worker process (and, for Celery, its pool's child)."""

    def __init__(self, argv, env, log: Path, ready_text: str):
        self.log = log
        # The child writes to its own copy of the handle; ours is closed at once.
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for(lambda: ready_text in self.output(), 60, f"worker ready ({ready_text!r})", self)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self, pid: int | None = None):
        os.kill(pid or self.process.pid, signal.SIGKILL)
        if pid is None:
            self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            # A cold shutdown: nothing of the test is left to finish.
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def wait_for(condition, seconds, what, worker=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if worker is not None and worker.process.poll() is not None:
            break
        time.sleep(0.05)
    detail = f"\n--- worker output ---\n{worker.output()[-4000:]}" if worker else ""
    raise AssertionError(f"timed out waiting for {what}{detail}")


@pytest.fixture
def start_worker(redis_url, stub, signal_log, tmp_path, cache_kind):
    """``start_worker(kind, **env)``: a Celery ("celery") or django-tasks database
    ("django.tasks") worker on the test database, with the test's cache, stopped at the
    end of the test."""
    started: list[Worker] = []

    def start(kind: str, **extra: str) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.workers.settings",
            "WORKER_DB_NAME": connection.settings_dict["NAME"],
            "REDIS_URL": redis_url,
            "STUB_URL": stub.url,
            "INVOICES_TASKS": kind,
            "INVOICES_CACHE": cache_kind,
            "SIGNAL_LOG": str(signal_log.path),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        log = tmp_path / f"worker-{len(started)}.log"
        if kind == "celery":
            argv = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests.workers.celery_app",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--hostname=tests-{len(started)}@%h",
            ]
            ready = "ready."
        else:
            argv = [
                sys.executable,
                "-m",
                "django",
                "db_worker",
                "--no-startup-delay",
                "--no-reload",
                "--interval",
                "0.1",
                "--verbosity",
                "2",
            ]
            ready = "Starting worker"
        worker = Worker(argv, env, log, ready)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
