"""The REST API (Django REST framework) for shops with a JavaScript or mobile front end.

``views`` holds the endpoints, ``serializers`` their strict input and output,
``permissions`` who may pay for which order, ``throttling`` the rate limits and
``schema`` the optional OpenAPI schema (drf-spectacular). Routes live in the app's
``urls.py``.
"""
