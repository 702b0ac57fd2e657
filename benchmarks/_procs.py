"""What the benchmarks read about other processes from /proc (Linux): the tree of a
process and its children, and the CPU time they used."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_tree(pid: int) -> Iterator[int]:
    """``pid`` and every live descendant of it."""
    yield pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return
    for child in children:
        yield from process_tree(int(child))


def cpu_seconds(pids: Iterable[int]) -> float | None:
    """User + system CPU seconds of the processes and their live children; None when
    /proc cannot tell (not Linux, or one of ``pids`` has gone). A child that ended in
    the meantime is left out."""
    total = 0
    for root in pids:
        for pid in process_tree(root):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                if pid == root:
                    return None
                continue
            fields = stat.rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS
