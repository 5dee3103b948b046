"""A shop's own table of merchant accounts, as a platform that onboards merchants keeps
it; ``resolver.py`` hands its rows to django-invoices
(docs/howto/accounts-from-the-database.rst)."""

from django.db import models


class Merchant(models.Model):
    # The account's name: in its callback URL (/invoices/callback/<slug>/) and on its
    # invoices. A slug, since it appears in a URL.
    slug = models.SlugField(unique=True)
    public_key = models.CharField(max_length=200)
    # Newest first, one per line: two while a key is rotated out.
    private_keys = models.TextField()
    # Empty: the API_URL of the DJANGO_INVOICES setting.
    api_url = models.URLField(blank=True)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.slug
