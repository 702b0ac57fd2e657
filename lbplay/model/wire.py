"""Names lbplay puts on the wire, written once for everyone who writes or reads them.

``BACKEND_HEADER``: the L7 proxy names every backend it tried in each response
(like nginx's ``$upstream_addr``), and the traffic generator, the tests and a
learner's curl read it. ``FAKE_BACKEND_HEADER``: each fake backend names itself, so
the answer says who served it in L4 mode too, where the proxy cannot add a header.
"""

from __future__ import annotations

BACKEND_HEADER = "X-Lbplay-Backend"
FAKE_BACKEND_HEADER = "X-Backend"
