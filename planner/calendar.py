"""The inspection calendar: on which working day each required check of a zone happens.

For a zone and a horizon (a month, a quarter, a year) the calendar places every required
check (:func:`planner.items.required_visits`) on a Chinese working day inside its due window,
so that different departments' checks of one object share a trip — "综合查一次" (Huancui
report 2025 §三; 厦湖府办〔2024〕11号 §三(六)3: fewer separate visits by each department).

Model (OR-Tools CP-SAT)
-----------------------
Decisions are made per *part* (:mod:`planner.joint`): everything one team checks at one object
in one due window. ``x[p, d]`` is true when part ``p`` is done on working day ``d``; only days in
its window on which its team fields a crew are candidates. ``z[o, d, n]`` is true when object
``o`` gets a combinable visit on day ``d`` (``n``: on the night duty, see
:mod:`planner.joint`), implied by any of its parts then, so parts of several teams on the
same day and duty are one joint visit with every team present.

Hard rules
    * each part on at most one day (``y[p]`` = placed); a part not placed is penalised and
      listed with its reason;
    * each team's minutes per day (checks + setup + travel allowance) within its capacity;
    * consecutive visits of an item at an object at least the item's ``min_spacing_days``
      apart;
    * anti-repeat: an object's combinable visits on different days are at least
      ``anti_repeat_days`` apart (AtMostOne of ``z`` over every sliding window). This is
      stricter than "no two departments separately within N days when a joint visit was
      possible", so a plan can never break that rule.

Objective (lexicographic by weights)
    1. checks not placed (each one weighs more than any change below);
    2. separate visits: Σ z plus stand-alone trips;
    3. balance: Σ over teams of the busiest day's utilisation (per mille).

Because every due window lies inside one calendar month (see :mod:`planner.joint`), the
default is to solve month by month: each month is a model of its own whose candidate days
already respect spacing and anti-repeat with the months fixed before it. Each month model is
hinted with :func:`planner.joint.place_greedy`'s joint construction; the solver's answer is
kept only if it is at least as good as that construction, and parts a search stopped by its
time limit left out are added afterwards where they still fit.

The bound reported is that of the month models (a bound of the decomposed problem, not of the
horizon as one): the larger of CP-SAT's own bound and a structural one, ``w_visit`` times the
fewest visits the model's parts could use (:func:`visits_lower_bound`: per object, the most
pairwise-disjoint due windows plus its stand-alone trips). CP-SAT's linear relaxation keeps
few of the ``x → z`` links, so its own bound on visits is weak; both are reported.

A check no team can make (no team of its department, no certified officer on any day of its
window, the team unavailable throughout) is listed before solving; a check that lost out on
capacity, spacing or anti-repeat is listed after, with the numbers. The plan is never empty
for lack of one team.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from dispatch.catalog.loader import bundled_catalog_path, load_catalog
from dispatch.catalog.service import Catalogue
from dispatch.teams.loader import TeamRoster, bundled_teams
from geo.boundaries import District, bundled_district
from geo.traveltime import TravelTimes, travel_times_for
from planner.baseline import baseline_calendar
from planner.calendar_result import CalendarPlan, SolverStats
from planner.items import ItemList, load_items
from planner.joint import (
    CalendarInputError,
    CalendarInstance,
    CalendarOptions,
    Part,
    assemble_plan,
    diagnose,
    place_greedy,
    repeats_visit,
)
from planner.objects import Demand, ObjectSet, load_objects, zone_demand

__all__ = ["CalendarInputError", "CalendarOptions", "plan_calendar", "plan_zone",
           "visits_lower_bound"]

_STATUS = {cp_model.OPTIMAL: "OPTIMAL", cp_model.FEASIBLE: "FEASIBLE",
           cp_model.INFEASIBLE: "INFEASIBLE", cp_model.MODEL_INVALID: "MODEL_INVALID",
           cp_model.UNKNOWN: "UNKNOWN"}


def plan_calendar(demand: Demand, roster: TeamRoster, catalogue: Catalogue,
                  travel: TravelTimes | None = None, options: CalendarOptions | None = None,
                  district: District | None = None) -> CalendarPlan:
    """Plan the inspections of ``demand`` (a zone over ``[start, end)``) on working days.

    Parameters
    ----------
    demand
        What the zone's objects need (:func:`planner.objects.zone_demand`).
    roster
        The district's teams; certificates decide who can inspect on which day.
    catalogue
        The power catalogue: items whose matters the township holds go to its team.
    travel
        Travel times for the allowance; default :func:`geo.traveltime.travel_times_for` of
        ``district`` (or of the catalogue's district).
    options
        See :class:`planner.joint.CalendarOptions`.

    Returns
    -------
    CalendarPlan
        With ``metrics`` comparing it with :func:`planner.baseline.baseline_calendar` on the
        same instance.
    """
    t0 = time.perf_counter()
    options = options or CalendarOptions()
    travel = travel or travel_times_for(district or catalogue.district)
    inst = CalendarInstance.build(demand, roster, catalogue, travel, options)
    t_build = time.perf_counter() - t0
    plan = solve_instance(inst)
    base = baseline_calendar(inst)
    plan.metrics.update(compare(plan, base))
    plan.metrics["capacity_check"] = capacity_check(inst)
    plan.metrics["timing_s"] = {"build": round(t_build, 3), "solve": plan.solver.wall_s,
                                "total": round(time.perf_counter() - t0, 3)}
    return plan


def solve_instance(inst: CalendarInstance) -> CalendarPlan:
    """Place the joint parts of an instance with CP-SAT (month by month by default)."""
    parts = inst.parts("joint")
    spacing = inst.spacing(parts)
    day = np.full(len(parts), -1, dtype=np.int64)
    reasons: dict[int, tuple[str, str]] = {}
    for p in parts:
        if p.cand.size == 0:
            reasons[p.id] = inst.why_no_day(p)
    live = [p for p in parts if p.cand.size]
    if inst.options.decompose == "month":
        blocks: dict[tuple[int, int], list[Part]] = defaultdict(list)
        for p in live:
            blocks[(p.start.year, p.start.month)].append(p)
        ordered = [blocks[k] for k in sorted(blocks)]
    else:
        ordered = [live] if live else []
    weight = [sum(p.cand.size for p in b) for b in ordered]
    total_w = max(sum(weight), 1)
    stats = []
    t0 = time.perf_counter()
    greedy_visits = 0
    for b, w in zip(ordered, weight, strict=True):
        left = inst.options.time_limit_s - (time.perf_counter() - t0)
        budget = max(0.2, min(left, inst.options.time_limit_s * w / total_w))
        info = _solve_block(inst, parts, b, spacing, day, budget)
        greedy_visits += info.pop("greedy_visits")
        stats.append(info)
    wall = time.perf_counter() - t0

    booked = np.zeros_like(inst.capacity)
    for p in parts:
        if day[p.id] >= 0:
            booked[p.slot, day[p.id]] += p.load_min
    for p in parts:
        if day[p.id] < 0 and p.id not in reasons:
            reasons[p.id] = diagnose(inst, parts, spacing, day, booked, p.id, coordinate=True)

    solver = _summarise(stats, wall)
    plan = assemble_plan(inst, parts, day, reasons, solver, merge=True)
    plan.metrics["visits_lower_bound"] = visits_lower_bound(parts, day)
    plan.metrics["greedy_visits"] = greedy_visits
    return plan


def _summarise(stats: list[dict[str, Any]], wall: float) -> SolverStats:
    if not stats:
        return SolverStats("CP-SAT", "EMPTY", 0.0, 0.0, 0.0, wall, (),
                           "nothing to place")
    statuses = [s["status"] for s in stats]
    status = "OPTIMAL" if all(s == "OPTIMAL" for s in statuses) else "FEASIBLE"
    obj = float(sum(s["objective"] for s in stats))
    bound = float(sum(s["best_bound"] for s in stats))
    cps = [s["cp_sat_bound"] for s in stats]
    cp = float(sum(cps)) if all(c is not None for c in cps) else None
    gap = abs(obj - bound) / max(1.0, abs(obj))
    note = ("month by month: objective and bound are sums over the month models, each solved "
            "after the months before it were fixed" if len(stats) > 1 else "one model")
    kept = sum("greedy kept" in s for s in statuses)
    if kept:
        note += f"; {kept} block(s) kept the greedy construction (better than the solver's)"
    return SolverStats("CP-SAT", status, obj, bound, gap, wall, tuple(stats), note, cp)


def _solve_block(inst: CalendarInstance, parts: Sequence[Part], block: list[Part],
                 spacing: Mapping[tuple[int, int], int], day: np.ndarray, budget: float
                 ) -> dict[str, Any]:
    """Solve one block in place (writes ``day``); return its solver figures."""
    opts = inst.options
    ordn = inst.ordinal
    gap_n = opts.anti_repeat_days
    in_block = {p.id for p in block}
    fixed = {int(i): int(d) for i, d in enumerate(day) if d >= 0}
    booked = np.zeros_like(inst.capacity)
    obj_days: dict[int, set[tuple[int, bool]]] = defaultdict(set)
    for pid, d in fixed.items():
        q = parts[pid]
        booked[q.slot, d] += q.load_min
        if q.combinable:
            obj_days[q.obj].add((d, q.night))
    preds: dict[int, list[tuple[int, int]]] = defaultdict(list)
    succs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    inner: list[tuple[int, int, int]] = []
    for (a, b), g in spacing.items():
        if a in in_block and b in in_block:
            inner.append((a, b, g))
        elif b in in_block:
            preds[b].append((a, g))
        elif a in in_block:
            succs[a].append((b, g))

    cand: dict[int, list[int]] = {}
    for p in block:
        keep = []
        for d in p.cand.tolist():
            t = int(ordn[d])
            if booked[p.slot, d] + p.load_min > inst.capacity[p.slot, d]:
                continue
            if any(day[q] >= 0 and t - int(ordn[day[q]]) < g for q, g in preds[p.id]):
                continue
            if any(day[q] >= 0 and int(ordn[day[q]]) - t < g for q, g in succs[p.id]):
                continue
            if p.combinable and repeats_visit(obj_days[p.obj], d, p.night, ordn, gap_n):
                continue
            keep.append(d)
        cand[p.id] = keep

    hint = place_greedy(inst, parts, spacing, coordinate=True, fixed=fixed, only=in_block).day
    greedy_visits = _count_visits(block, hint)

    m = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    y: dict[int, cp_model.IntVar] = {}
    by_ud: dict[tuple[int, int], list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
    by_od: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
    for p in block:
        if not cand[p.id]:
            continue
        vs = []
        for d in cand[p.id]:
            v = m.new_bool_var(f"x{p.id}_{d}")
            x[(p.id, d)] = v
            vs.append(v)
            by_ud[(p.slot, d)].append((p.load_min, v))
            if p.combinable:
                by_od[(p.obj, d, p.night)].append(v)
        y[p.id] = m.new_bool_var(f"y{p.id}")
        m.add(sum(vs) == y[p.id])
    z: dict[tuple[int, int, bool], cp_model.IntVar] = {}  # (object, day, night duty)
    for (o, d, night), vs in by_od.items():
        zv = m.new_bool_var(f"z{o}_{d}{'n' if night else ''}")
        z[(o, d, night)] = zv
        for v in vs:
            m.add_implication(v, zv)
        m.add_bool_or(vs).only_enforce_if(zv)
    for p in block:  # redundant, but gives the LP relaxation the visit bound directly
        if p.combinable and p.id in y:
            m.add(sum(z[(p.obj, d, p.night)] for d in cand[p.id]) >= y[p.id])
    per_obj: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for o, d, night in z:
        per_obj[o].append((d, night))
    for o, ds in per_obj.items():  # a day and a night visit are separate visits too
        ds.sort()
        last_end = -1
        for i in range(len(ds)):
            j = i
            while j + 1 < len(ds) and ordn[ds[j + 1][0]] - ordn[ds[i][0]] < gap_n:
                j += 1
            if j > i and j > last_end:
                m.add_at_most_one(z[(o, *ds[k])] for k in range(i, j + 1))
                last_end = j
    for a, b, g in inner:
        if a in y and b in y:
            ta = sum(int(ordn[d]) * x[(a, d)] for d in cand[a])
            tb = sum(int(ordn[d]) * x[(b, d)] for d in cand[b])
            m.add(tb - ta >= g).only_enforce_if([y[a], y[b]])
    units = sorted({u for u, _ in by_ud})
    util = {u: m.new_int_var(0, 1000, f"u{u}") for u in units}
    for (u, d), terms in by_ud.items():
        expr = sum(w * v for w, v in terms)
        m.add(expr <= int(inst.capacity[u, d] - booked[u, d]))
        m.add(1000 * expr <= int(inst.capacity[u, d]) * util[u])
    w_visit = 1000 * max(len(units), 1) + 1
    w_miss = 3 * w_visit
    n_items = {p.id: len(p.visits) for p in block}
    solo = [y[p.id] for p in block if not p.combinable and p.id in y]
    m.minimize(w_miss * sum(n_items[pid] * (1 - v) for pid, v in y.items())
               + w_visit * (sum(z.values()) + sum(solo)) + sum(util.values()))

    # Hint: the greedy construction (it respects every rule, so it is a feasible start).
    hint_util: dict[int, int] = defaultdict(int)
    load = defaultdict(int)
    for p in block:
        d = int(hint[p.id])
        if d >= 0 and d in cand[p.id]:
            load[(p.slot, d)] += p.load_min
    for (u, d), ld in load.items():
        cap = int(inst.capacity[u, d])
        hint_util[u] = max(hint_util[u], math.ceil(1000 * ld / cap) if cap else 0)
    for (pid, d), v in x.items():
        m.add_hint(v, int(hint[pid]) == d)
    for pid, v in y.items():
        m.add_hint(v, int(hint[pid]) in cand[pid])
    hinted_days = {(parts[pid].obj, int(hint[pid]), parts[pid].night) for pid in y
                   if parts[pid].combinable and int(hint[pid]) in cand[pid]}
    for key, v in z.items():
        m.add_hint(v, key in hinted_days)
    for u, v in util.items():
        m.add_hint(v, min(1000, hint_util.get(u, 0)))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = budget
    solver.parameters.num_workers = opts.num_workers
    solver.parameters.random_seed = opts.seed
    t0 = time.perf_counter()
    status = solver.solve(m)
    wall = time.perf_counter() - t0
    name = _STATUS.get(status, str(status))

    def value(days: Mapping[int, int]) -> float:
        """The model's objective for a placement of the block (day per part, -1: none)."""
        ok = {pid for pid in y if days.get(pid, -1) in cand[pid]}
        used = {(parts[pid].obj, days[pid], parts[pid].night) for pid in ok
                if parts[pid].combinable}
        ld: dict[tuple[int, int], int] = defaultdict(int)
        for pid in ok:
            ld[(parts[pid].slot, days[pid])] += parts[pid].load_min
        worst: dict[int, int] = defaultdict(int)
        for (u, d), v in ld.items():
            worst[u] = max(worst[u], math.ceil(1000 * v / int(inst.capacity[u, d])))
        return float(w_miss * sum(n_items[pid] for pid in y if pid not in ok)
                     + w_visit * (len(used) + sum(not parts[pid].combinable for pid in ok))
                     + sum(worst.values()))

    greedy = {p.id: int(hint[p.id]) for p in block}
    solved = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    chosen = greedy
    if solved:
        found = {p.id: next((d for d in cand[p.id] if solver.boolean_value(x[(p.id, d)])), -1)
                 for p in block}
        if value(found) <= value(greedy):
            chosen = found
    if chosen is greedy:
        # No solution in time, or one worse than the hint (presolve can lose part of a hint
        # and the search may not win it back in time): keep the greedy construction.
        name = f"{name} (greedy kept)"
    for pid, d in chosen.items():
        if d in cand[pid]:
            day[pid] = d
    # A search stopped by its time limit may leave parts out that still fit: add them.
    missing = [pid for pid in y if day[pid] < 0]
    if missing:
        fixed = {int(i): int(d) for i, d in enumerate(day) if d >= 0}
        extra = place_greedy(inst, parts, spacing, coordinate=True, fixed=fixed,
                             only=missing).day
        for pid in missing:
            if int(extra[pid]) in cand[pid]:
                day[pid] = int(extra[pid])
    objective = value({p.id: int(day[p.id]) for p in block})
    bound = solver.best_objective_bound if solved else math.nan
    # CP-SAT's LP keeps few of the x → z links, so its bound on visits is weak. Any solution
    # costs at least w_visit × (disjoint-window bound over all model parts): an unplaced part
    # lowers that bound by at most one visit but costs w_miss > w_visit.
    live = np.array([0 if p.id in y else -1 for p in parts], dtype=np.int64)
    structural = float(w_visit * visits_lower_bound([p for p in block if p.id in y], live))
    first = min(p.start for p in block)
    cp_bound = bound if math.isfinite(bound) else None
    bound = max(cp_bound, structural) if cp_bound is not None else structural
    return {"block": first.strftime("%Y-%m"), "parts": len(block),
            "variables": len(m.proto.variables), "constraints": len(m.proto.constraints),
            "status": name, "objective": objective, "best_bound": bound,
            "gap": abs(objective - bound) / max(1.0, abs(objective)),
            "cp_sat_bound": cp_bound, "structural_bound": structural,
            "wall_s": round(wall, 3), "time_limit_s": round(budget, 2),
            "visits": _count_visits(block, day), "greedy_visits": greedy_visits}


def _count_visits(block: Sequence[Part], day: np.ndarray) -> int:
    comb = {(p.obj, int(day[p.id]), p.night) for p in block
            if p.combinable and day[p.id] >= 0}
    return len(comb) + sum(1 for p in block if not p.combinable and day[p.id] >= 0)


def visits_lower_bound(parts: Sequence[Part], day: np.ndarray) -> int:
    """Fewest visits any schedule of the placed parts could use.

    Per object: the largest set of pairwise-disjoint due windows among its placed combinable
    parts (each needs a day of its own; earliest-end greedy finds the largest set), plus one
    trip per placed stand-alone part.
    """
    windows: dict[int, set[tuple[date, date]]] = defaultdict(set)
    solo = 0
    for p in parts:
        if day[p.id] < 0:
            continue
        if p.combinable:
            windows[p.obj].add((p.start, p.end))
        else:
            solo += 1
    total = solo
    for ws in windows.values():
        end = date.min
        for s, e in sorted(ws, key=lambda w: w[1]):
            if s >= end:
                total += 1
                end = e
    return total


def compare(plan: CalendarPlan, base: CalendarPlan) -> dict[str, Any]:
    """The plan against the baseline on the same instance: visits, anti-repeat, unplaced."""
    n = max(len(plan.object_ids), 1)
    w, b = len(plan.visits), len(base.visits)
    pw = sum(len(v.checks) for v in plan.visits)
    pb = sum(len(v.checks) for v in base.visits)
    return {
        "objects": len(plan.object_ids),
        "visits": {"whistle": w, "baseline": b},
        "visits_per_object": {"whistle": round(w / n, 3), "baseline": round(b / n, 3)},
        "reduction": round(1 - w / b, 4) if b else None,
        "joint_visits": sum(v.joint for v in plan.visits),
        "combined_visits": sum(len(v.departments) > 1 for v in plan.visits),
        "checks_placed": {"whistle": pw, "baseline": pb},
        "checks_unplaced": {"whistle": len(plan.unplaced), "baseline": len(base.unplaced)},
        "unplaced_by_kind": {"whistle": dict(Counter(u.kind for u in plan.unplaced)),
                             "baseline": dict(Counter(u.kind for u in base.unplaced))},
        "anti_repeat_violations": {"whistle": len(plan.anti_repeat_violations()),
                                   "baseline": len(base.anti_repeat_violations())},
        "baseline_method": base.solver.method,
    }


def capacity_check(inst: CalendarInstance) -> list[dict[str, Any]]:
    """Per team, duty and month: minutes the joint parts need against the team's capacity.

    Computed before solving, from the checks each team must do (one part per object and
    window). ``over_min`` > 0 means the month cannot be done in full by that team.
    """
    need: Counter[tuple[int, str]] = Counter()
    for p in inst.parts("joint"):
        need[(p.slot, p.start.strftime("%Y-%m"))] += p.load_min
    cap: Counter[tuple[int, str]] = Counter()
    for k, d in enumerate(inst.days):
        for s in range(inst.capacity.shape[0]):
            if inst.available[s, k]:
                cap[(s, d.strftime("%Y-%m"))] += int(inst.capacity[s, k])
    rows = []
    n = inst.n_units
    for (s, month), minutes in sorted(need.items()):
        c = cap.get((s, month), 0)
        rows.append({"team": inst.units[s % n].key, "duty": "night" if s >= n else "day",
                     "month": month, "need_min": int(minutes), "capacity_min": int(c),
                     "over_min": max(0, int(minutes - c))})
    return rows


def plan_zone(zone: str, start: date, end: date, options: CalendarOptions | None = None, *,
              district: District | None = None, items: ItemList | None = None,
              objects: ObjectSet | None = None, roster: TeamRoster | None = None,
              catalogue: Catalogue | None = None, object_ids: Sequence[str] | None = None,
              travel: TravelTimes | None = None) -> CalendarPlan:
    """Plan a zone of the bundled (sample) data; any input may be given instead.

    ``object_ids`` restricts the plan to some objects of the zone (tests, small examples).
    """
    district = district or bundled_district("changshan")
    items = items or load_items()
    objects = objects or load_objects(None, items, district)
    roster = roster or bundled_teams(district)
    catalogue = catalogue or load_catalog(bundled_catalog_path(), district)
    demand = zone_demand(objects, items, district, zone, start, end)
    if object_ids is not None:
        from planner.objects import demand as make_demand

        wanted = set(object_ids)
        missing = wanted - {o.id for o in demand.objects}
        if missing:
            raise CalendarInputError(f"object_ids: {', '.join(sorted(missing)[:5])} not in "
                                     f"zone {zone}")
        idx = [int(i) for i, o in zip(demand.object_index, demand.objects, strict=True)
               if o.id in wanted]
        demand = make_demand(objects, items, idx, start, end, demand.area)
    return plan_calendar(demand, roster, catalogue, travel, options, district)
