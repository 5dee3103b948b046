"""A shop's concrete django-payments ``Payment`` (``PAYMENT_MODEL``), for the tests."""
