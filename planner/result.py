"""Routing results, and a feasibility checker that trusts no solver.

:func:`evaluate` takes a problem and a *plan* (the ordered client indices of every vehicle)
and recomputes everything from the problem alone, in double precision: arrival and service
start times (earliest schedule, departure delayed to cut needless waiting), breaks, loads,
distances, durations and costs, and lists every violated rule. A solver's own numbers
(integer-scaled inside OR-Tools) are never copied into a result, so a plan that is
reported feasible is feasible by the problem's own definition.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from planner.model import RoutingProblem, TimeWindow, VehicleType

EPS = 1e-6  # absolute tolerance on times, loads and distances


@dataclass(frozen=True, slots=True)
class Stop:
    """A visit in a route: times in seconds; ``wait`` = ``start - arrival``."""

    client: int
    location: int
    arrival: float
    start: float
    departure: float

    @property
    def wait(self) -> float:
        return self.start - self.arrival


@dataclass(frozen=True, slots=True)
class BreakSlot:
    """A scheduled break; ``after`` is the number of visits made before it."""

    start: float
    end: float
    after: int


@dataclass(frozen=True, slots=True)
class Route:
    """One vehicle's day: ordered stops, departure/return times, distance, load and cost."""

    vehicle: int
    vehicle_type: int
    stops: tuple[Stop, ...]
    breaks: tuple[BreakSlot, ...]
    departure: float
    arrival: float
    distance: float
    load: tuple[int, ...]
    cost: float

    @property
    def clients(self) -> tuple[int, ...]:
        return tuple(s.client for s in self.stops)

    @property
    def duration(self) -> float:
        return self.arrival - self.departure


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken rule; ``kind`` is one of: client, duplicate, frozen, skill, capacity,
    time_window, return, duration, distance, break, unassigned."""

    kind: str
    message: str
    vehicle: int | None = None
    client: int | None = None


@dataclass(frozen=True, eq=False)
class RoutingResult:
    """An immutable solution with its independently recomputed schedule and checks."""

    problem: RoutingProblem
    routes: tuple[Route, ...]
    unassigned: tuple[int, ...]
    violations: tuple[Violation, ...]
    runtime_s: float = 0.0
    first_solution_s: float | None = None
    history: tuple[tuple[float, float], ...] = field(default=())
    solver: str = ""

    def is_feasible(self) -> bool:
        """True when every rule holds and every required client is visited."""
        return not self.violations

    def cost(self) -> float:
        """Route costs plus the prizes of skipped optional clients."""
        skipped = sum(self.problem.clients[c].prize for c in self.unassigned)
        return sum(r.cost for r in self.routes) + skipped

    @property
    def distance(self) -> float:
        return sum(r.distance for r in self.routes)

    @property
    def duration(self) -> float:
        return sum(r.duration for r in self.routes)

    @property
    def n_vehicles(self) -> int:
        """Number of vehicles actually used (non-empty routes)."""
        return len(self.routes)

    @property
    def plan(self) -> tuple[tuple[int, ...], ...]:
        """Client indices per vehicle (empty tuples for unused vehicles)."""
        out: list[tuple[int, ...]] = [() for _ in range(self.problem.n_vehicles)]
        for r in self.routes:
            out[r.vehicle] = r.clients
        return tuple(out)

    def summary(self) -> str:
        """A few readable lines: status, fleet, distance, cost and the first violations."""
        status = "feasible" if self.is_feasible() else f"INFEASIBLE ({len(self.violations)})"
        lines = [
            f"{self.problem.name or 'problem'}: {status}, {self.n_vehicles} vehicles, "
            f"distance {self.distance:.2f}, cost {self.cost():.2f}, "
            f"{len(self.unassigned)} unassigned, solved in {self.runtime_s:.1f} s",
        ]
        lines += [f"  ! {v.message}" for v in self.violations[:5]]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; client numbers are problem indices."""
        return {
            "name": self.problem.name,
            "feasible": self.is_feasible(),
            "vehicles": self.n_vehicles,
            "distance": self.distance,
            "duration": self.duration,
            "cost": self.cost(),
            "unassigned": list(self.unassigned),
            "runtime_s": self.runtime_s,
            "first_solution_s": self.first_solution_s,
            "solver": self.solver,
            "violations": [
                {"kind": v.kind, "message": v.message, "vehicle": v.vehicle, "client": v.client}
                for v in self.violations
            ],
            "routes": [
                {
                    "vehicle": r.vehicle,
                    "vehicle_type": r.vehicle_type,
                    "departure": r.departure,
                    "arrival": r.arrival,
                    "distance": r.distance,
                    "load": list(r.load),
                    "clients": list(r.clients),
                    "stops": [
                        {"client": s.client, "arrival": s.arrival, "start": s.start,
                         "departure": s.departure}
                        for s in r.stops
                    ],
                    "breaks": [{"start": b.start, "end": b.end, "after": b.after}
                               for b in r.breaks],
                }
                for r in self.routes
            ],
        }


def evaluate(
    problem: RoutingProblem,
    plan: Sequence[Sequence[int]],
    *,
    runtime_s: float = 0.0,
    first_solution_s: float | None = None,
    history: Sequence[tuple[float, float]] = (),
    solver: str = "",
) -> RoutingResult:
    """Check ``plan`` against ``problem`` and build the :class:`RoutingResult`.

    ``plan[v]`` lists the client indices vehicle ``v`` visits, in order; it may be shorter
    than the fleet (missing vehicles are unused). Nothing is taken from the solver.
    """
    violations: list[Violation] = []
    n = problem.n_clients
    if len(plan) > problem.n_vehicles:
        violations.append(Violation(
            "client", f"plan has {len(plan)} routes but the fleet has {problem.n_vehicles}"))
        plan = plan[: problem.n_vehicles]
    seen: dict[int, int] = {}
    routes: list[Route] = []
    for v, raw in enumerate(plan):
        clients = [int(c) for c in raw]
        bad = [c for c in clients if not 0 <= c < n]
        if bad:
            violations.append(Violation("client", f"vehicle {v}: no client {bad[0]}", v, bad[0]))
            clients = [c for c in clients if 0 <= c < n]
        for c in clients:
            if c in seen:
                violations.append(Violation(
                    "duplicate", f"client {c} is visited by vehicles {seen[c]} and {v}", v, c))
            seen.setdefault(c, v)
        prefix = problem.frozen_prefix(v)
        if prefix and tuple(clients[: len(prefix)]) != prefix:
            violations.append(Violation(
                "frozen", f"vehicle {v}: committed visits {list(prefix)} are not kept first", v))
        if clients:
            route, issues = _route(problem, v, clients)
            routes.append(route)
            violations.extend(issues)
    unassigned = tuple(c for c in range(n) if c not in seen)
    violations.extend(
        Violation("unassigned", f"required client {c} is not visited", None, c)
        for c in unassigned
        if problem.clients[c].required
    )
    return RoutingResult(
        problem=problem,
        routes=tuple(routes),
        unassigned=unassigned,
        violations=tuple(violations),
        runtime_s=runtime_s,
        first_solution_s=first_solution_s,
        history=tuple(history),
        solver=solver,
    )


# --- schedule of one route -------------------------------------------------------------
def _window_for(windows: tuple[TimeWindow, ...], arrival: float) -> TimeWindow | None:
    """The first window in which service can still start after ``arrival``."""
    for w in windows:
        if arrival <= w.latest + EPS:
            return w
    return None


@dataclass
class _Pass:
    """Result of one forward simulation of a route (breaks given as positions)."""

    ok: bool
    stops: list[Stop]
    breaks: list[BreakSlot]
    end: float
    slack: float  # how much the departure can be delayed without changing anything late
    wait: float
    issues: list[tuple[str, int | None, str]]


def _forward(
    problem: RoutingProblem,
    vt: VehicleType,
    locs: tuple[int, int],
    clients: list[int],
    depart: float,
    breaks_at: dict[int, list[int]],
) -> _Pass:
    tt = problem.travel_time
    start_loc, end_loc = locs
    latest_return = min(vt.shift.latest, problem.depots[vt.end].window.latest)
    t, loc = depart, start_loc
    stops: list[Stop] = []
    slots: list[BreakSlot] = []
    issues: list[tuple[str, int | None, str]] = []
    wait_sum, slack = 0.0, math.inf

    def take_breaks(pos: int, t: float) -> float:
        nonlocal wait_sum, slack
        for b in breaks_at.get(pos, ()):
            brk = vt.breaks[b]
            s = max(t, brk.window.earliest)
            if s > brk.window.latest + EPS:
                issues.append(("break", None, f"break {b} cannot start by {brk.window.latest:g}"))
            wait_sum += s - t
            slack = min(slack, wait_sum + max(0.0, brk.window.latest - s))
            slots.append(BreakSlot(s, s + brk.duration_s, pos))
            t = s + brk.duration_s
        return t

    for pos, c in enumerate(clients):
        t = take_breaks(pos, t)
        cl = problem.clients[c]
        arr = t + tt[loc, cl.location]
        w = _window_for(cl.windows, arr)
        if w is None:
            issues.append(("time_window", c,
                           f"client {c} reached at {arr:.2f}, after its last window closes "
                           f"({cl.windows[-1].latest:g})"))
            start = arr
        else:
            start = max(arr, w.earliest)
            wait_sum += start - arr
            slack = min(slack, wait_sum + max(0.0, w.latest - start))
        stops.append(Stop(c, cl.location, arr, start, start + cl.service_s))
        t, loc = start + cl.service_s, cl.location
    end = t + tt[loc, end_loc]
    pos = len(clients)
    if pos in breaks_at:  # breaks after the last visit: before or after reaching the base
        after_end = take_breaks(pos, end)
        if after_end > latest_return + EPS:
            issues.append(("break", None, f"break ends at {after_end:.2f}, after the shift"))
    if end > latest_return + EPS:
        issues.append(("return", None, f"returns at {end:.2f}, after {latest_return:g}"))
    slack = min(slack, wait_sum + max(0.0, latest_return - end))
    return _Pass(not issues, stops, slots, end, min(slack, wait_sum), wait_sum, issues)


def _route(problem: RoutingProblem, v: int, clients: list[int]) -> tuple[Route, list[Violation]]:
    vt = problem.vehicle(v)
    t_type = problem.vehicle_type_of(v)
    start_depot, end_depot = problem.depots[vt.start_depot], problem.depots[vt.end]
    locs = (start_depot.location, end_depot.location)
    earliest = max(vt.shift.earliest, start_depot.window.earliest)
    issues: list[Violation] = []

    # Earliest schedule, then departure delayed by the slack that only removes waiting.
    depart = earliest
    p = _forward(problem, vt, locs, clients, depart, {})
    if p.ok and p.slack > EPS:
        later = _forward(problem, vt, locs, clients, depart + p.slack, {})
        if later.ok:
            depart, p = depart + p.slack, later
    if vt.breaks:
        p, depart = _place_breaks(problem, vt, locs, clients, depart, earliest)
    for kind, c, msg in p.issues:
        issues.append(Violation(kind, f"vehicle {v}: {msg}", v, c))

    for c in clients:
        if not problem.can_serve(v, c):
            missing = sorted(problem.clients[c].skills - vt.skills)
            issues.append(Violation("skill", f"vehicle {v} lacks skills {missing} for client {c}",
                                    v, c))
    load = tuple(
        sum(problem.clients[c].demand[k] for c in clients) for k in range(problem.n_dims)
    )
    for k, (q, cap) in enumerate(zip(load, vt.capacity, strict=True)):
        if q > cap:
            issues.append(Violation("capacity", f"vehicle {v}: load {q} > capacity {cap} "
                                    f"(dimension {k})", v))
    seq = [locs[0], *(problem.clients[c].location for c in clients), locs[1]]
    dist = float(sum(problem.distance[a, b] for a, b in itertools.pairwise(seq)))
    if dist > vt.max_distance + EPS:
        issues.append(Violation("distance", f"vehicle {v}: {dist:.2f} > max {vt.max_distance:g}",
                                v))
    duration = p.end - depart
    if duration > vt.max_duration_s + EPS:
        issues.append(Violation("duration", f"vehicle {v}: duration {duration:.2f} > max "
                                f"{vt.max_duration_s:g}", v))
    cost = vt.fixed_cost + vt.cost_per_distance * dist + vt.cost_per_second * duration
    route = Route(v, t_type, tuple(p.stops), tuple(p.breaks), depart, p.end, dist, load, cost)
    return route, issues


def _place_breaks(
    problem: RoutingProblem,
    vt: VehicleType,
    locs: tuple[int, int],
    clients: list[int],
    depart: float,
    earliest: float,
) -> tuple[_Pass, float]:
    """Place each break (in window order) at the first position that keeps the route valid."""
    order = sorted(range(len(vt.breaks)), key=lambda b: vt.breaks[b].window.earliest)
    placed: dict[int, list[int]] = {}
    best: _Pass | None = None
    for b in order:
        found = None
        for pos in range(len(clients) + 1):
            trial = {k: list(v) for k, v in placed.items()}
            trial.setdefault(pos, []).append(b)
            for dep in (depart, earliest):
                p = _forward(problem, vt, locs, clients, dep, trial)
                if p.ok:
                    found = (trial, p, dep)
                    break
            if found:
                break
        if found is None:
            trial = {k: list(v) for k, v in placed.items()}
            trial.setdefault(len(clients), []).append(b)
            placed = trial
            best = _forward(problem, vt, locs, clients, depart, placed)
        else:
            placed, best, depart = found
    assert best is not None
    return best, depart
