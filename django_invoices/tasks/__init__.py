"""Background tasks: the jobs in ``jobs``, and their tasks for each task system.

``with_celery`` holds Celery's tasks and ``with_django`` those of Django's Tasks
framework; each is imported only when ``DJANGO_INVOICES["TASKS"]`` chooses it (see
``apps.py``), so a shop needs neither package unless it uses it. Code that wants work
done calls ``django_invoices.background.enqueue``, never these modules.
"""
