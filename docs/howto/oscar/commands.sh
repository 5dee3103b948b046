# The Oscar how-to's shell steps, included into docs/howto/oscar.rst between the
# markers and run by tests/contrib/oscar/test_howto.py (which skips "pip install": the
# suite runs against the packages it installed).

# [install]
pip install "django-invoices[oscar]" "django-oscar[sorl-thumbnail]" pycountry
# [end-install]

# [start-project]
django-admin startproject myshop
cd myshop
# [end-start-project]

# [migrate]
python manage.py migrate
python manage.py migrate --database sandbox
python manage.py oscar_populate_countries
python manage.py check
# [end-migrate]

# [catalogue]
python manage.py oscar_import_catalogue catalogue.csv
# [end-catalogue]

# [run]
python manage.py runserver
# [end-run]

# [paid]
python manage.py shell --no-imports -c "from oscar.core.loading import get_model; print(get_model('order', 'Order').objects.latest('date_placed').status)"
# [end-paid]
