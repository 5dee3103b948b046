"""The sandbox's late-callback thread closes its own database connections, in-memory
SQLite ones included (Django leaves those open, and Python 3.13 then warns about an
unclosed database when the thread's connection is collected)."""

import sqlite3
import threading

import pytest
from django.db import connection, connections

from django_invoices.models import Order
from django_invoices.sandbox import delivery


@pytest.mark.django_db(transaction=True)
def test_the_timer_threads_connection_is_closed_and_the_database_stays():
    seen = {}

    def work():
        own = connections["default"]
        own.ensure_connection()
        seen["raw"] = own.connection
        delivery._close_thread_connections()
        seen["after"] = own.connection

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)

    assert seen["raw"] is not None
    assert seen["after"] is None
    if connection.vendor == "sqlite":
        with pytest.raises(sqlite3.ProgrammingError):
            seen["raw"].execute("SELECT 1")
    # Everyone else's connection, and the in-memory database behind it, is still there.
    Order.objects.create(external_order_id="T-1", amount="1", asset="EUR")
    assert Order.objects.count() == 1


def test_a_thread_that_used_no_database_is_left_without_connections():
    seen = {}

    def work():
        delivery._close_thread_connections()
        seen["left"] = [c.alias for c in connections.all(initialized_only=True)]

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)

    assert seen["left"] == []
