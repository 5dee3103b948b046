"""Signals a shop connects to; each is sent once per real change, after commit.

- ``invoice_status_changed(sender=Invoice, invoice, old_status, new_status)``
- ``invoice_paid(sender=Invoice, invoice)``
- ``order_paid(sender=Order, order, invoice)``
- ``order_status_changed(sender=Order, order, old_status, new_status)``
"""

from django.dispatch import Signal

invoice_status_changed = Signal()
invoice_paid = Signal()
order_paid = Signal()
order_status_changed = Signal()

# deposit_received(sender=Deposit, deposit, invoice): once per new provider transaction.
deposit_received = Signal()
