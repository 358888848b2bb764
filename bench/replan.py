"""Urgent re-planning: insertion with frozen stops against re-solving the day from scratch.

Run: ``python bench/replan.py [--zone 天马片区] [--days 3] [--urgent 8] [--visits 30]``.

For each of ``--days`` March 2025 working days, a day of ``--visits`` SYNTHETIC sample visits
is routed (``planner.daily.plan_day``, 5 s). Then ``--urgent`` urgent inspections (objects not
in the plan, the object's township team, 30 min on site, at a random time 09:00–15:00) are
inserted with :func:`planner.replan.insert_urgent` (stops started before "now" frozen), and,
as the baseline measured in the same run, by re-planning the whole day from scratch with the
urgent visit added (same solver, same 5 s). Prints, for both: how often the urgent visit was
served, the time taken, and how many planned stops moved (``planner.replan.moved_stops``).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta

import numpy as np

from dispatch.teams.loader import bundled_teams
from geo.boundaries import bundled_district
from geo.traveltime import travel_times_for
from planner.daily import DayOptions, plan_day, sample_visits
from planner.items import load_items
from planner.objects import load_objects
from planner.replan import default_units, insert_urgent, moved_stops, urgent_visit


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zone", default="天马片区")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--urgent", type=int, default=8)
    ap.add_argument("--visits", type=int, default=30)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()

    district = bundled_district("changshan")
    items = load_items()
    objects = load_objects(None, items, district)
    roster = bundled_teams(district)
    travel = travel_times_for(district)
    options = DayOptions.parse(time_limit_s=5.0)
    rng = np.random.default_rng(args.seed)
    rows: dict[str, list[tuple[bool, float, int]]] = {"insert": [], "re-solve": []}
    not_served: list[str] = []
    day = date(2025, 3, 3)
    for _ in range(args.days):
        visits = sample_visits(args.zone, day, args.visits, seed=args.seed, district=district,
                               items=items, objects=objects, roster=roster, travel=travel)
        plan = plan_day(visits, roster, day, zone=args.zone, travel=travel, options=options,
                        district=district.code)
        planned = {v.object_id for v in visits}
        zone_objects = [o for o in objects.objects if o.id not in planned
                        and o.township in {t.code for t in district.townships
                                           if district.area_of(t.code, "zone")
                                           and district.area_of(t.code, "zone").name == args.zone}]
        for _ in range(args.urgent):
            obj = zone_objects[int(rng.integers(len(zone_objects)))]
            now = int(rng.integers(9 * 60, 15 * 60))
            visit = urgent_visit(obj, default_units(obj.township, roster), 30, now)
            res = insert_urgent(plan, visit, now, travel=travel, roster=roster)
            rows["insert"].append((res.inserted, res.runtime_s, len(res.moved)))
            if not res.inserted:
                not_served.append(f"{obj.id} at {now // 60:02d}:{now % 60:02d}: [{res.kind}] "
                                  f"{res.reason}")
            t0 = time.perf_counter()
            fresh = plan_day([*visits, visit], roster, day, zone=args.zone, travel=travel,
                             options=options, district=district.code)
            served = any(s.visit_id == visit.id for r in fresh.routes for s in r.stops)
            rows["re-solve"].append((served, time.perf_counter() - t0,
                                     len(moved_stops(plan, fresh, now * 60))))
        day += timedelta(days=7)

    print(f"{args.zone}: {args.days} days × {args.visits} SYNTHETIC visits, "
          f"{args.urgent} urgent inspections a day; travel times {travel.eta_source}")
    print(f"{'method':<34}{'served':>8}{'median s':>10}{'max s':>8}{'moved median':>14}"
          f"{'moved mean':>12}{'moved max':>11}")
    for name, label in (("insert", "insert, started stops frozen"),
                        ("re-solve", "re-solve the day (baseline)")):
        ok = np.array([r[0] for r in rows[name]])
        t = np.array([r[1] for r in rows[name]])
        m = np.array([r[2] for r in rows[name]])
        print(f"{label:<34}{ok.sum():>5}/{ok.size:<2}{np.median(t):>10.2f}{t.max():>8.2f}"
              f"{np.median(m):>14.0f}{m.mean():>12.1f}{m.max():>11d}")
    ins, base = rows["insert"], rows["re-solve"]
    print(f"insertion is {np.median([r[1] for r in base]) / np.median([r[1] for r in ins]):.0f}x "
          f"faster (median) and moves {np.mean([r[2] for r in ins]):.1f} stops on average "
          f"against {np.mean([r[2] for r in base]):.1f}")
    for line in not_served:
        print(f"  not inserted: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
