"""IP hash, exactly as nginx's ``ip_hash``: only the first three octets of IPv4 count.

nginx's function: start at 89; for each of the first 3 bytes of an IPv4 address (all
16 of IPv6) ``h = (h * 113 + byte) % 6271``; then ``h % total_weight`` walks the
weighted peer list. When the chosen peer cannot be used, nginx keeps mixing the same
bytes into ``h`` and tries again, up to 20 times, then falls back to round robin.

Invariant: every client in one /24 (everyone behind one NAT, a whole office) lands on
the same backend — IP hash is per network, not per user. An IPv4-mapped IPv6 address
(``::ffff:10.0.0.7``) counts as IPv4, as in nginx.

Worked example: 10.0.0.7 and 10.0.0.200 always go to the same backend; 10.0.1.7 may
not. For 10.0.0.7 with backends a, b, c: h = 89 -> (89·113+10) % 6271 = 3796
-> (3796·113+0) % 6271 = 2520 -> (2520·113+0) % 6271 = 2565; 2565 % 3 = 0 -> a.

Real balancers: nginx ``ip_hash``; HAProxy ``balance source`` hashes the whole
address; the AWS NLB hashes the 5-tuple; Envoy has no IP-only policy (ring hash on a
source-IP hash policy).

Without a client address (a Unix socket), nginx uses round robin; so does this.
nginx hashes over every configured peer and re-hashes when it meets a down one; here
unavailable backends are removed before the algorithm runs, which is how nginx
behaves once the server is taken out of the configuration.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.picker import BasePicker, Pick, PickContext, PickerEnv
from lbplay.core.registry import AlgorithmInfo
from lbplay.core.weighted import WeightedIndex

MAX_TRIES = 20


def address_bytes(address: str | None) -> bytes | None:
    """The bytes nginx hashes: 3 for IPv4 (incl. IPv4-mapped IPv6), 16 for IPv6."""
    if not address:
        return None
    parts = address.split(".")
    if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
        return bytes(int(p) for p in parts[:3])
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.packed[:3]
    return ip.packed if isinstance(ip, ipaddress.IPv6Address) else ip.packed[:3]


class IpHash(BasePicker):
    """nginx ip_hash over the eligible backends."""

    def __init__(self, backends: Sequence[Backend], env: PickerEnv) -> None:
        self._turn = 0
        super().__init__(backends, env)

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        self._index = WeightedIndex(self.backends)

    def pick(self, ctx: PickContext) -> Pick:
        octets = address_bytes(ctx.client_ip)
        if octets is None:
            return self._round_robin(ctx)
        h = 89
        total = self._index.total
        for tries in range(1, MAX_TRIES + 1):
            for byte in octets:
                h = (h * 113 + byte) % 6271
            backend = self.backends[self._index.find(h % total)]
            if not ctx.avoid or backend.name not in ctx.avoid:
                return Pick(backend, _explain, (backend.name, octets, h, total, tries))
        return self._round_robin(ctx)

    def _round_robin(self, ctx: PickContext) -> Pick:
        n = len(self.backends)
        order = [self.backends[(self._turn + i) % n] for i in range(n)]
        backend = self.first_allowed(order, ctx.avoid)
        self._turn = (self.backends.index(backend) + 1) % n
        why = "no usable client address" if not ctx.avoid else f"{MAX_TRIES} hashes all avoided"
        return Pick(backend, f"{backend.name}: {why}, so round robin (as nginx)")


def _explain(name: str, octets: bytes, h: int, total: int, tries: int) -> str:
    if len(octets) == 3:
        network = ".".join(str(b) for b in octets) + ".x"
    else:
        network = f"IPv6 {octets.hex()}"
    again = f" after {tries} tries" if tries > 1 else ""
    return f"{name}: nginx ip_hash of {network} = {h}, {h} % {total} = {h % total}{again}"


INFO = AlgorithmInfo(
    name="ip_hash",
    family="hashing",
    idea="nginx's hash of the client's /24; sticky per network, so a NAT lands in one place",
    factory=IpHash,
    nginx="ip_hash",
    haproxy="balance source",
    aws="NLB flow hash (5-tuple)",
    uses_key=True,
    hashes_address=True,
    uses_weights=True,
)
