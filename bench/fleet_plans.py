"""Does the fleet phase's plan decide where the cost phase ends? (vehicles-first instances)

For each seed: one fleet phase from the OR-Tools first plan, then several cost-phase anneals
from that same fleet plan, each on its own random stream, one after the other in this
process. If the gaps of one plan's anneals lie close together and far from another plan's,
the plan, not the stream, sets the basin, and restarts from one plan cannot leave a bad
one (the reason for ``planner.sisr._FLEET_DRAWS``). Gaps are to the best-known
vehicles-first distance in ``bks.csv``, only for anneals that keep the fleet.

    python bench/fleet_plans.py homberger_200/rc2_2_6.txt --seeds 0 1 2 --anneals 4 \
        --seconds 12
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner.result import evaluate  # noqa: E402
from planner.routes import _OrToolsModel  # noqa: E402
from planner.sisr import Sisr, warm_up  # noqa: E402
from planner.solomon import read_problem  # noqa: E402

DATA = Path(os.environ.get("WHISTLE_VRPTW_DATA", ROOT.parent / "shared" / "data" / "vrptw"))


def best_known(name: str) -> tuple[int, float]:
    """(vehicles, distance) of the vehicles-first best-known plan of instance ``name``."""
    with open(DATA / "bks.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["instance"].upper() == name.upper() and row["convention"] == "hierarchical":
                return int(row["vehicles"]), float(row["distance"])
    raise SystemExit(f"instance: no vehicles-first best-known value for {name} in bks.csv")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instance", help="instance file, relative to the data folder")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--anneals", type=int, default=4, help="anneals per fleet plan")
    ap.add_argument("--seconds", type=float, default=12.0, help="length of each anneal")
    ap.add_argument("--fleet-seconds", type=float, default=12.0,
                    help="longest fleet phase (it stops early at the capacity bound)")
    args = ap.parse_args(argv)
    if args.anneals < 1:
        ap.error(f"--anneals: expected a whole number >= 1, got {args.anneals}")
    if args.seconds <= 0 or args.fleet_seconds <= 0:
        ap.error("--seconds and --fleet-seconds: expected positive numbers of seconds")
    path = DATA / args.instance
    if not path.is_file():
        ap.error(f"instance: no file {path}")
    problem = read_problem(path, objective="hierarchical")
    bks_vehicles, bks_distance = best_known(path.stem)
    warm_up()
    first = _OrToolsModel(problem).first_solution(1.0, lambda *a: None)
    if first is None:
        raise SystemExit("instance: OR-Tools found no first plan")
    print(f"{path.stem}: best-known {bks_vehicles} vehicles, {bks_distance:.2f}")
    for seed in args.seeds:
        sisr = Sisr(problem, seed, chains=2)  # one whole anneal per call, as in a chain of two
        fleet = sisr.minimise_fleet(first, time.perf_counter() + args.fleet_seconds,
                                    lambda *a: None)
        vehicles = evaluate(problem, fleet).n_vehicles
        price = sisr.fleet_acceptance_price(fleet)
        gaps = []
        for k in range(args.anneals):
            sisr.seed = seed * 100 + k
            plan = sisr._anneal(fleet, time.perf_counter() + args.seconds, lambda *a: None,
                                price, fleet=True)
            result = evaluate(problem, plan)
            gaps.append(f"{100 * (result.distance / bks_distance - 1):.2f}"
                        if result.n_vehicles == vehicles else "fleet+")
        print(f"seed {seed}: fleet plan {vehicles} vehicles; anneals gap %: {' '.join(gaps)}")


if __name__ == "__main__":
    main()
