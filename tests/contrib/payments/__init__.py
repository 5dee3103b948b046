"""The django-payments provider (``django_invoices.contrib.payments``), on its own settings.

``make test`` runs these with ``--ds=tests.contrib.payments.settings``; a run on the
main settings (which install no django-payments) leaves them out (``conftest.py``).
"""
