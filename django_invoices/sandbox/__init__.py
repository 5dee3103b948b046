"""An offline stand-in for KUNA Pay: the provider's invoice API, a payment page, callbacks.

Add ``"django_invoices.sandbox"`` to ``INSTALLED_APPS`` and mount
``django_invoices.sandbox.urls`` (e.g. at ``sandbox/``); then point ``API_URL`` at it.
Never install it in production: its URLs answer only while ``DEBUG`` is on (or when
``DJANGO_INVOICES_SANDBOX`` switches it on and acknowledges that ``DEBUG`` is off), never
with a real account's keys, and a system check warns when ``DEBUG`` is off.

The sandbox is the other party. It shares only the wire helpers (``signing``,
``client.format_amount``) and settings access with the app; it never touches the app's
models or services.
"""
