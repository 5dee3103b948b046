# Code of the shop that queues django-invoices' jobs, included into
# docs/howto/background.rst and run by tests/test_guide_background.py in the project's
# "manage.py shell".

# [enqueue]
from django_invoices import background
from django_invoices.models import Invoice

invoice_ids = list(Invoice.objects.values_list("pk", flat=True))
background.enqueue_chunks("refresh_invoices", invoice_ids)  # returns the task count
background.enqueue("process_pending_callbacks")
# [end-enqueue]
