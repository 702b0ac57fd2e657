"""The one hash every hashing algorithm uses: XXH3, 64-bit, seed 0, over UTF-8.

Python's built-in ``hash()`` is salted per process (PYTHONHASHSEED), so a ring built
with it would map keys differently on every run: useless for teaching and for
comparing with the simulator. XXH3-64 is fixed and specified
(https://github.com/Cyan4973/xxHash), fast (about 100 ns for a short key here), and
well distributed, which is what ring, Maglev and rendezvous hashing need.

``hash64("user42")`` is the same on every machine and every run.
"""

from __future__ import annotations

from xxhash import xxh3_64_intdigest

MASK64 = (1 << 64) - 1


def hash64(text: str) -> int:
    """The 64-bit XXH3 hash (seed 0) of ``text`` encoded as UTF-8."""
    return xxh3_64_intdigest(text.encode("utf-8"))
