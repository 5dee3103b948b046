"""The test project's URLs plus the monitoring endpoints exactly as the monitoring guide
writes them (``docs/howto/monitoring/urls.py``)."""

import importlib.util
from pathlib import Path

from .urls import urlpatterns as app_urls

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "howto" / "monitoring" / "urls.py"

_spec = importlib.util.spec_from_file_location("monitoring_guide_urls", GUIDE)
assert _spec is not None and _spec.loader is not None
guide = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guide)

urlpatterns = [*app_urls, *guide.urlpatterns]
