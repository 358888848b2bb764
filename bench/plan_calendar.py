"""Inspection calendar: joint plan (CP-SAT) against each department scheduling alone.

Run: ``python bench/plan_calendar.py [--zone 天马片区] [--start 2025-01-01] [--end 2025-04-01]
[--time-limit 50] [--small 紫港片区] [--json out.json]``.

Data: the bundled SAMPLE item list, SYNTHETIC objects and SAMPLE teams (see data/planner and
data/teams). 天马片区 holds about 1,000 objects. For each zone the script prints wall time,
solver status, objective, best bound and gap, visits per object for Whistle and for the
baseline (each department alone, :mod:`planner.baseline`) and the reduction, anti-repeat
violations of both, checks that could not be placed and why, and runs the plan's own checker
(exit 1 if the plan breaks a rule).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from planner.calendar import CalendarOptions, plan_zone


def run(zone: str, start: date, end: date, time_limit: float) -> dict[str, object]:
    t0 = time.perf_counter()
    plan = plan_zone(zone, start, end, CalendarOptions(time_limit_s=time_limit))
    wall = time.perf_counter() - t0
    m = plan.metrics
    s = plan.solver
    problems = plan.problems()
    teams = {u for v in plan.visits for u in v.teams}
    print(f"\n== {zone} {start} – {end}: {m['objects']} objects, "
          f"{len(plan.working_days)} working days, {len(teams)} teams with visits, "
          f"travel {plan.travel['minutes_per_visit']} min/visit ({plan.travel['eta_source']})")
    print(f"wall time           {wall:8.1f} s (solver {s.wall_s:.1f} s, "
          f"limit {time_limit:g} s, {len(s.blocks)} block(s))")
    print(f"status              {s.status}")
    if s.objective is not None:
        print(f"objective           {s.objective:,.0f}")
        own = f"{s.cp_sat_bound:,.0f}" if s.cp_sat_bound is not None else "none"
        print(f"best bound          {s.best_bound:,.0f}  (CP-SAT's own {own})")
        print(f"gap                 {100 * s.gap:.3f} %")
    vpo = m["visits_per_object"]
    print(f"visits              Whistle {m['visits']['whistle']:,}  baseline "
          f"{m['visits']['baseline']:,}  (lower bound {m['visits_lower_bound']:,}, "
          f"greedy hint {m['greedy_visits']:,})")
    print(f"visits per object   Whistle {vpo['whistle']:.3f}  baseline {vpo['baseline']:.3f}")
    print(f"reduction           {100 * m['reduction']:.1f} %  (ratio baseline/Whistle "
          f"{m['visits']['baseline'] / max(m['visits']['whistle'], 1):.2f})")
    print(f"joint visits        {m['joint_visits']:,} (several teams), "
          f"{m['combined_visits']:,} with several departments' items")
    night = [v for v in plan.visits if v.duty == "night"]
    print(f"night duty          {len(night):,} visits ({sum(len(v.checks) for v in night):,} "
          "checks) on the teams' night duty (夜查)")
    ar = m["anti_repeat_violations"]
    print(f"anti-repeat ({plan.anti_repeat_days} d)  Whistle {ar['whistle']}  baseline "
          f"{ar['baseline']}")
    cu = m["checks_unplaced"]
    print(f"checks unplaced     Whistle {cu['whistle']}  baseline {cu['baseline']}  "
          f"(of {m['checks_placed']['whistle'] + cu['whistle']})")
    for kind, n in sorted(m["unplaced_by_kind"]["whistle"].items()):
        print(f"  {kind:22s} {n}")
    for reason, n in Counter(u.reason for u in plan.unplaced).most_common(3):
        print(f"  e.g. {n} × {reason}")
    print(f"plan checker        {len(problems)} problem(s)")
    for p in problems[:5]:
        print(f"  {p}")
    return {"zone": zone, "start": start.isoformat(), "end": end.isoformat(),
            "wall_s": round(wall, 2), "solver": s.as_dict(), "metrics": m,
            "problems": len(problems)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zone", default="天马片区")
    ap.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    ap.add_argument("--end", type=date.fromisoformat, default=date(2025, 4, 1))
    ap.add_argument("--time-limit", type=float, default=50.0,
                    help="solver budget for the main zone, seconds")
    ap.add_argument("--small", default="紫港片区",
                    help="also run a smaller zone (empty string: skip)")
    ap.add_argument("--json", type=Path, help="write the figures to this file")
    args = ap.parse_args(argv)
    out = [run(args.zone, args.start, args.end, args.time_limit)]
    if args.small:
        out.append(run(args.small, args.start, args.end, min(args.time_limit, 20.0)))
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1, default=str),
                             encoding="utf-8")
    return 1 if any(r["problems"] for r in out) else 0


if __name__ == "__main__":
    sys.exit(main())
