"""Benchmark Whistle's routing core on public VRPTW instances, with PyVRP as the reference.

For each instance the routing core (:func:`planner.routes.solve`) and, in the same run and
with the same time limit, PyVRP (state-of-the-art hybrid genetic search) solve the same
problem. Both plans are re-checked and measured by :func:`planner.result.evaluate` in double
precision (unrounded Euclidean distances), so the comparison is like with like.

Reference values (``bks.csv`` beside the instances, see its SOURCES.md):
* ``distance_dimacs``: proven distance-only optimum under DIMACS truncation (Solomon). It
  is a lower bound of the double-precision optimum, so ``gap_dimacs`` *over*-states the true
  gap (by about 0.4 % on a median Solomon instance).
* ``distance_double``: best known distance-only value in double precision (Solomon).
* ``hierarchical``: best known vehicles-then-distance values (Solomon and GH 200).

Usage::

    python bench/vrptw.py --instances 'solomon/R1*.txt' --time-limit 10
    python bench/vrptw.py --instances 'homberger_200/*.txt' --time-limit 30 --no-pyvrp --json

Instance globs are relative to ``--data`` (default ``../shared/data/vrptw`` beside the
repository, or ``$WHISTLE_VRPTW_DATA``). Progress goes to stderr; ``--json`` prints the
result rows as JSON on stdout; ``--out`` also writes them to a file (``bench/out/`` is not
versioned).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import math
import os
import sys
import time
from pathlib import Path
from statistics import mean

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import planner.sisr as sisr  # noqa: E402
from planner.model import RoutingProblem  # noqa: E402
from planner.result import evaluate  # noqa: E402
from planner.routes import solve, warm_up  # noqa: E402
from planner.sisr import _FLEET_SHARE as FLEET_SHARE  # noqa: E402
from planner.solomon import read_problem  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("WHISTLE_VRPTW_DATA", ROOT.parent / "shared/data/vrptw"))


def load_bks(data: Path) -> dict[tuple[str, str], tuple[int, float]]:
    """``(INSTANCE, convention) -> (vehicles, distance)`` from ``bks.csv``."""
    path = data / "bks.csv"
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        return {
            (row["instance"].upper(), row["convention"]): (int(row["vehicles"]),
                                                           float(row["distance"]))
            for row in csv.DictReader(fh)
        }


def solve_pyvrp(problem: RoutingProblem, seconds: float, seed: int,
                fleet_first: bool = False) -> list[list[int]]:
    """Solve with PyVRP on integer data (x1000) rounded so its plans stay feasible unrounded.

    Distances are rounded to the nearest 1/1000; travel and service times are rounded up and
    windows inward, exactly as Whistle's OR-Tools model does. With ``fleet_first`` (vehicles
    first, then distance) PyVRP's own ``minimise_fleet`` gets the same share of the budget
    as Whistle's fleet phase, and the rest goes to a distance-only solve with that fleet.
    """
    from pyvrp import Model, minimise_fleet
    from pyvrp import solve as pyvrp_solve
    from pyvrp.stop import MaxRuntime

    scale = 1000
    vt = problem.vehicle_types[0]
    m = Model()
    depot = problem.depots[0]
    m_depot = m.add_depot(m.add_location(0, 0))
    late = min(vt.shift.latest, depot.window.latest)
    m.add_vehicle_type(
        num_available=vt.count,
        capacity=list(vt.capacity),
        start_depot=m_depot,
        end_depot=m_depot,
        tw_early=math.ceil(vt.shift.earliest * scale),
        tw_late=math.floor(late * scale),
        fixed_cost=0 if fleet_first else round(vt.fixed_cost * scale),
    )
    locs = [depot.location]
    for c in problem.clients:
        w = c.windows[0]
        m.add_client(
            m.add_location(0, 0),
            delivery=list(c.demand),
            service_duration=math.ceil(c.service_s * scale),
            tw_early=math.ceil(w.earliest * scale),
            tw_late=math.floor(w.latest * scale),
        )
        locs.append(c.location)
    dist = np.rint(problem.distance[np.ix_(locs, locs)] * scale).astype(np.int64)
    dur = np.ceil(problem.travel_time[np.ix_(locs, locs)] * scale - 1e-9).astype(np.int64)
    locations = m.locations
    for i, frm in enumerate(locations):
        for j, to in enumerate(locations):
            if i != j:
                m.add_edge(frm, to, distance=int(dist[i, j]), duration=int(dur[i, j]))
    data, left = m.data(), seconds
    if fleet_first:
        t0 = time.perf_counter()
        fleet = minimise_fleet(data, MaxRuntime(FLEET_SHARE * seconds), seed=seed)
        data = data.replace(vehicle_types=[fleet])
        left = max(0.1, seconds - (time.perf_counter() - t0))
    res = pyvrp_solve(data, stop=MaxRuntime(left), seed=seed, display=False)
    return [[int(a.idx) for a in route if a.is_client()] for route in res.best.routes()]


def gap(value: float | None, ref: float | None) -> float | None:
    if value is None or ref is None or ref <= 0:
        return None
    return 100.0 * (value / ref - 1.0)


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def run(args: argparse.Namespace) -> list[dict]:
    data = Path(args.data)
    bks = load_bks(data)
    paths = sorted(
        {p for pattern in args.instances for p in glob.glob(str(data / pattern))}
        | {p for pattern in args.instances for p in glob.glob(pattern)}
    )
    if not paths:
        print(f"error: no instance matches {args.instances} under {data}", file=sys.stderr)
        raise SystemExit(2)
    warm_up()
    rows = []
    for path in paths:
        name = Path(path).stem.upper()
        objective = args.objective
        if objective == "auto":
            objective = "distance" if (name, "distance_dimacs") in bks or (
                name, "distance_double") in bks else "hierarchical"
        problem = read_problem(path, objective=objective)
        name = problem.name.upper()
        for seed in args.seeds or [args.seed]:
            row = run_one(problem, name, objective, seed, bks, args)
            rows.append(row)
            print(line(row), file=sys.stderr, flush=True)
    return rows


def run_one(problem: RoutingProblem, name: str, objective: str, seed: int,
            bks: dict[tuple[str, str], tuple[int, float]], args: argparse.Namespace) -> dict:
    """Solve one instance with one seed (Whistle, then PyVRP unless disabled)."""
    t = time.perf_counter()
    res = solve(problem, args.time_limit, seed=seed, workers=args.workers)
    wall = time.perf_counter() - t
    row = {
        "instance": name,
        "seed": seed,
        "objective": objective,
        "clients": problem.n_clients,
        "time_limit_s": args.time_limit,
        "whistle_workers": args.workers,
        "fleet_epochs": args.fleet_epochs,
        "fleet_draws": args.fleet_draws,
        "whistle_feasible": res.is_feasible(),
        "whistle_vehicles": res.n_vehicles,
        "whistle_distance": res.distance,
        "whistle_first_s": res.first_solution_s,
        "whistle_wall_s": wall,
        "whistle_solver": res.solver,
    }
    dimacs = bks.get((name, "distance_dimacs"))
    double = bks.get((name, "distance_double"))
    hier = bks.get((name, "hierarchical"))
    row["bks_dimacs"] = dimacs[1] if dimacs else None
    row["bks_double"] = double[1] if double else None
    row["bks_hier_vehicles"] = hier[0] if hier else None
    row["bks_hier_distance"] = hier[1] if hier else None
    row["gap_dimacs"] = gap(res.distance, row["bks_dimacs"])
    row["gap_double"] = gap(res.distance, row["bks_double"])
    row["gap_hier"] = gap(res.distance, row["bks_hier_distance"])
    row["vehicles_vs_hier"] = (res.n_vehicles - hier[0]) if hier else None
    if not args.no_pyvrp:
        t = time.perf_counter()
        ref = evaluate(problem, solve_pyvrp(problem, args.time_limit, seed,
                                            fleet_first=objective == "hierarchical"))
        row.update({
            "pyvrp_feasible": ref.is_feasible(),
            "pyvrp_vehicles": ref.n_vehicles,
            "pyvrp_distance": ref.distance,
            "pyvrp_wall_s": time.perf_counter() - t,
            "pyvrp_gap_dimacs": gap(ref.distance, row["bks_dimacs"]),
            "pyvrp_gap_hier": gap(ref.distance, row["bks_hier_distance"]),
            "gap_pyvrp": gap(res.distance, ref.distance),
        })
    return row


HEADER = (f"{'instance':9s} {'seed':>4s} {'n':>4s} {'ok':>3s} {'veh':>4s} {'distance':>9s} "
          f"{'gap_dim%':>8s} "
          f"{'gap_dbl%':>8s} {'gap_hier%':>9s} {'dveh':>4s} {'first_s':>7s} | "
          f"{'py_veh':>6s} {'py_dist':>9s} {'py_gap%':>7s} {'vs_py%':>6s}")


def line(r: dict) -> str:
    py_gap = r.get("pyvrp_gap_dimacs") if r.get("bks_dimacs") else r.get("pyvrp_gap_hier")
    ok = "yes" if r["whistle_feasible"] else "NO"
    return (f"{r['instance']:9s} {r['seed']:4d} {r['clients']:4d} {ok:>3s} "
            f"{r['whistle_vehicles']:4d} {r['whistle_distance']:9.2f} {fmt(r['gap_dimacs']):>8s} "
            f"{fmt(r['gap_double']):>8s} {fmt(r['gap_hier']):>9s} "
            f"{fmt(r['vehicles_vs_hier'], '+d'):>4s} {fmt(r['whistle_first_s'], '.3f'):>7s} | "
            f"{fmt(r.get('pyvrp_vehicles'), 'd'):>6s} {fmt(r.get('pyvrp_distance')):>9s} "
            f"{fmt(py_gap):>7s} "
            f"{fmt(r.get('gap_pyvrp')):>6s}")


def summary(rows: list[dict]) -> str:
    def agg(key: str) -> str:
        vals = [r[key] for r in rows if r.get(key) is not None]
        return (f"{key}: mean {mean(vals):.3f} max {max(vals):.3f} (n={len(vals)})"
                if vals else f"{key}: -")

    feasible = sum(r["whistle_feasible"] for r in rows)
    out = [f"instances {len(rows)}, whistle feasible {feasible}/{len(rows)}",
           agg("gap_dimacs"), agg("gap_double"), agg("gap_hier"), agg("vehicles_vs_hier"),
           agg("whistle_first_s")]
    if any("pyvrp_distance" in r for r in rows):
        out += [agg("pyvrp_gap_dimacs"), agg("pyvrp_gap_hier"), agg("gap_pyvrp")]
    seeds = sorted({r["seed"] for r in rows})
    if len(seeds) > 1:  # the spread a single run hides
        for key in ("gap_dimacs", "gap_hier", "pyvrp_gap_dimacs"):
            per = []
            for s in seeds:
                vals = [r[key] for r in rows if r["seed"] == s and r.get(key) is not None]
                if vals:
                    per.append(f"seed {s}: {mean(vals):.3f}/{max(vals):.3f}")
            if per:
                out.append(f"{key} mean/max per seed: " + ", ".join(per))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", nargs="+", default=["solomon/*.txt"],
                    help="glob(s) relative to --data (or absolute)")
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance/solver")
    ap.add_argument("--no-pyvrp", action="store_true", help="skip the PyVRP reference")
    ap.add_argument("--workers", type=int, default=1,
                    help="Whistle's parallel improvement chains (threads; PyVRP uses one)")
    ap.add_argument("--json", action="store_true", help="print rows as JSON on stdout")
    ap.add_argument("--out", type=Path, help="also write the JSON rows to this file")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="VRPTW data directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, nargs="+",
                    help="several seeds per instance (overrides --seed): the seed variance")
    ap.add_argument("--objective", choices=["auto", "distance", "hierarchical"], default="auto",
                    help="auto: distance-only where a distance-only reference exists "
                    "(Solomon), else vehicles first (Gehring-Homberger)")
    ap.add_argument("--fleet-epochs", type=int, default=sisr._FLEET_EPOCHS,
                    help="epochs of a lone chain's cost phase after the fleet phase (default "
                    f"{sisr._FLEET_EPOCHS}; parallel chains run one each; other values only "
                    "to measure the choice)")
    ap.add_argument("--fleet-draws", type=int, default=sisr._FLEET_DRAWS,
                    help="plans of the fewest routes a chain draws when its fleet phase "
                    f"reaches the capacity bound early (default {sisr._FLEET_DRAWS}; 1: one "
                    "plan, as before; other values only to measure the choice)")
    ap.add_argument("--crossover-at", type=float, nargs="*",
                    default=list(sisr._CROSSOVER_AT),
                    help="shares of a solve's time at which parallel chains cross their plans "
                    f"(default {' '.join(map(str, sisr._CROSSOVER_AT))}; none: independent "
                    "chains; other values only to measure the choice)")
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error(f"--workers: expected a whole number >= 1, got {args.workers}")
    if args.fleet_epochs < 1:
        ap.error(f"--fleet-epochs: expected a whole number >= 1, got {args.fleet_epochs}")
    sisr._FLEET_EPOCHS = args.fleet_epochs  # read by a lone chain's Sisr when it is built
    if args.fleet_draws < 1:
        ap.error(f"--fleet-draws: expected a whole number >= 1, got {args.fleet_draws}")
    sisr._FLEET_DRAWS = args.fleet_draws  # read by each chain's Sisr when it is built
    if any(not 0 < f < 1 for f in args.crossover_at):
        ap.error(f"--crossover-at: expected shares between 0 and 1, got {args.crossover_at}")
    sisr._CROSSOVER_AT = tuple(sorted(args.crossover_at))  # read when a solve's chains start
    print(HEADER, file=sys.stderr)
    rows = run(args)
    print(summary(rows), file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
