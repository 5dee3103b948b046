# The tutorial's shell steps, included into docs/tutorial.rst between the markers and
# run by tests/test_tutorial.py (which skips "pip install": the suite runs against the
# package it installed).

# [install]
pip install django-invoices
# [end-install]

# [start-project]
django-admin startproject mysite
cd mysite
# [end-start-project]

# [migrate]
python manage.py migrate
python manage.py migrate --database sandbox
python manage.py check
# [end-migrate]

# [run]
python manage.py runserver
# [end-run]

# [shipped]
python manage.py shell --no-imports -c "from django_invoices.models import Order; print(Order.objects.latest('created_at').status)"
# [end-shipped]
