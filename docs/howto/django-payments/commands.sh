# The guide's shell steps, included into docs/howto/django-payments.rst between the
# markers and run by tests/contrib/payments/test_howto.py (which skips "pip install":
# the suite runs against the package it installed).

# [install]
pip install "django-invoices[payments]"
# [end-install]

# [start-project]
django-admin startproject mysite
cd mysite
python manage.py startapp shop
# [end-start-project]

# [migrate]
python manage.py makemigrations shop
python manage.py migrate
python manage.py migrate --database sandbox
python manage.py check
# [end-migrate]

# [run]
python manage.py runserver
# [end-run]

# [paid]
python manage.py shell --no-imports -c "from shop.models import Payment; p = Payment.objects.latest('created'); print(p.status, p.captured_amount, p.currency)"
# [end-paid]
