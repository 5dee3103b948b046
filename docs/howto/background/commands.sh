# The background-work guide's shell steps, included into docs/howto/background.rst and
# run by tests/test_guide_background.py (which skips "pip install": the suite runs
# against the packages it installed). A worker's command is the last line of its
# region: the test starts it beside the development server.

# [install-celery]
pip install "django-invoices[celery]"
# [end-install-celery]

# [celery-worker]
celery -A shop worker -Q celery,payments --loglevel=INFO
# [end-celery-worker]

# [install-tasks-db]
pip install django-tasks-db
# [end-install-tasks-db]

# [install-tasks-db-django52]
pip install "django-invoices[tasks]" django-tasks-db
# [end-install-tasks-db-django52]

# [tasks-db-worker]
python manage.py migrate
python manage.py db_worker
# [end-tasks-db-worker]
