"""Adapters for shop and payment frameworks, each optional: the core never imports them."""
