"""Dispatch decision speed: one incident (p50/p99) and batch replay, on a city-sized road graph.

Run: ``python bench/decide.py [--grid 230] [--spacing 220] [--single 2000] [--batch 100000]``.

No road extract of Changshan exists, so the graph is SYNTHETIC (``bench/matrix.py``'s
road-like grid, here ~50 km across around the county seat). Incidents are SYNTHETIC too
(:mod:`dispatch.samples`). Everything else is the product: the real boundaries, the sample
catalogue and teams, the real locator, competence and recommender.

Prints, each measured in this run:

- one decision (locate + competence + shortlist + deadline): p50/p99 with the shortest-path
  tree cache, against the same decisions with the cache off (a search per decision);
- batch replay of ``--batch`` incidents: total time, and the speed-up over calling the
  single-incident path in a loop (timed on ``--single`` incidents, scaled per incident).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

import numpy as np
from matrix import synthetic_network  # bench/ is on sys.path when run as a script

from dispatch.dispatcher import Dispatcher
from dispatch.incidents import parse_incident
from dispatch.samples import synthetic_incidents
from geo.boundaries import bundled_district
from geo.traveltime import RoadTravelTimes


def incidents_as_models(frame, now_iso: str):
    out = []
    for row in frame.itertuples(index=False):
        facts = {"fine_yuan": row.fine_yuan} if row.fine_yuan == row.fine_yuan else {}
        out.append(parse_incident({
            "source": row.source, "external_id": row.external_id,
            "matter_code": row.matter_code, "lon": row.lon, "lat": row.lat,
            "reported_at": row.reported_at, "facts": facts}))
    return out


def time_single(dispatcher: Dispatcher, incidents) -> np.ndarray:
    out = np.empty(len(incidents))
    for i, inc in enumerate(incidents):
        t0 = time.perf_counter()
        dispatcher.decide(inc)
        out[i] = time.perf_counter() - t0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=230)
    ap.add_argument("--spacing", type=float, default=220.0)
    ap.add_argument("--single", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    district = bundled_district("changshan")
    t0 = time.perf_counter()
    net = synthetic_network(grid=args.grid, seed=7, spacing_m=args.spacing)
    print(f"SYNTHETIC road graph: {net.n_nodes:,} nodes, {net.n_edges:,} edges "
          f"({time.perf_counter() - t0:.1f} s to build)")

    base = Dispatcher.for_district(district)
    road = Dispatcher(district, base.catalogue, base.registry, RoadTravelTimes(net),
                      locator=base.locator)
    cold = Dispatcher(district, base.catalogue, base.registry,
                      RoadTravelTimes(net, tree_cache=0), locator=base.locator)
    for team in base.registry.teams:  # every team available: the costliest shortlist
        base.registry.set_duty(team.id, "on_duty")

    matters = sorted(base.catalogue.matters)
    frame = synthetic_incidents(district, matters, args.single, seed=args.seed,
                                locator=base.locator)
    incidents = incidents_as_models(frame, datetime.now().isoformat())
    road.decide(incidents[0])  # warm: fills the trees of the team bases once

    warm = time_single(road, incidents)
    n_cold = min(len(incidents), 200)
    cold_t = time_single(cold, incidents[:n_cold])
    est = time_single(base, incidents)
    sources = {road.decide(incidents[0]).recommendation.eta_source,
               cold.decide(incidents[0]).recommendation.eta_source}

    def pct(a: np.ndarray) -> str:
        p50, p99 = np.percentile(a, [50, 99]) * 1e3
        return f"p50 {p50:7.3f} ms   p99 {p99:7.3f} ms"

    print(f"\none decision (locate + competence + shortlist of {len(base.registry.teams)} "
          f"teams + deadline), eta_source {'/'.join(sorted(sources))}:")
    print(f"  road graph, cached team trees   {pct(warm)}   (n={len(warm)})")
    print(f"  road graph, search per decision {pct(cold_t)}   (n={n_cold}, baseline)")
    print(f"  estimate (no road graph)        {pct(est)}   (n={len(est)})")
    print(f"  p99 speed-up of the tree cache: "
          f"{np.percentile(cold_t, 99) / np.percentile(warm, 99):.0f}x; "
          f"p99 target 5 ms: {'met' if np.percentile(warm, 99) < 0.005 else 'NOT met'}")

    big = synthetic_incidents(district, matters, args.batch, seed=args.seed + 1,
                              locator=base.locator)
    times = [datetime.fromisoformat(t) for t in big["reported_at"]]
    for label, disp in (("road graph", road), ("estimate", base)):
        t0 = time.perf_counter()
        res = disp.decide_batch(big["matter_code"].tolist(), big["lon"].to_numpy(),
                                big["lat"].to_numpy(), times, big["fine_yuan"].tolist())
        batch_s = time.perf_counter() - t0
        loop_per = float(np.mean(warm if disp is road else est))
        undecided = int((res.error != "").sum())
        print(f"\nbatch replay, {label}: {args.batch:,} incidents in {batch_s:.2f} s "
              f"({args.batch / batch_s:,.0f}/s; {undecided} undecided); target < 30 s: "
              f"{'met' if batch_s < 30 else 'NOT met'}")
        print(f"  single path in a loop: {loop_per * 1e3:.3f} ms/incident -> "
              f"{loop_per * args.batch:.1f} s for {args.batch:,}; batch speed-up "
              f"{loop_per * args.batch / batch_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
