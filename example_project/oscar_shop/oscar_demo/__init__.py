"""A django-oscar shop that takes its payments through KUNA Pay (``make demo-oscar``)."""
