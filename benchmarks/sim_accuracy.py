"""The theory table of issue 16: ``lbplay sim`` against published results.

Each row is one case of ``lbplay.sim.theory.CASES`` (the same cases ``pytest -m slow``
asserts): random routing against M/M/1, the power of d choices against
Mitzenmacher's T_d(λ), ring hash spread against 1/√k. Prints the servers, requests,
seed, the simulated and the theoretical figure and the relative error.

Run: ``python benchmarks/sim_accuracy.py`` (``--quick``: the three cases a plain
``pytest`` checks).
"""

from __future__ import annotations

import argparse

from lbplay.sim import theory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the quick cases")
    args = parser.parse_args()
    cases = theory.QUICK if args.quick else theory.CASES
    print(
        f"{'case':36} {'n':>6} {'requests':>11} {'seed':>4} {'simulated':>10}"
        f" {'theory':>10} {'error':>8} {'tolerance':>9}  verdict"
    )
    failed = 0
    for case in cases:
        row = theory.measure(case)
        failed += not row.ok
        requests = f"{case.requests:,}" if case.requests else "—"
        seed = str(case.seed) if case.kind != "ring" else "—"  # the ring has no dice
        print(
            f"{case.label:36} {case.servers:>6,} {requests:>11} {seed:>4}"
            f" {row.simulated:>10.4f} {row.theory:>10.4f} {row.error:>+8.2%}"
            f" {case.tolerance:>9.0%}  {'ok' if row.ok else 'MISS'} ({row.seconds:.1f} s)"
        )
    print(f"# {len(cases) - failed} of {len(cases)} agree with theory")


if __name__ == "__main__":
    main()
