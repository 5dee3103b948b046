"""Counts the app's signals in the worker processes, and can hold one in the middle."""

import os
import time

from django.apps import AppConfig

SIGNALS = ("invoice_paid", "order_paid", "deposit_received", "invoice_status_changed")


class WorkerTestsConfig(AppConfig):
    name = "tests.workers"
    label = "worker_tests"

    def ready(self):
        from django_invoices import signals

        for name in SIGNALS:
            getattr(signals, name).connect(_recorder(name), weak=False)


def _recorder(name):
    def record(sender, **kwargs):
        path = os.environ.get("SIGNAL_LOG")
        if not path:
            return
        # One line per signal, appended in one write: the count survives a killed process.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{name} {os.getpid()}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        hold = os.environ.get("HOLD_SIGNAL_FILE")
        if name == "invoice_paid" and hold:
            # The transaction has committed; the test kills the worker here.
            while os.path.exists(hold):
                time.sleep(0.05)

    return record
