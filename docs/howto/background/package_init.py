# The whole of shop/__init__.py, written by tests/test_guide_background.py.

# [celery-init]
from .celery import app as celery_app

__all__ = ["celery_app"]
# [end-celery-init]
