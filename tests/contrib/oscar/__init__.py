"""The Oscar integration (``django_invoices.contrib.oscar``), on its own settings.

``make test`` runs these with ``--ds=tests.contrib.oscar.settings``; a run on the main
settings (which install no Oscar) leaves them out (``conftest.py``).
"""
