"""The shop's urls.py with the monitoring endpoints of docs/howto/monitoring.rst.

tests/test_monitoring.py serves these exact views: it scrapes /metrics and asks the
health check's page.
"""

# [urls]
from django.http import HttpRequest, HttpResponse
from django.urls import path
from health_check.views import HealthCheckView
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


def metrics(request: HttpRequest) -> HttpResponse:
    """Every metric of prometheus_client's default registry, ours among them. Serve it
    where only Prometheus reaches it (an internal port, or a firewall rule)."""
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


health = HealthCheckView.as_view(
    checks=[
        "health_check.checks.Database",
        "django_invoices.contrib.healthcheck.KunaPayReachable",
        "django_invoices.contrib.healthcheck.CallbacksFlowing",
        "django_invoices.contrib.healthcheck.SweepRunning",
    ]
)

urlpatterns = [
    # ... the shop's own URLs ...
    path("metrics", metrics),
    path("health/", health),
]
# [end-urls]
