"""Take payments in a Django shop through the KUNA Pay invoice API."""

__version__ = "0.1.0"
