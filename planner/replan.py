"""Insert an urgent inspection into today's routes, keeping what has already happened.

A day plan (:class:`planner.daily.DayPlan`) is re-planned at a clock time "now":

Frozen stops
    A stop whose service *started before now* is frozen: it stays on its crew, in order, at
    its planned times (its start window is pinned to the planned start, and it is a
    committed prefix of the route, :class:`planner.model.FrozenPrefix`). A lunch break that
    started before now is kept too.
Where a crew continues from
    Each crew is given a zero-length *checkpoint* after its frozen stops: at its last frozen
    stop (at its base if it has none, or if it is already back) at ``max(now, end of that
    service, end of a lunch begun before now)``. A crew driving between stops at ``now`` is
    thus assumed to turn round from its last stop — pessimistic, never optimistic, about
    where it can be next. No other stop may start before now.
The urgent visit
    Its service must start inside ``[now, now + within]`` (default 2 h) and inside the
    object's opening hours; its priority (default 10) weighs ten routine visits. It goes to a
    crew that includes every unit it needs; if no crew of the day does, a new crew is formed
    from certified officer pairs not already out (a department "reporting in", leaving its
    base at now).
How
    First the cheapest insertion that keeps every other stop where it is (each crew, each
    position after its checkpoint, checked exactly by :func:`planner.result.evaluate`), the
    candidate that moves fewest stops, then adds least distance. Only if none fits is the
    day re-solved (:func:`planner.routes.solve`) with the frozen prefixes, the urgent visit
    worth ten routine ones, so routine stops may be reordered, moved to another crew or, as
    a last resort, displaced (listed as left out).

"Moved"
    A planned stop that had not started by now *moved* if, in the new plan, it is on another
    crew, or dropped, or its order among the stops its crew kept from the old plan changed
    (so a stop merely pushed one place down by the inserted visit did not move by order), or
    its service starts more than ``threshold_min`` (default 15) minutes earlier or later.

If the urgent visit cannot be served the old plan is returned unchanged with the reason:
no crew includes its units and no certified pair is free; the deadline falls outside its
opening hours or after the shift; or no crew can reach it in time (each crew's earliest
possible start is given).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from dispatch.teams.loader import TeamRoster
from geo.traveltime import TravelTimes
from planner.daily import (
    Built,
    Crew,
    CrewOfficer,
    CrewRoute,
    DayOptions,
    DayPlan,
    DayVisit,
    LeftOut,
    build_problem,
    certified_pairs,
    clock,
    crew_base,
    explain_unrouted,
    routes_of,
    serve_alone,
    travel_matrix,
    unit_name,
)
from planner.items import format_clock
from planner.model import RoutingProblem, TimeWindow
from planner.objects import InspectionObject
from planner.result import Route, RoutingResult, evaluate
from planner.routes import solve

URGENT_PRIORITY = 10
DEFAULT_WITHIN_MIN = 120
DEFAULT_THRESHOLD_MIN = 15


@dataclass(frozen=True)
class Move:
    """A planned stop that moved: where it was and is (crew, start s) and why."""

    visit_id: str
    before_crew: str
    before_start_s: float
    after_crew: str | None
    after_start_s: float | None
    why: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"visit_id": self.visit_id, "why": list(self.why),
                "before": {"crew": self.before_crew, "start": clock(self.before_start_s)},
                "after": (None if self.after_crew is None else
                          {"crew": self.after_crew, "start": clock(self.after_start_s or 0.0)})}


@dataclass(frozen=True)
class InsertResult:
    """The outcome of an insertion; ``plan`` is the old plan unchanged when not inserted."""

    plan: DayPlan
    visit: DayVisit
    inserted: bool
    crew_id: str | None
    start_s: float | None
    method: str
    kind: str
    reason: str
    frozen: int
    moved: tuple[Move, ...]
    threshold_min: int
    new_crew: bool
    runtime_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"inserted": self.inserted, "visit": self.visit.as_dict(),
                "crew": self.crew_id, "start": clock(self.start_s) if self.start_s else None,
                "method": self.method, "kind": self.kind, "reason": self.reason,
                "frozen_stops": self.frozen, "moved": len(self.moved),
                "moved_threshold_min": self.threshold_min,
                "moved_stops": [m.as_dict() for m in self.moved], "new_crew": self.new_crew,
                "runtime_s": round(self.runtime_s, 3), "eta_source": self.plan.eta_source}


def default_units(township: str, roster: TeamRoster) -> tuple[str, ...]:
    """The unit that inspects in ``township`` by default: its township or hub team."""
    for kind in ("township", "hub"):
        for t in roster.teams:
            if t.kind == kind and township in t.serves:
                return (t.id,)
    return ()


def urgent_visit(obj: InspectionObject, units: Sequence[str], minutes: int, now_min: int, *,
                 within_min: int = DEFAULT_WITHIN_MIN, priority: int = URGENT_PRIORITY,
                 items: Sequence[str] = (), departments: Sequence[str] = (),
                 visit_id: str | None = None) -> DayVisit:
    """An urgent visit to ``obj``: service to start within ``within_min`` minutes of now."""
    if minutes <= 0:
        raise ValueError(f"minutes: {minutes} must be positive")
    if within_min <= 0:
        raise ValueError(f"within: {within_min} must be positive minutes")
    if not units:
        raise ValueError("units: at least one unit must inspect")
    return DayVisit(id=visit_id or f"urgent:{obj.id}", object_id=obj.id, name=obj.name,
                    township=obj.township, lon=obj.lon, lat=obj.lat,
                    units=tuple(sorted(set(units))), minutes=minutes, open_min=obj.open_min,
                    close_min=obj.close_min, deadline=(now_min, now_min + within_min),
                    items=tuple(items), departments=tuple(departments), priority=priority)


def moved_stops(old: DayPlan, new: DayPlan, now_s: float,
                threshold_min: int = DEFAULT_THRESHOLD_MIN) -> tuple[Move, ...]:
    """Stops of ``old`` not started by ``now_s`` that moved in ``new`` (module docstring)."""
    new_at = {s.visit_id: (r.crew_id, s) for r in new.routes for s in r.stops}
    kept: dict[str, tuple[list[str], list[str]]] = {}
    for r in old.routes:
        nr = next((x for x in new.routes if x.crew_id == r.crew_id), None)
        both = {s.visit_id for s in r.stops} & ({s.visit_id for s in nr.stops} if nr else set())
        kept[r.crew_id] = ([s.visit_id for s in r.stops if s.visit_id in both],
                           [s.visit_id for s in nr.stops if s.visit_id in both] if nr else [])
    out = []
    for r in old.routes:
        for s in r.stops:
            if s.start_s < now_s:
                continue
            why: list[str] = []
            after = new_at.get(s.visit_id)
            if after is None:
                why.append("dropped")
            else:
                crew, ns = after
                if crew != r.crew_id:
                    why.append("crew")
                else:
                    a, b = kept[crew]
                    if a.index(s.visit_id) != b.index(s.visit_id):
                        why.append("order")
                if abs(ns.start_s - s.start_s) > threshold_min * 60:
                    why.append("time")
            if why:
                out.append(Move(s.visit_id, r.crew_id, s.start_s,
                                after[0] if after else None,
                                after[1].start_s if after else None, tuple(why)))
    return tuple(out)


def insert_urgent(plan: DayPlan, visit: DayVisit, now_min: int, *, travel: TravelTimes,
                  roster: TeamRoster | None = None, time_limit_s: float = 3.0,
                  threshold_min: int = DEFAULT_THRESHOLD_MIN) -> InsertResult:
    """Insert ``visit`` into ``plan`` at clock time ``now_min`` (minutes after midnight).

    Parameters
    ----------
    roster
        Needed only to form a new crew when no crew of the plan includes the visit's units.
    time_limit_s
        Budget of the re-solve, used only when no cheap insertion fits.

    Returns
    -------
    InsertResult
        Never an empty plan: if the visit cannot be served, the old plan and the reason.
    """
    t0 = time.perf_counter()
    o = plan.options
    now_s = now_min * 60.0
    if visit.id in plan.visit_by_id:
        raise ValueError(f"visit: {visit.id!r} is already in the plan")
    frozen_n = sum(1 for r in plan.routes for s in r.stops if s.start_s < now_s)

    def fail(kind: str, reason: str, method: str = "none") -> InsertResult:
        return InsertResult(plan, visit, False, None, None, method, kind, reason, frozen_n, (),
                            threshold_min, False, time.perf_counter() - t0)

    if now_min >= o.shift[1]:
        return fail("no_time", f"no time left in any shift: it is {format_clock(now_min)} and "
                    f"shifts end at {format_clock(o.shift[1])}")
    if visit.start_window() is None:
        return fail("opening_hours", f"its {visit.hours_text()} leave no time to start "
                    f"{visit.minutes} min of checks")

    crews = list(plan.crews)
    start_at: dict[int, float] = {}
    new_crew = False
    if not any(c.covers(visit.units) for c in crews):
        made = _new_crew(plan, visit, roster, len(crews) + 1)
        if isinstance(made, str):
            return fail("no_certified_crew", made)
        crews.append(made)
        start_at[len(crews) - 1] = max(now_s, o.shift[0] * 60.0)
        new_crew = True

    routed = [plan.visit_by_id[s.visit_id] for r in plan.routes for s in r.stops]
    visits = [*routed, visit]
    route_of = {r.crew_id: r for r in plan.routes}
    where: dict[int, tuple[float, float, float]] = {}
    if now_s > o.shift[0] * 60.0:
        for k, c in enumerate(crews):
            if k not in start_at:
                where[k] = crew_position(c, route_of.get(c.id), plan, now_s)
    base_ids = sorted({(c.base_lon, c.base_lat) for c in crews})
    lon = [b[0] for b in base_ids] + [v.lon for v in visits] + [w[0] for w in where.values()]
    lat = [b[1] for b in base_ids] + [v.lat for v in visits] + [w[1] for w in where.values()]
    matrix = travel_matrix(lon, lat, travel)
    base_loc = {c.id: base_ids.index((c.base_lon, c.base_lat)) for c in crews}
    visit_loc = {v.id: len(base_ids) + k for k, v in enumerate(visits)}
    first_pos = len(base_ids) + len(visits)
    checkpoints = {k: (first_pos + i, w[2]) for i, (k, w) in enumerate(where.items())}

    keep: dict[str, tuple[float, float]] = {}   # stops stay at or after their planned start
    free: dict[str, tuple[float, float]] = {}   # stops may move anywhere after now
    frozen: dict[int, list[str]] = {}
    for k, c in enumerate(crews):
        r = route_of.get(c.id)
        for st in (r.stops if r else ()):
            if st.start_s < now_s:
                keep[st.visit_id] = free[st.visit_id] = (st.start_s, st.start_s + 1.0)
            else:
                w = plan.visit_by_id[st.visit_id].start_window()
                assert w is not None
                free[st.visit_id] = (max(w[0] * 60.0, now_s), w[1] * 60.0)
                keep[st.visit_id] = (max(free[st.visit_id][0], st.start_s), w[1] * 60.0)
        frozen[k] = [st.visit_id for st in (r.stops if r else ()) if st.start_s < now_s]
    w = visit.start_window()
    assert w is not None
    keep[visit.id] = free[visit.id] = (max(w[0] * 60.0, now_s), w[1] * 60.0)
    routine = [v.id for v in routed]
    required = [vid for fz in frozen.values() for vid in fz]

    def build(windows: dict[str, tuple[float, float]]):
        return build_problem(crews, visits, matrix, base_loc, visit_loc, o, windows=windows,
                             required=required, frozen=frozen, checkpoints=checkpoints,
                             shift_start_s=start_at)

    built = build(keep)
    p = built.problem
    index = {v.id: c for c, v in enumerate(visits)}
    urgent = index[visit.id]
    prefix_len = {k: len(p.frozen_prefix(k)) for k in range(len(crews))}
    old_plan: list[list[int]] = []
    for k, c in enumerate(crews):
        r = route_of.get(c.id)
        seq = [index[st.visit_id] for st in (r.stops if r else ())]
        cps = [cl for cl, veh in built.checkpoints.items() if veh == k]
        cut = len(frozen[k])
        old_plan.append(seq[:cut] + cps + seq[cut:])
    late_all, notes = _reach_notes(built, urgent, visit, checkpoints, start_at, o, now_s)
    if late_all:
        return fail(*_no_time(visit, p.clients[urgent].windows[0].latest, notes))
    base_eval = evaluate(p, old_plan)
    found: Found | None = None
    method = "insertion"
    if not [x for x in base_eval.violations if x.kind != "unassigned"]:
        found = _cheapest_insertion(p, old_plan, urgent, prefix_len, base_eval, threshold_min)
        if found is None or found[3][1] > 1:
            # Taking one stop off the crew (and putting it elsewhere) may move fewer.
            other = _insertion_with_ejection(p, old_plan, urgent, prefix_len, base_eval,
                                             threshold_min)
            if other is not None and (found is None or other[3] < found[3]):
                found = other
                method = ("insertion displacing one stop" if found[2]
                          else "insertion moving one stop")
    result = None
    if found is not None:
        result = evaluate(found[1], found[0], runtime_s=time.perf_counter() - t0,
                          solver=method)
    if found is None or found[2]:
        # Nothing fits without displacing a planned stop: re-solve the day (routine stops may
        # be reordered or moved between crews) and keep it if it displaces fewer.
        free_built = build(free)
        if not serve_alone(free_built.problem, urgent)[0]:
            return fail(*_why_not(free_built, evaluate(free_built.problem, []), urgent, visit,
                                  checkpoints, start_at, o, now_s))
        budget = max(0.5, time_limit_s - (time.perf_counter() - t0))
        solved = solve(free_built.problem, budget, seed=o.seed)
        n_served = len({st.client for r in solved.routes for st in r.stops})
        ok = not [x for x in solved.violations if x.kind != "unassigned"]
        if ok and (result is None or n_served > len({st.client for r in result.routes
                                                      for st in r.stops})):
            result, built, found, method = solved, free_built, None, "re-solve"
    assert result is not None
    best = found[0] if found is not None else None
    served = {st.client for r in result.routes for st in r.stops}
    hard = [x for x in result.violations if x.kind != "unassigned"]
    if urgent not in served or hard:
        kind, reason = _why_not(built, result, urgent, visit, checkpoints, start_at, o, now_s)
        return fail(kind, reason, method)

    planned = {index[st.visit_id]: st.start_s for r in plan.routes for st in r.stops}
    routes = list(routes_of(built, result, prefer=planned))
    for k, c in enumerate(crews):
        old_r = route_of.get(c.id)
        if old_r is None:
            continue
        if best is not None and best[k] == old_plan[k]:
            routes[k] = old_r  # a crew the insertion did not touch keeps its day as planned
            continue
        # What happened before now is the record: the model pins it to within a second
        # (integer rounding inside the solver); report it exactly as it was planned.
        n = len(frozen[k])
        assert tuple(x.visit_id for x in routes[k].stops[:n]) == tuple(frozen[k])
        routes[k] = replace(
            routes[k], stops=old_r.stops[:n] + routes[k].stops[n:],
            departure_s=(old_r.departure_s if old_r.stops and old_r.departure_s < now_s
                         else routes[k].departure_s),
            lunch=(old_r.lunch if old_r.stops and old_r.lunch and old_r.lunch[0] < now_s
                   else routes[k].lunch))
    left = list(plan.left_out)
    for vid in routine:
        if index[vid] not in served:
            left.append(LeftOut(vid, "displaced", f"displaced by the urgent visit {visit.id} "
                                f"at {format_clock(now_min)}"))
    solver_info = dict(plan.solver)
    solver_info["replan"] = {"at": format_clock(now_min), "method": method,
                             "urgent": visit.id, "runtime_s": round(time.perf_counter() - t0, 3),
                             "routing": result.solver}
    new_plan = replace(plan, crews=tuple(crews), visits=(*plan.visits, visit),
                       routes=tuple(routes), left_out=tuple(left), solver=solver_info,
                       replanned_at=now_min, eta_source=matrix.eta_source)
    stop = new_plan.stop_of(visit.id)
    assert stop is not None
    return InsertResult(new_plan, visit, True, stop[0], stop[2].start_s, method, "", "",
                        frozen_n, moved_stops(plan, new_plan, now_s, threshold_min),
                        threshold_min, new_crew, time.perf_counter() - t0)


def crew_position(crew: Crew, route: CrewRoute | None, plan: DayPlan, now_s: float
                  ) -> tuple[float, float, float]:
    """Where a crew is at ``now_s`` by its plan, and from when it is free: (lon, lat, t).

    At its base before it leaves and after it is back; at a stop while serving it (free at
    the end of the service) or waiting there; at lunch, free when lunch ends; on the road,
    at the share of the leg (straight between the two places) that the elapsed share of the
    leg's travel time gives.
    """
    base = (crew.base_lon, crew.base_lat)
    if route is None or not route.stops or now_s <= route.departure_s \
            or now_s >= route.return_s:
        return (*base, now_s)
    vis = plan.visit_by_id
    t = now_s
    if route.lunch is not None and route.lunch[0] <= now_s < route.lunch[1]:
        t = route.lunch[1]
    places = [base] + [(vis[st.visit_id].lon, vis[st.visit_id].lat) for st in route.stops]
    ends = [route.departure_s] + [st.end_s for st in route.stops]
    back_travel = route.travel_s - sum(st.travel_s for st in route.stops)
    legs = [(st.arrival_s, st.travel_s) for st in route.stops] + [(route.return_s,
                                                                  back_travel)]
    for k, st in enumerate(route.stops):
        if st.start_s <= now_s < st.end_s:
            return (*places[k + 1], st.end_s)
    for k, (arrival, travel_s) in enumerate(legs):
        if not ends[k] <= now_s < arrival + 1e-9:
            continue
        here = places[k]
        there = places[k + 1] if k + 1 < len(places) else base
        leave = arrival - travel_s
        if now_s <= leave or travel_s <= 0:
            return (*here, t)
        f = (now_s - leave) / travel_s
        return (here[0] + f * (there[0] - here[0]), here[1] + f * (there[1] - here[1]), t)
    # Waiting at the next stop before it opens.
    nxt = next((k for k, st in enumerate(route.stops) if st.arrival_s <= now_s < st.start_s),
               None)
    if nxt is not None:
        return (*places[nxt + 1], t)
    return (*base, t)


def _feasible(p: RoutingProblem, plan: list[list[int]], changed: Sequence[int], urgent: int
              ) -> tuple[RoutingResult, RoutingProblem] | None:
    """``plan`` checked on the vehicles in ``changed`` (the others left empty), or None.

    The checker takes the lunch break at the first place it fits, which can put it just
    before the urgent visit; a plan holding the urgent visit is also tried with its start
    pinned to the crew's arrival, so that lunch follows it when the rest of the day allows.
    The variant serving the urgent visit sooner wins.
    """
    trial: list[list[int]] = [[] for _ in range(p.n_vehicles)]
    for k in changed:
        trial[k] = plan[k]
    res = evaluate(p, trial)
    ok = not any(x.vehicle in changed for x in res.violations)
    holder = next((k for k in changed if urgent in plan[k]), None)
    if holder is None:
        return (res, p) if ok else None
    route = next(r for r in res.routes if r.vehicle == holder)
    pos = plan[holder].index(urgent)
    stop = route.stops[pos]
    window = p.clients[urgent].windows[0]
    reach = max(_reach(p, holder, route, pos, urgent), window.earliest)
    if stop.start - reach > 60.0 and reach <= window.latest:
        pinned = replace(p.clients[urgent],
                         windows=(TimeWindow(reach, min(window.latest, reach + 60.0)),))
        q = replace(p, clients=(*p.clients[:urgent], pinned, *p.clients[urgent + 1:]))
        res2 = evaluate(q, trial)
        if not any(x.vehicle in changed for x in res2.violations):
            return res2, q
    return (res, p) if ok else None


def _shifted(res: RoutingResult, old_start: dict[int, float], threshold_min: int) -> int:
    """Stops of the checked routes whose start moved more than the threshold."""
    return sum(1 for r in res.routes for s in r.stops if s.client in old_start
               and abs(s.start - old_start[s.client]) > threshold_min * 60)


def _urgent_start(res: RoutingResult, urgent: int) -> float:
    return next(s.start for r in res.routes for s in r.stops if s.client == urgent)


# plan, problem it was checked on, displaced clients, (displaced, moved, urgent start, metres)
Found = tuple[list[list[int]], RoutingProblem, list[int], tuple[int, int, int, float]]


def _cheapest_insertion(p: RoutingProblem, old_plan: list[list[int]], urgent: int,
                        prefix_len: dict[int, int], base_eval: RoutingResult,
                        threshold_min: int) -> Found | None:
    """The feasible single insertion that moves fewest stops, then serves the urgent visit
    soonest, then adds least distance."""
    old_start = {s.client: s.start for r in base_eval.routes for s in r.stops}
    dist = {r.vehicle: r.distance for r in base_eval.routes}
    best: Found | None = None
    for k in range(p.n_vehicles):
        if not p.can_serve(k, urgent):
            continue
        for pos in range(prefix_len[k], len(old_plan[k]) + 1):
            plan = [list(x) for x in old_plan]
            plan[k] = [*old_plan[k][:pos], urgent, *old_plan[k][pos:]]
            got = _feasible(p, plan, [k], urgent)
            if got is None:
                continue
            res, q = got
            key = (0, _shifted(res, old_start, threshold_min), round(_urgent_start(res, urgent)),
                   res.distance - dist.get(k, 0.0))
            if best is None or key < best[3]:
                best = (plan, q, [], key)
    return best


def _insertion_with_ejection(p: RoutingProblem, old_plan: list[list[int]], urgent: int,
                             prefix_len: dict[int, int], base_eval: RoutingResult,
                             threshold_min: int, shortlist: int = 8) -> Found | None:
    """Make room by taking one planned stop off a crew that can serve the urgent visit.

    Every (crew, stop taken off, place of the urgent visit) that fits is ranked by stops
    shifted, then the urgent start; for the best few, the stop taken off is put back at its
    cheapest feasible place on any crew that can serve it, or else displaced. The result
    with no stop displaced, then fewest moved, then the soonest urgent start wins.
    """
    old_start = {s.client: s.start for r in base_eval.routes for s in r.stops}
    dist0 = {r.vehicle: r.distance for r in base_eval.routes}
    cands = []
    for k in range(p.n_vehicles):
        if not p.can_serve(k, urgent):
            continue
        old = old_plan[k]
        for j in range(prefix_len[k], len(old)):
            rest = old[:j] + old[j + 1:]
            for pos in range(prefix_len[k], len(rest) + 1):
                plan = [list(x) for x in old_plan]
                plan[k] = [*rest[:pos], urgent, *rest[pos:]]
                got = _feasible(p, plan, [k], urgent)
                if got is not None:
                    res, q = got
                    cands.append(((_shifted(res, old_start, threshold_min),
                                   round(_urgent_start(res, urgent)),
                                   res.distance - dist0.get(k, 0.0)), k, old[j], plan, q))
    cands.sort(key=lambda c: c[0])
    best: Found | None = None
    for (shifted, start, dist), k, x, plan, q in cands[:shortlist]:
        key = (1, shifted + 1, start, dist)
        if best is None or key < best[3]:
            best = (plan, q, [x], key)
        for k2 in range(p.n_vehicles):
            if not p.can_serve(k2, x):
                continue
            for pos in range(prefix_len[k2], len(plan[k2]) + 1):
                trial = [list(r) for r in plan]
                trial[k2] = [*plan[k2][:pos], x, *plan[k2][pos:]]
                got = _feasible(q, trial, sorted({k, k2}), urgent)
                if got is None:
                    continue
                res, q2 = got
                moved = _shifted(res, {c: t for c, t in old_start.items() if c != x},
                                 threshold_min) + 1
                key = (0, moved, round(_urgent_start(res, urgent)),
                       res.distance - sum(dist0.get(v, 0.0) for v in {k, k2}))
                if best is None or key < best[3]:
                    best = (trial, q2, [], key)
    return best


def _reach(p: RoutingProblem, vehicle: int, route: Route, pos: int, client: int) -> float:
    """When the vehicle could reach ``client`` at position ``pos`` if no break came first."""
    vt = p.vehicle(vehicle)
    if pos == 0:
        loc = p.depots[vt.start_depot].location
        leave = max(vt.shift.earliest, p.depots[vt.start_depot].window.earliest)
    else:
        prev = route.stops[pos - 1]
        loc, leave = prev.location, prev.departure
    return leave + float(p.travel_time[loc, p.clients[client].location])


def _new_crew(plan: DayPlan, visit: DayVisit, roster: TeamRoster | None, number: int
              ) -> Crew | str:
    """A crew formed now from free certified pairs, or the reason there is none."""
    units = "/".join(visit.units)
    if roster is None:
        return (f"no certified crew: no crew of the day includes all of {units} (and no roster "
                "was given to form a new one)")
    busy = {o.member_id for c in plan.crews for o in c.officers}
    pairs = {u: certified_pairs(u, roster, plan.day, plan.options, busy) for u in visit.units}
    short = [u for u, ps in pairs.items() if not ps]
    if short:
        why = []
        for u in short:
            total = certified_pairs(u, roster, plan.day, plan.options)
            why.append(f"{unit_name(u, roster)} ({u}) has "
                       + (f"all {len(total)} certified pair(s) already out in crews"
                          if total else f"no certified officer pair on {plan.day}"))
        return (f"no certified crew: no crew of the day includes all of {units}, and "
                + "; ".join(why))
    base = crew_base(visit.units, pairs, roster)
    assert base is not None
    officers = tuple(CrewOfficer(m.id, m.name, ps[0].team.id,
                                 m.certificate.number if m.certificate else "")
                     for ps in pairs.values() for m in ps[0].members)
    return Crew(id=f"C{number:02d}", name=" + ".join(unit_name(u, roster) for u in visit.units),
                units=visit.units, officers=officers, base_team=base.id, base_lon=base.base_lon,
                base_lat=base.base_lat, base_name=base.base_address or base.name)


def _reach_notes(built: Built, urgent: int, visit: DayVisit,
                 checkpoints: dict[int, tuple[int, float]], start_at: dict[int, float],
                 o: DayOptions, now_s: float) -> tuple[bool, list[str]]:
    """Per compatible crew: can it reach the urgent visit in time and be back by the end of
    the shift, setting its planned stops aside? (all too late, notes)."""
    p, m = built.problem, built.matrix
    row = built.loc_of_client[urgent]
    lo, hi = p.clients[urgent].windows[0].earliest, p.clients[urgent].windows[0].latest
    notes = []
    late_all = True
    for k, crew in enumerate(built.crews):
        if not p.can_serve(k, urgent):
            continue
        if k in checkpoints:
            loc, t = checkpoints[k]
        else:
            loc, t = built.loc_of_crew[k], max(start_at.get(k, o.shift[0] * 60.0), now_s)
        early = max(lo, t + float(m.seconds[loc, row]))
        back = early + visit.minutes * 60 + float(m.seconds[row, built.loc_of_crew[k]])
        if early > hi:
            notes.append(f"{crew.id} could start at {clock(early)} at the earliest")
        elif back > o.shift[1] * 60:
            notes.append(f"{crew.id} would be back at {clock(back)}, after the shift ends at "
                         f"{format_clock(o.shift[1])}")
        else:
            late_all = False
            notes.append(f"{crew.id} could start at {clock(early)} but its lunch break and "
                         "the stops it has already made leave no gap")
    return late_all, notes


def _no_time(visit: DayVisit, hi: float, notes: list[str]) -> tuple[str, str]:
    return "no_time", (f"no time left in any shift: service must start by {clock(hi)} "
                       f"({visit.hours_text()}); " + "; ".join(notes))


def _why_not(built: Built, result: RoutingResult, urgent: int, visit: DayVisit,
             checkpoints: dict[int, tuple[int, float]], start_at: dict[int, float],
             o: DayOptions, now_s: float) -> tuple[str, str]:
    """Why the urgent visit could not be served, with each crew's earliest possible start."""
    late_all, notes = _reach_notes(built, urgent, visit, checkpoints, start_at, o, now_s)
    hi = built.problem.clients[urgent].windows[0].latest
    if late_all:
        return _no_time(visit, hi, notes)
    kind, reason = explain_unrouted(built, result, urgent, o)
    if kind == "no_time":
        return kind, (f"no crew that includes {'/'.join(visit.units)} can fit it by "
                      f"{clock(hi)}: " + "; ".join(notes))
    return kind, f"{reason}; " + "; ".join(notes)


def frozen_unchanged(old: DayPlan, new: DayPlan, now_s: float, tol_s: float = 1.0) -> bool:
    """Whether every stop started before ``now_s`` kept its crew, order and times."""
    for r in old.routes:
        done = [s for s in r.stops if s.start_s < now_s]
        if not done:
            continue
        try:
            nr = new.route_of(r.crew_id)
        except KeyError:
            return False
        if len(nr.stops) < len(done):
            return False
        for a, b in zip(done, nr.stops[: len(done)], strict=True):
            if a.visit_id != b.visit_id or not math.isclose(a.start_s, b.start_s,
                                                            abs_tol=tol_s):
                return False
    return True


