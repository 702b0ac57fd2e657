"""One module per load-balancing algorithm; each exposes ``INFO`` for the registry."""
