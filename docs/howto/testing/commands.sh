# The testing guide's shell steps, included into docs/howto/testing.rst and run, in
# the page's order, by tests/test_guide_testing.py (which skips "pip install": the
# suite runs against the package it installed).

# [install]
pip install "django-invoices[testing]"
# [end-install]

# [start-project]
django-admin startproject mysite
cd mysite
python manage.py startapp shop
# [end-start-project]

# [migrations]
python manage.py makemigrations shop --skip-checks
# [end-migrations]

# [run-tests]
pytest
# [end-run-tests]
