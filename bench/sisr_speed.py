"""Speed features of the SISR cost phase: iterations per second with a feature on and off.

Run: ``python bench/sisr_speed.py [--feature rejection|seek|incremental] [--instances
homberger_200/rc1_2_1.txt ...] [--seconds 10] [--rounds 2]``.

Features (all in ``planner.sisr``):

* ``rejection``: early rejection. With metric distances no insertion costs less than
  nothing, so a recreate can stop once its insertions have cost more than both the
  acceptance threshold (drawn before the recreate) and the way to a new best plan
  (``_recreate``); off means ``Sisr.metric = False``.
* ``seek``: each insertion scan starts, by bisection on the latest-start cache, at the first
  place that can still be on time (``_best_insertion``); off means ``Sisr.seek = False``,
  the scan from the start of every route.
* ``incremental``: the recreate updates a route's schedule caches from the insertion point
  on and stops where a value repeats (``_insert_refresh``); off means ``Sisr.incremental =
  False``, a full recomputation of the route after every insertion. The caches are the same
  bit for bit, so with the same seed both modes search the same plans, only at different
  speeds.

This bench runs the cost phase (``Sisr._anneal``, as ``Sisr.run`` calls it) from the same
starting plan for ``--seconds`` with the feature on and, as the baseline in the same
process, off, alternating, ``--rounds`` times each, one thread. Vehicles-first objective, as
in the Gehring-Homberger ranking: the starting plan is the greedy construction after a fleet
phase of ``--seconds`` (done once), and extra routes are priced for acceptance as
``Sisr.run`` prices them. It prints iterations per second for both, their ratio, and the
best cost each reached (early rejection draws different random numbers after its first
stop, so with it costs differ by chance, not by design; ``seek`` skips only places the
full scan rejects, and blinks follow the same law, so costs differ by chance there too;
``incremental`` reaches the same plans sooner, so it may reach better ones in the time).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.result import evaluate  # noqa: E402
from planner.sisr import Sisr, warm_up  # noqa: E402
from planner.solomon import read_problem  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "vrptw"
DEFAULT_INSTANCES = ["homberger_200/rc1_2_1.txt", "homberger_200/rc2_2_6.txt",
                     "homberger_200/r1_2_1.txt", "solomon/R101.txt"]


def start_plan(problem, seconds: float) -> tuple[Sisr, list[list[int]], np.ndarray, bool] | None:
    """The shared start: greedy construction and, vehicles first, the fleet phase; returns
    the solver that built it, the plan, the acceptance price of a route and whether the
    cost phase runs after a fleet phase (as ``Sisr.run`` decides)."""
    sisr = Sisr(problem, 0)
    plan = sisr.construct()
    if plan is None:
        return None
    if not sisr.fleet_first(plan):
        return sisr, plan, sisr.v_fixed, False
    plan = sisr.minimise_fleet(plan, time.perf_counter() + seconds, lambda *_: None)
    return sisr, plan, sisr.fleet_acceptance_price(plan), True


FEATURES = ("rejection", "seek", "incremental")


def run(problem, plan, fixed_acc, fleet: bool, seed: int, seconds: float, feature: str,
        on: bool) -> tuple[float, float]:
    """Iterations per second and best cost of one cost phase of ``seconds``."""
    sisr = Sisr(problem, seed)
    if feature == "rejection":
        sisr.metric = sisr.metric and on
    elif feature == "seek":
        sisr.seek = on
    else:
        sisr.incremental = on
    tic = time.perf_counter()
    best = sisr._anneal(plan, tic + seconds, lambda *_: None, fixed_acc, fleet=fleet)
    took = time.perf_counter() - tic
    return sisr.iterations / took, evaluate(problem, best).cost()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feature", choices=FEATURES, default="rejection")
    ap.add_argument("--instances", nargs="+", default=DEFAULT_INSTANCES)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    args = ap.parse_args()
    if args.seconds <= 0 or args.rounds < 1:
        ap.error("--seconds must be above 0 and --rounds at least 1")
    warm_up()
    ratios = []
    print(f"feature: {args.feature}")
    print(f"{'instance':<10} {'metric':>6} {'it/s on':>10} {'it/s off':>10} {'ratio':>6} "
          f"{'best on':>9} {'best off':>9}")
    for name in args.instances:
        problem = read_problem(Path(args.data) / name, objective="hierarchical")
        start = start_plan(problem, args.seconds)
        if start is None:
            print(f"{Path(name).stem:<10} no greedy start, skipped")
            continue
        probe, plan, fixed_acc, fleet = start
        on, off = [], []
        for r in range(args.rounds):
            on.append(run(problem, plan, fixed_acc, fleet, r, args.seconds, args.feature, True))
            off.append(run(problem, plan, fixed_acc, fleet, r, args.seconds, args.feature,
                           False))
        rate_on = statistics.mean(x for x, _ in on)
        rate_off = statistics.mean(x for x, _ in off)
        ratio = rate_on / rate_off
        ratios.append(ratio)
        print(f"{Path(name).stem:<10} {probe.metric!s:>6} {rate_on:10.0f} {rate_off:10.0f} "
              f"{ratio:6.2f} {min(c for _, c in on):9.1f} {min(c for _, c in off):9.1f}")
    if ratios:
        print(f"geometric mean ratio (on / off): {float(np.exp(np.mean(np.log(ratios)))):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
