"""Signals a shop connects to; each is sent once per real change, after commit.

- ``invoice_status_changed(sender=Invoice, invoice, old_status, new_status)``
- ``invoice_paid(sender=Invoice, invoice)``
- ``order_paid(sender=Order, order, invoice)``
- ``order_status_changed(sender=Order, order, old_status, new_status)``
- ``deposit_received(sender=Deposit, deposit, invoice)``

The odd endings of a crypto payment have their own signals, sent besides the ones above:

- ``invoice_partially_paid(sender=Invoice, invoice)``
- ``invoice_overpaid(sender=Invoice, invoice, expected, received)``: paid, and the
  deposits (in the payment asset) exceed ``payment_amount``
- ``invoice_paid_late(sender=Invoice, invoice)``: paid after it had expired
- ``invoice_declined(sender=Invoice, invoice)``: DECLINED or LIMITS_OUT_OF_RANGE

Monitoring signals, for metrics and the admin's health page (``docs/howto/monitoring.rst``);
sent as things happen, not after a commit:

- ``provider_request(sender=KunaPayClient, account, method, endpoint, object_id,
  status_code, result, seconds, started_at, attempt)``: one HTTP request to KUNA Pay
  ended (each attempt of a retried call is one)
- ``callback_received(sender=CallbackEvent, event, account, outcome, reason)``: a
  callback was stored (or turned away by the rate limit), with what became of it
- ``callbacks_settled(sender=CallbackEvent, account, invoice, states, lags)``: a read
  settled callbacks: ``states`` maps each event's id to its new state, ``lags`` holds
  the seconds from receipt to applied of each applied one
- ``sweep_finished(sender=SweepRun, run)``: a sweep (or a chunk of one) finished
"""

from django.dispatch import Signal

invoice_status_changed = Signal()
invoice_paid = Signal()
order_paid = Signal()
order_status_changed = Signal()
deposit_received = Signal()
invoice_partially_paid = Signal()
invoice_overpaid = Signal()
invoice_paid_late = Signal()
invoice_declined = Signal()

provider_request = Signal()
callback_received = Signal()
callbacks_settled = Signal()
sweep_finished = Signal()
