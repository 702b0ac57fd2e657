"""lbplay: a terminal playground for learning load balancing by breaking things."""

from __future__ import annotations

__version__ = "0.1.0"
