"""The routing solver: OR-Tools' routing library behind one call, :func:`solve`.

How a solve spends its time budget
----------------------------------
1. **First solution** (OR-Tools, parallel cheapest insertion), capped at
   ``first_solution_s``. If it fails, a greedy insertion of our own is tried, then one vehicle
   per client, then a model where every client may be dropped at a very high penalty, which
   always yields a plan: the result then lists the unvisited clients as violations.
2. **Improvement.** Plain VRPTW problems (see :attr:`RoutingProblem.is_plain_vrptw`) are
   improved by a ruin-and-recreate search (slack induction by string removals, SISR,
   Christiaens & Vanden Berghe 2020, plus whole-route removals and restarts on stagnation)
   compiled with numba and working in double precision. OR-Tools' guided local search is
   much weaker on time windows (2.7 % vs ~0.6 % above the Solomon optima at 10 s, see
   ``bench/README.md``); it stays in charge of every other problem (breaks, several windows,
   frozen prefixes, optional visits, duration costs), where OR-Tools' generality matters.
   The numba kernels are cached on disk; a process loads them on first use (call
   :func:`warm_up` to do it up front). While they are not loaded, OR-Tools does the work, so
   the time limit holds even on the first run after an install, when they are compiled.
3. **Check.** The best plan is re-evaluated by :func:`planner.result.evaluate`, which trusts no
   solver number. If the improver's plan failed that check the OR-Tools plan is returned.

OR-Tools needs integers: times are scaled and rounded *up* (travel + service) or inward
(windows), so an integer-feasible plan is feasible in real arithmetic; costs are scaled by a
power of ten chosen from the data (e.g. x1000 for Solomon, ~1e-5 relative error).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from planner.model import RoutingProblem
from planner.result import RoutingResult, evaluate

try:  # numba is a declared dependency; without it plain problems fall back to OR-Tools.
    import numba
except ImportError:  # pragma: no cover - exercised only on broken installs
    numba = None


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress event: ``phase`` ('first', 'ortools', 'improve', 'done'), elapsed seconds,
    cost of the best plan so far (same unit as :meth:`RoutingResult.cost`)."""

    phase: str
    elapsed_s: float
    cost: float


ProgressFn = Callable[[Progress], None]


def solve(
    problem: RoutingProblem,
    time_limit_s: float = 10.0,
    *,
    seed: int = 0,
    first_solution_s: float = 1.0,
    improver: str = "auto",
    progress: ProgressFn | None = None,
) -> RoutingResult:
    """Plan routes for ``problem`` within about ``time_limit_s`` seconds of wall time.

    Parameters
    ----------
    time_limit_s
        Total budget (model building included), seconds.
    seed
        Seed of the randomised improver; the same seed and budget give comparable runs.
    first_solution_s
        Cap on the first-solution phase, seconds.
    improver
        ``"auto"`` (SISR for plain VRPTW, OR-Tools guided local search otherwise),
        ``"sisr"`` or ``"ortools"``.
    progress
        Called with a :class:`Progress` on each new best plan (throttled) and per phase.

    Returns
    -------
    RoutingResult
        Always a plan; check :meth:`RoutingResult.is_feasible`.
    """
    if improver not in ("auto", "sisr", "ortools"):
        raise ValueError(f"improver: expected 'auto', 'sisr' or 'ortools', got {improver!r}")
    t0 = time.perf_counter()
    deadline = t0 + max(0.05, float(time_limit_s))
    history: list[tuple[float, float]] = []
    reporter = _Reporter(t0, history, progress)

    if problem.n_clients == 0:
        return evaluate(problem, [], runtime_s=time.perf_counter() - t0, solver="empty")

    use_sisr = (
        improver == "sisr" or (improver == "auto" and problem.is_plain_vrptw)
    ) and problem.is_plain_vrptw and numba is not None

    if use_sisr and not _KERNELS.ready():
        # First use in this process: load (or compile) the kernels in the background while
        # OR-Tools works, so the time limit holds either way.
        _KERNELS.start()
    model = _OrToolsModel(problem, callbacks=_KERNELS.ready() or not use_sisr)
    first_limit = min(first_solution_s, max(0.05, deadline - time.perf_counter()))
    plan = model.first_solution(first_limit, reporter)
    first_s = time.perf_counter() - t0 if plan is not None else None
    solver_name = "ortools-pci"
    if plan is None and use_sisr and _KERNELS.ready():
        plan = _greedy_plan(problem, seed)
        solver_name = "greedy-insertion"
    if plan is None:
        plan = _singleton_plan(problem)
        solver_name = "one-vehicle-per-client"
    if plan is not None:
        first_s = first_s if first_s is not None else time.perf_counter() - t0
        reporter("first", _plan_cost(problem, plan))

    if plan is None:  # fleet is binding or data infeasible: allow drops at a high price
        soft = _OrToolsModel(problem, soft=True)
        plan = soft.improve(None, max(0.05, deadline - time.perf_counter()), reporter) or []
        first_s = time.perf_counter() - t0
        solver_name = "ortools-soft"
    elif use_sisr:
        # Loading from numba's cache takes well under a second once OR-Tools is not holding
        # the GIL; compiling takes far longer, and then OR-Tools keeps the job.
        _KERNELS.wait(min(1.0, 0.2 * time_limit_s, max(0.0, deadline - time.perf_counter())))
        while not _KERNELS.ready() and deadline - time.perf_counter() > 0.05:
            better = model.improve(plan, min(1.0, deadline - time.perf_counter()), reporter)
            if better is not None:
                plan, solver_name = better, "ortools-gls"
                reporter("ortools", _plan_cost(problem, plan))
        if _KERNELS.ready() and deadline - time.perf_counter() > 0.02:
            better = _Sisr(problem, seed).run(plan, deadline, reporter)
            if better is not None:
                plan, solver_name = better, "sisr"
    else:
        remaining = deadline - time.perf_counter()
        if remaining > 0.02:
            better = model.improve(plan, remaining, reporter)
            if better is not None:
                plan, solver_name = better, "ortools-gls"

    result = evaluate(problem, plan, runtime_s=time.perf_counter() - t0,
                      first_solution_s=first_s, history=history, solver=solver_name)
    if not result.is_feasible() and solver_name == "sisr":
        fallback = model.best_plan
        if fallback is not None:
            result = evaluate(problem, fallback, runtime_s=time.perf_counter() - t0,
                              first_solution_s=first_s, history=history, solver="ortools-pci")
    reporter("done", result.cost())
    return result


class _Reporter:
    """Records (elapsed, cost) on improvement and forwards throttled progress events."""

    def __init__(self, t0: float, history: list[tuple[float, float]], fn: ProgressFn | None):
        self.t0, self.history, self.fn = t0, history, fn
        self.best = math.inf
        self.last_emit = -1.0

    def __call__(self, phase: str, cost: float) -> None:
        now = time.perf_counter() - self.t0
        if cost < self.best - 1e-9:
            self.best = cost
            self.history.append((now, cost))
        if self.fn is not None and (phase in ("first", "done") or now - self.last_emit >= 0.5):
            self.last_emit = now
            self.fn(Progress(phase, now, self.best))


def _plan_cost(problem: RoutingProblem, plan: Sequence[Sequence[int]]) -> float:
    return evaluate(problem, plan).cost()


# --- OR-Tools -----------------------------------------------------------------------------
def _pow10_scale(typical: float, target: float, lo: int = 0, hi: int = 6) -> int:
    """Power of ten that brings a typical value up to about ``target`` integer units."""
    if typical <= 0:
        return 10**hi
    return 10 ** int(min(hi, max(lo, math.ceil(math.log10(target / typical)))))


class _OrToolsModel:
    """The problem as an OR-Tools routing model (nodes: clients first, then depots)."""

    def __init__(self, problem: RoutingProblem, soft: bool = False, callbacks: bool = True):
        """Build the model; ``soft`` lets required clients be dropped at a huge penalty.

        ``callbacks=False`` skips the per-solution progress callback: it needs the GIL, which
        a background numba compilation holds most of the time.
        """
        p = self.problem = problem
        n, n_dep, n_veh = p.n_clients, len(p.depots), p.n_vehicles
        self.best_plan: list[list[int]] | None = None
        node_loc = np.array([c.location for c in p.clients] + [d.location for d in p.depots])
        service = np.array([c.service_s for c in p.clients] + [0.0] * n_dep)
        tt = p.travel_time[np.ix_(node_loc, node_loc)]
        dist = p.distance[np.ix_(node_loc, node_loc)]

        finite = [w.latest for c in p.clients for w in c.windows if math.isfinite(w.latest)]
        finite += [vt.shift.latest for vt in p.vehicle_types if math.isfinite(vt.shift.latest)]
        finite += [d.window.latest for d in p.depots if math.isfinite(d.window.latest)]
        horizon = max(finite) if finite else float(service.sum() + tt.max(axis=1).sum())
        self.ts = ts = _pow10_scale(max(horizon, 1.0), 1e9, 0, 3)
        self.h = h = math.ceil(horizon * ts)

        arc_w = [vt.cost_per_distance for vt in p.vehicle_types]
        nonzero = dist[dist > 0]
        typical = float(np.median(nonzero)) * max(max(arc_w), 1e-9) if nonzero.size else 1.0
        self.cs = cs = _pow10_scale(typical, 1e4)

        starts = [n + p.vehicle(v).start_depot for v in range(n_veh)]
        ends = [n + p.vehicle(v).end for v in range(n_veh)]
        self.manager = m = pywrapcp.RoutingIndexManager(n + n_dep, n_veh, starts, ends)
        self.routing = r = pywrapcp.RoutingModel(m)

        # Arc costs: one evaluator per distinct cost-per-distance.
        by_weight: dict[float, int] = {}
        for v, vt in p.vehicles():
            w = vt.cost_per_distance
            if w not in by_weight:
                cost = np.rint(dist * w * cs).astype(np.int64)
                by_weight[w] = r.RegisterTransitMatrix(cost.tolist())
            r.SetArcCostEvaluatorOfVehicle(by_weight[w], v)
            if vt.fixed_cost:
                r.SetFixedCostOfVehicle(round(vt.fixed_cost * cs), v)

        # Time: transit = service at origin + travel, rounded up.
        transit = np.ceil((tt + service[:, None]) * ts - 1e-9).astype(np.int64)
        t_cb = r.RegisterTransitMatrix(transit.tolist())
        r.AddDimension(t_cb, h, h, False, "time")
        time_dim = r.GetDimensionOrDie("time")
        solver = r.solver()
        for c, cl in enumerate(p.clients):
            var = time_dim.CumulVar(m.NodeToIndex(c))
            lo = math.ceil(cl.windows[0].earliest * ts)
            hi = min(h, math.floor(cl.windows[-1].latest * ts) if math.isfinite(
                cl.windows[-1].latest) else h)
            var.SetRange(min(lo, hi), hi)
            for a, b in zip(cl.windows[:-1], cl.windows[1:], strict=True):
                gap_lo = math.floor(a.latest * ts) + 1
                gap_hi = math.ceil(b.earliest * ts) - 1
                if gap_lo <= gap_hi:
                    var.RemoveInterval(gap_lo, gap_hi)
        visit = [math.ceil(s * ts) for s in service]
        visit_by_index = [0] * r.Size()
        for idx in range(r.Size()):
            visit_by_index[idx] = visit[m.IndexToNode(idx)]
        for v, vt in p.vehicles():
            sd, ed = p.depots[vt.start_depot], p.depots[vt.end]
            e = max(vt.shift.earliest, sd.window.earliest)
            latest = min(vt.shift.latest, ed.window.latest)
            lat = h if not math.isfinite(latest) else min(h, math.floor(latest * ts))
            lo = min(math.ceil(e * ts), lat)
            time_dim.CumulVar(r.Start(v)).SetRange(lo, lat)
            time_dim.CumulVar(r.End(v)).SetRange(lo, lat)
            if math.isfinite(vt.max_duration_s):
                time_dim.SetSpanUpperBoundForVehicle(math.floor(vt.max_duration_s * ts), v)
            if vt.cost_per_second:
                coef = max(1, round(vt.cost_per_second * cs / ts))
                time_dim.SetSpanCostCoefficientForVehicle(coef, v)
            if vt.breaks:
                intervals = []
                for b, brk in enumerate(vt.breaks):
                    dur = math.ceil(brk.duration_s * ts)
                    b_lo = math.ceil(brk.window.earliest * ts)
                    b_hi = min(math.floor(brk.window.latest * ts), lat - dur) if math.isfinite(
                        brk.window.latest) else lat - dur
                    intervals.append(solver.FixedDurationIntervalVar(
                        b_lo, max(b_lo, b_hi), dur, False, f"break {v}.{b}"))
                time_dim.SetBreakIntervalsOfVehicle(intervals, v, visit_by_index)
            # Keep route ends as early as possible so reported schedules are tight.
            r.AddVariableMinimizedByFinalizer(time_dim.CumulVar(r.End(v)))

        for k in range(p.n_dims):
            demand = [int(cl.demand[k]) for cl in p.clients] + [0] * n_dep
            caps = [int(p.vehicle(v).capacity[k]) for v in range(n_veh)]
            cb = r.RegisterUnaryTransitVector(demand)
            r.AddDimensionWithVehicleCapacity(cb, 0, caps, True, f"load{k}")

        if any(math.isfinite(vt.max_distance) for vt in p.vehicle_types):
            d_int = np.ceil(dist * cs - 1e-9).astype(np.int64)
            big = int(d_int.sum(axis=1).max()) + 1
            d_cb = r.RegisterTransitMatrix(d_int.tolist())
            caps = [math.floor(vt.max_distance * cs) if math.isfinite(vt.max_distance)
                    else big for _, vt in p.vehicles()]
            r.AddDimensionWithVehicleCapacity(d_cb, 0, caps, True, "distance")

        for c, cl in enumerate(p.clients):
            if cl.skills:
                allowed = [v for v in range(n_veh) if p.can_serve(v, c)]
                # -1 stands for "not visited"; only reachable with a disjunction.
                r.VehicleVar(m.NodeToIndex(c)).SetValues([-1, *allowed])
            if not cl.required:
                r.AddDisjunction([m.NodeToIndex(c)], round(cl.prize * cs))
            elif soft:
                big_penalty = int(min(2**62 // max(1, n), 1000 * float(dist.max() + 1) * cs * n))
                r.AddDisjunction([m.NodeToIndex(c)], big_penalty)

        for f in p.frozen:
            prev = r.Start(f.vehicle)
            for c in f.clients:
                idx = m.NodeToIndex(c)
                solver.Add(r.NextVar(prev) == idx)
                prev = idx

        self._reporter: Callable[[str, float], None] | None = None
        self._phase = "first"
        if callbacks:
            r.AddAtSolutionCallback(self._on_solution)

    def _on_solution(self) -> None:
        if self._reporter is not None:
            self._reporter(self._phase, self.routing.CostVar().Value() / self.cs)

    def _params(self, seconds: float, first: bool) -> pywrapcp.RoutingSearchParameters:
        params = pywrapcp.DefaultRoutingSearchParameters()
        fss = routing_enums_pb2.FirstSolutionStrategy
        params.first_solution_strategy = fss.PARALLEL_CHEAPEST_INSERTION
        lsm = routing_enums_pb2.LocalSearchMetaheuristic
        if first:
            params.local_search_metaheuristic = lsm.GREEDY_DESCENT
            params.solution_limit = 1
        else:
            params.local_search_metaheuristic = lsm.GUIDED_LOCAL_SEARCH
        params.time_limit.FromMilliseconds(max(10, int(seconds * 1000)))
        return params

    def _plan(self, assignment: pywrapcp.Assignment) -> list[list[int]]:
        r, m = self.routing, self.manager
        plan = []
        for v in range(r.vehicles()):
            idx = assignment.Value(r.NextVar(r.Start(v)))
            route = []
            while not r.IsEnd(idx):
                route.append(m.IndexToNode(idx))
                idx = assignment.Value(r.NextVar(idx))
            plan.append(route)
        return plan

    def first_solution(self, seconds: float, reporter: Callable[[str, float], None]
                       ) -> list[list[int]] | None:
        """OR-Tools' first solution within ``seconds`` (None if none was found)."""
        self._reporter, self._phase = reporter, "first"
        sol = self.routing.SolveWithParameters(self._params(seconds, first=True))
        if sol is None:
            return None
        self.best_plan = self._plan(sol)
        return self.best_plan

    def improve(self, plan: list[list[int]] | None, seconds: float,
                reporter: Callable[[str, float], None]) -> list[list[int]] | None:
        """Guided local search from ``plan`` (or from scratch) for ``seconds``."""
        self._reporter, self._phase = reporter, "ortools"
        params = self._params(seconds, first=False)
        if plan is None:
            sol = self.routing.SolveWithParameters(params)
        else:
            m = self.manager
            routes = [[m.NodeToIndex(c) for c in route] for route in plan]
            initial = self.routing.ReadAssignmentFromRoutes(routes, True)
            if initial is None:
                return None
            sol = self.routing.SolveFromAssignmentWithParameters(initial, params)
        if sol is None:
            return None
        self.best_plan = self._plan(sol)
        return self.best_plan


# --- simple constructive fallbacks --------------------------------------------------------
def _singleton_plan(problem: RoutingProblem) -> list[list[int]] | None:
    """One vehicle per client, if the fleet is large enough and each such trip is feasible."""
    if problem.n_clients > problem.n_vehicles or problem.frozen:
        return None
    plan: list[list[int]] = [[] for _ in range(problem.n_vehicles)]
    free = list(range(problem.n_vehicles))
    for c in range(problem.n_clients):
        for v in free:
            trip = [[] for _ in range(v)] + [[c]]
            if all(x.kind == "unassigned" for x in evaluate(problem, trip).violations):
                plan[v] = [c]
                free.remove(v)
                break
        else:
            return None
    return plan


def _greedy_plan(problem: RoutingProblem, seed: int) -> list[list[int]] | None:
    """Insert every client greedily with the SISR recreate step (plain VRPTW only)."""
    sisr = _Sisr(problem, seed)
    return sisr.construct()


# --- SISR improver (numba) ---------------------------------------------------------------
# Routes live in an int32 array ``routes[v, :rlen[v]]`` of client indices. For each route we
# cache the earliest service start ``est`` and the latest start ``lst`` that keeps the rest
# of the route feasible, so an insertion is checked in O(1).

_SISR_CBAR = 10.0  # average number of removed clients
_SISR_LMAX = 10.0  # longest removed string
_SISR_LEN_SHARE = 0.5  # ... both raised to this share of the mean route length if larger
_SISR_BLINK = 0.01  # probability of skipping a position during recreate
_BYPASS = 0.01  # split-string removal: chance to stop growing the preserved part
# Annealing temperatures as fractions of the mean cost per visit (tuned on Solomon R/RC
# instances at 10 s: hotter starts escape the first solution's basin, see bench/README.md).
_T_HOT = 0.5
_T_COLD = 0.01
# Share of iterations that empty a whole route instead of removing strings: it lets long
# routes (Solomon C2) be rebuilt, and with vehicle fixed costs it drives fleet reduction.
_ROUTE_REMOVAL = 0.05
_ROUTE_REMOVAL_FLEET = 0.2
# Restart from a fresh greedy construction after this share of the budget without a new
# best (the annealing can stall in a deep basin, e.g. Solomon C203 at +14 %).
_STALL_SHARE = 0.25


def _jit(fn):
    if numba is None:  # pragma: no cover
        return fn
    return numba.njit(cache=True, nogil=True)(fn)


@_jit
def _refresh(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
             v_start, v_end, v_early, v_late, tt, dd):
    """Recompute the caches of route ``v``; returns False if the route is infeasible."""
    n = rlen[v]
    ok = True
    t = v_early[v]
    loc = v_start[v]
    dist = 0.0
    for k in range(demand.shape[1]):
        load[v, k] = 0
    for i in range(n):
        c = routes[v, i]
        cl = cl_loc[c]
        t = t + tt[loc, cl]
        dist += dd[loc, cl]
        if t < ready[c]:
            t = ready[c]
        if t > due[c] + 1e-9:
            ok = False
        est[v, i] = t
        t += svc[c]
        loc = cl
        for k in range(demand.shape[1]):
            load[v, k] += demand[c, k]
    dist += dd[loc, v_end[v]]
    end = t + tt[loc, v_end[v]]
    if end > v_late[v] + 1e-9:
        ok = False
    rdist[v] = dist if n > 0 else 0.0
    latest = v_late[v]
    loc = v_end[v]
    for i in range(n - 1, -1, -1):
        c = routes[v, i]
        x = latest - tt[cl_loc[c], loc] - svc[c]
        if x > due[c]:
            x = due[c]
        lst[v, i] = x
        latest = x
        loc = cl_loc[c]
    return ok


@_jit
def _duration_ok(v, routes, rlen, cl_loc, ready, due, svc, v_start, v_end, v_early, v_late,
                 v_maxdur, tt):
    """Exact shift-length check (departure delayed to absorb waiting, as the checker does)."""
    if v_maxdur[v] == np.inf:
        return True
    n = rlen[v]
    if n == 0:
        return True
    t = v_early[v]
    loc = v_start[v]
    wait = 0.0
    slack = np.inf
    for i in range(n):
        c = routes[v, i]
        a = t + tt[loc, cl_loc[c]]
        s = a if a > ready[c] else ready[c]
        wait += s - a
        x = wait + (due[c] - s)
        if x < slack:
            slack = x
        t = s + svc[c]
        loc = cl_loc[c]
    end = t + tt[loc, v_end[v]]
    x = wait + (v_late[v] - end)
    if x < slack:
        slack = x
    if slack > wait:
        slack = wait
    if slack < 0:
        slack = 0.0
    return end - (v_early[v] + slack) <= v_maxdur[v] + 1e-9


@_jit
def _route_cost(v, rlen, rdist, v_fixed, v_cpd):
    if rlen[v] == 0:
        return 0.0
    return v_fixed[v] + v_cpd[v] * rdist[v]


@_jit
def _total_cost(rlen, rdist, v_fixed, v_cpd):
    total = 0.0
    for v in range(rlen.shape[0]):
        total += _route_cost(v, rlen, rdist, v_fixed, v_cpd)
    return total


@_jit
def _remove_at(v, i, routes, rlen, where):
    n = rlen[v]
    c = routes[v, i]
    for j in range(i, n - 1):
        routes[v, j] = routes[v, j + 1]
        where[routes[v, j], 1] = j
    rlen[v] = n - 1
    where[c, 0] = -1
    where[c, 1] = -1
    return c


@_jit
def _insert_at(v, i, c, routes, rlen, where):
    n = rlen[v]
    for j in range(n, i, -1):
        routes[v, j] = routes[v, j - 1]
        where[routes[v, j], 1] = j
    routes[v, i] = c
    where[c, 0] = v
    where[c, 1] = i
    rlen[v] = n + 1


@_jit
def _recreate(removed, n_removed, routes, rlen, where, est, lst, load, rdist, cl_loc, ready,
              due, svc, demand, cap, allowed, v_start, v_end, v_early, v_late, v_maxdur,
              v_maxdist, v_fixed, v_cpd, v_class, tt, dd, blink):
    """Insert ``removed[:n_removed]`` one by one at their cheapest feasible position."""
    n_veh = rlen.shape[0]
    n_dims = demand.shape[1]
    seen_empty = np.zeros(n_veh, dtype=np.bool_)
    for r in range(n_removed):
        c = removed[r]
        lc = cl_loc[c]
        best = np.inf
        best_v = -1
        best_i = -1
        seen_empty[:] = False
        for v in range(n_veh):
            if not allowed[v, c]:
                continue
            n = rlen[v]
            if n == 0:
                if seen_empty[v_class[v]]:
                    continue
                seen_empty[v_class[v]] = True
            fits = True
            for k in range(n_dims):
                if load[v, k] + demand[c, k] > cap[v, k]:
                    fits = False
            if not fits:
                continue
            extra = v_fixed[v] if n == 0 else 0.0
            for i in range(n + 1):
                if blink > 0 and np.random.random() < blink:
                    continue
                if i == 0:
                    pl = v_start[v]
                    dep = v_early[v]
                else:
                    p = routes[v, i - 1]
                    pl = cl_loc[p]
                    dep = est[v, i - 1] + svc[p]
                sl = v_end[v] if i == n else cl_loc[routes[v, i]]
                delta = v_cpd[v] * (dd[pl, lc] + dd[lc, sl] - dd[pl, sl]) + extra
                if delta >= best:
                    continue
                a = dep + tt[pl, lc]
                if a < ready[c]:
                    a = ready[c]
                if a > due[c] + 1e-9:
                    continue
                a2 = a + svc[c] + tt[lc, sl]
                if i == n:
                    if a2 > v_late[v] + 1e-9:
                        continue
                else:
                    s = routes[v, i]
                    if a2 < ready[s]:
                        a2 = ready[s]
                    if a2 > lst[v, i] + 1e-9:
                        continue
                if rdist[v] + dd[pl, lc] + dd[lc, sl] - dd[pl, sl] > v_maxdist[v] + 1e-9:
                    continue
                if v_maxdur[v] != np.inf:
                    _insert_at(v, i, c, routes, rlen, where)
                    ok = _duration_ok(v, routes, rlen, cl_loc, ready, due, svc, v_start, v_end,
                                      v_early, v_late, v_maxdur, tt)
                    _remove_at(v, i, routes, rlen, where)
                    if not ok:
                        continue
                best = delta
                best_v = v
                best_i = i
        if best_v < 0:
            return False
        _insert_at(best_v, best_i, c, routes, rlen, where)
        _refresh(best_v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
                 v_start, v_end, v_early, v_late, tt, dd)
    return True


@_jit
def _sort_removed(removed, n_removed, cl_loc, demand, v_start, dd):
    """SISR's recreate orders: random (4), demand (4), far from depot (2), close (1)."""
    for i in range(n_removed - 1, 0, -1):
        j = np.random.randint(0, i + 1)
        removed[i], removed[j] = removed[j], removed[i]
    u = np.random.randint(0, 11)
    if u < 4:
        return
    key = np.empty(n_removed)
    depot = v_start[0]
    for i in range(n_removed):
        c = removed[i]
        if u < 8:
            key[i] = -float(demand[c].sum())
        elif u < 10:
            key[i] = -dd[depot, cl_loc[c]]
        else:
            key[i] = dd[depot, cl_loc[c]]
    order = np.argsort(key, kind="mergesort")
    tmp = removed[:n_removed].copy()
    for i in range(n_removed):
        removed[i] = tmp[order[i]]


@_jit
def _ruin(routes, rlen, where, adj, removed, c_bar, l_max, bypass):
    """Remove strings of clients from routes near a random seed client (SISR)."""
    n_veh = rlen.shape[0]
    n_clients = where.shape[0]
    used = 0
    total = 0
    for v in range(n_veh):
        if rlen[v] > 0:
            used += 1
            total += rlen[v]
    if used == 0:
        return 0
    ls_max = min(l_max, total / used)
    ks_max = 4.0 * c_bar / (1.0 + ls_max) - 1.0
    ks = int(np.random.random() * ks_max) + 1
    seed = np.random.randint(0, n_clients)
    ruined = np.zeros(n_veh, dtype=np.bool_)
    n_removed = 0
    n_ruined = 0
    for a in range(adj.shape[1]):
        if n_ruined >= ks:
            break
        c = adj[seed, a]
        v = where[c, 0]
        if v < 0 or ruined[v]:
            continue
        n = rlen[v]
        lmax_t = min(float(n), ls_max)
        ell = int(np.random.random() * lmax_t) + 1
        if ell > n:
            ell = n
        pos = where[c, 1]
        if np.random.random() < 0.5 or ell == n:
            lo = max(0, pos - ell + 1)
            hi = min(pos, n - ell)
            start = np.random.randint(lo, hi + 1)
            for _ in range(ell):
                removed[n_removed] = _remove_at(v, start, routes, rlen, where)
                n_removed += 1
        else:
            m = 1
            while m < n - ell and np.random.random() > bypass:
                m += 1
            span = ell + m
            lo = max(0, pos - span + 1)
            hi = min(pos, n - span)
            start = np.random.randint(lo, hi + 1)
            keep = start + np.random.randint(0, ell + 1)
            # Remove positions start..start+span-1 except keep..keep+m-1, back to front.
            for j in range(start + span - 1, start - 1, -1):
                if keep <= j < keep + m:
                    continue
                removed[n_removed] = _remove_at(v, j, routes, rlen, where)
                n_removed += 1
        ruined[v] = True
        n_ruined += 1
    return n_removed


@_jit
def _ruin_route(routes, rlen, where, removed):
    """Empty the shorter of two random non-empty routes (fleet minimisation move)."""
    n_veh = rlen.shape[0]
    pick = -1
    for _ in range(2):
        for _ in range(4 * n_veh):
            v = np.random.randint(0, n_veh)
            if rlen[v] > 0:
                if pick < 0 or rlen[v] < rlen[pick]:
                    pick = v
                break
    if pick < 0:
        return 0
    k = 0
    while rlen[pick] > 0:
        removed[k] = _remove_at(pick, rlen[pick] - 1, routes, rlen, where)
        k += 1
    return k


@_jit
def _sisr_chunk(iters, temp0, temp1, seed, cur_routes, cur_rlen, best_routes, best_rlen,
                cl_loc, ready, due, svc, demand, cap, allowed, v_start, v_end, v_early, v_late,
                v_maxdur, v_maxdist, v_fixed, v_cpd, v_class, tt, dd, adj, c_bar, l_max, blink,
                bypass, route_removal):
    """Run ``iters`` ruin-and-recreate iterations with simulated-annealing acceptance.

    The current and best solutions are updated in place; returns (current, best) costs.
    """
    np.random.seed(seed)
    n_veh, width = cur_routes.shape
    n_clients = cl_loc.shape[0]
    n_dims = demand.shape[1]

    est = np.zeros((n_veh, width))
    lst = np.zeros((n_veh, width))
    load = np.zeros((n_veh, n_dims), dtype=np.int64)
    rdist = np.zeros(n_veh)
    where = -np.ones((n_clients, 2), dtype=np.int64)
    for v in range(n_veh):
        _refresh(v, cur_routes, cur_rlen, est, lst, load, rdist, cl_loc, ready, due, svc,
                 demand, v_start, v_end, v_early, v_late, tt, dd)
        for i in range(cur_rlen[v]):
            where[cur_routes[v, i], 0] = v
            where[cur_routes[v, i], 1] = i
    cur_cost = _total_cost(cur_rlen, rdist, v_fixed, v_cpd)
    b_rdist = np.zeros(n_veh)
    b_est = np.zeros((n_veh, width))
    b_lst = np.zeros((n_veh, width))
    b_load = np.zeros((n_veh, n_dims), dtype=np.int64)
    for v in range(n_veh):
        _refresh(v, best_routes, best_rlen, b_est, b_lst, b_load, b_rdist, cl_loc, ready, due,
                 svc, demand, v_start, v_end, v_early, v_late, tt, dd)
    best_cost = _total_cost(best_rlen, b_rdist, v_fixed, v_cpd)

    w_routes = cur_routes.copy()
    w_rlen = cur_rlen.copy()
    w_est = est.copy()
    w_lst = lst.copy()
    w_load = load.copy()
    w_rdist = rdist.copy()
    w_where = where.copy()
    removed = np.zeros(n_clients, dtype=np.int64)
    for it in range(iters):
        frac = it / max(1, iters)
        temp = temp0 * (temp1 / temp0) ** frac if temp0 > 0 else 0.0
        w_routes[:] = cur_routes
        w_rlen[:] = cur_rlen
        w_est[:] = est
        w_lst[:] = lst
        w_load[:] = load
        w_rdist[:] = rdist
        w_where[:] = where
        if route_removal > 0 and np.random.random() < route_removal:
            k = _ruin_route(w_routes, w_rlen, w_where, removed)
        else:
            k = _ruin(w_routes, w_rlen, w_where, adj, removed, c_bar, l_max, bypass)
        for v in range(n_veh):
            if w_rlen[v] != cur_rlen[v]:
                _refresh(v, w_routes, w_rlen, w_est, w_lst, w_load, w_rdist, cl_loc, ready,
                         due, svc, demand, v_start, v_end, v_early, v_late, tt, dd)
        _sort_removed(removed, k, cl_loc, demand, v_start, dd)
        if not _recreate(removed, k, w_routes, w_rlen, w_where, w_est, w_lst, w_load, w_rdist,
                         cl_loc, ready, due, svc, demand, cap, allowed, v_start, v_end, v_early,
                         v_late, v_maxdur, v_maxdist, v_fixed, v_cpd, v_class, tt, dd, blink):
            continue
        new_cost = _total_cost(w_rlen, w_rdist, v_fixed, v_cpd)
        threshold = cur_cost
        if temp > 0:
            threshold = cur_cost - temp * np.log(np.random.random())
        if new_cost < threshold:
            cur_routes[:] = w_routes
            cur_rlen[:] = w_rlen
            est[:] = w_est
            lst[:] = w_lst
            load[:] = w_load
            rdist[:] = w_rdist
            where[:] = w_where
            cur_cost = new_cost
            if new_cost < best_cost - 1e-9:
                best_routes[:] = w_routes
                best_rlen[:] = w_rlen
                best_cost = new_cost
    return cur_cost, best_cost


@_jit
def _construct(order, routes, rlen, cl_loc, ready, due, svc, demand, cap, allowed, v_start,
               v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed, v_cpd, v_class, tt, dd):
    n_veh, width = routes.shape
    n_clients = cl_loc.shape[0]
    est = np.zeros((n_veh, width))
    lst = np.zeros((n_veh, width))
    load = np.zeros((n_veh, demand.shape[1]), dtype=np.int64)
    rdist = np.zeros(n_veh)
    where = -np.ones((n_clients, 2), dtype=np.int64)
    removed = order.copy()
    return _recreate(removed, removed.shape[0], routes, rlen, where, est, lst, load, rdist,
                     cl_loc, ready, due, svc, demand, cap, allowed, v_start, v_end, v_early,
                     v_late, v_maxdur, v_maxdist, v_fixed, v_cpd, v_class, tt, dd, 0.0)


class _Sisr:
    """Python side of the SISR improver: arrays, time slicing, temperatures, progress."""

    def __init__(self, problem: RoutingProblem, seed: int):
        p = self.problem = problem
        self.seed = seed
        n = p.n_clients
        cl = p.clients
        self.cl_loc = np.array([c.location for c in cl], dtype=np.int64)
        # dtype=float everywhere: one compiled signature whatever the input number types.
        self.ready = np.array([c.windows[0].earliest for c in cl], dtype=float)
        self.due = np.array([c.windows[0].latest for c in cl], dtype=float)
        self.svc = np.array([c.service_s for c in cl], dtype=float)
        dims = max(1, p.n_dims)
        self.demand = np.zeros((n, dims), dtype=np.int64)
        if p.n_dims:
            self.demand[:] = np.array([c.demand for c in cl], dtype=np.int64)
        n_veh = p.n_vehicles
        self.cap = np.full((n_veh, dims), np.iinfo(np.int64).max // 4, dtype=np.int64)
        self.v_start = np.zeros(n_veh, dtype=np.int64)
        self.v_end = np.zeros(n_veh, dtype=np.int64)
        self.v_early = np.zeros(n_veh)
        self.v_late = np.zeros(n_veh)
        self.v_maxdur = np.zeros(n_veh)
        self.v_maxdist = np.zeros(n_veh)
        self.v_fixed = np.zeros(n_veh)
        self.v_cpd = np.zeros(n_veh)
        self.v_class = np.zeros(n_veh, dtype=np.int64)
        classes: dict[tuple, int] = {}
        for v, vt in p.vehicles():
            sd, ed = p.depots[vt.start_depot], p.depots[vt.end]
            if p.n_dims:
                self.cap[v] = vt.capacity
            self.v_start[v], self.v_end[v] = sd.location, ed.location
            self.v_early[v] = max(vt.shift.earliest, sd.window.earliest)
            self.v_late[v] = min(vt.shift.latest, ed.window.latest)
            self.v_maxdur[v], self.v_maxdist[v] = vt.max_duration_s, vt.max_distance
            self.v_fixed[v], self.v_cpd[v] = vt.fixed_cost, vt.cost_per_distance
            self.v_class[v] = classes.setdefault((p.vehicle_type_of(v),), len(classes))
        self.allowed = np.array(
            [[p.can_serve(v, c) for c in range(n)] for v in range(n_veh)], dtype=np.bool_)
        self.tt = np.ascontiguousarray(p.travel_time, dtype=float)
        self.dd = np.ascontiguousarray(p.distance, dtype=float)
        d_cc = self.dd[np.ix_(self.cl_loc, self.cl_loc)]
        k = min(n, 100)
        self.adj = np.argsort(d_cc, axis=1, kind="stable")[:, :k].astype(np.int64)
        # Put each client first in its own adjacency list.
        for c in range(n):
            row = self.adj[c]
            if row[0] != c:
                where = np.flatnonzero(row == c)
                rest = row[row != c]
                self.adj[c] = np.concatenate(([c], rest))[:k] if where.size else np.concatenate(
                    ([c], row[:-1]))
        self.width = n + 1
        # With vehicle fixed costs, also try emptying whole routes now and then.
        self.route_removal = (_ROUTE_REMOVAL_FLEET if float(self.v_fixed.max()) > 0
                              else _ROUTE_REMOVAL)

    def _static(self) -> tuple:
        return (self.cl_loc, self.ready, self.due, self.svc, self.demand, self.cap, self.allowed,
                self.v_start, self.v_end, self.v_early, self.v_late, self.v_maxdur,
                self.v_maxdist, self.v_fixed, self.v_cpd, self.v_class, self.tt, self.dd)

    def _arrays(self, plan: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        routes = np.zeros((self.problem.n_vehicles, self.width), dtype=np.int64)
        rlen = np.zeros(self.problem.n_vehicles, dtype=np.int64)
        for v, route in enumerate(plan):
            routes[v, : len(route)] = route
            rlen[v] = len(route)
        return routes, rlen

    @staticmethod
    def _plan(routes: np.ndarray, rlen: np.ndarray) -> list[list[int]]:
        return [routes[v, : rlen[v]].tolist() for v in range(len(rlen))]

    def construct(self, seed: int | None = None) -> list[list[int]] | None:
        """Greedy cheapest insertion of all clients in random order (None if one fails)."""
        routes, rlen = self._arrays([])
        rng = np.random.default_rng(self.seed if seed is None else seed)
        order = rng.permutation(self.problem.n_clients)
        ok = _construct(order.astype(np.int64), routes, rlen, *self._static())
        return self._plan(routes, rlen) if ok else None

    def run(self, plan: Sequence[Sequence[int]], deadline: float,
            reporter: Callable[[str, float], None]) -> list[list[int]] | None:
        """Improve ``plan`` until ``deadline`` (``time.perf_counter()`` seconds)."""
        cur_r, cur_l = self._arrays(plan)
        best_r, best_l = cur_r.copy(), cur_l.copy()
        start = time.perf_counter()
        # Temperatures scale with the mean travel cost per visit (fixed vehicle costs left
        # out: they may be huge to rank fleet size first), cooled exponentially over time.
        start_plan = evaluate(self.problem, plan)
        travel = sum(r.cost - self.problem.vehicle(r.vehicle).fixed_cost
                     for r in start_plan.routes)
        per_visit = max(travel, 1e-9) / max(1, self.problem.n_clients)
        t_hot, t_cold = _T_HOT * per_visit, _T_COLD * per_visit
        static = self._static()
        rng = np.random.default_rng(self.seed)
        iters = 200
        self.iterations = 0
        best = math.inf
        budget = max(1e-9, deadline - start)
        # Long routes (Solomon type 2: 20-35 visits) need longer strings than SISR's
        # defaults, tuned for short routes, to be reshaped.
        used = [len(r) for r in plan if r]
        avg_len = sum(used) / max(1, len(used))
        c_bar = max(_SISR_CBAR, _SISR_LEN_SHARE * avg_len)
        l_max = max(_SISR_LMAX, _SISR_LEN_SHARE * avg_len)
        epoch = last_best = start  # the annealing schedule restarts with each epoch
        while True:
            now = time.perf_counter()
            left = deadline - now
            if left <= 0.005:
                break
            if now - last_best > _STALL_SHARE * budget and left > _STALL_SHARE * budget:
                fresh = self.construct(int(rng.integers(2**31 - 1)))
                if fresh is not None:
                    cur_r, cur_l = self._arrays(fresh)
                    epoch = last_best = now
            f0 = min(1.0, (now - epoch) / max(1e-9, deadline - epoch))
            t_a = t_hot * (t_cold / t_hot) ** f0
            tic = time.perf_counter()
            _, best_cost = _sisr_chunk(
                iters, t_a, t_a, int(rng.integers(2**31 - 1)), cur_r, cur_l, best_r, best_l,
                *static, self.adj, c_bar, l_max, _SISR_BLINK, _BYPASS,
                self.route_removal)
            self.iterations += iters
            took = time.perf_counter() - tic
            if best_cost < best - 1e-9:
                best = best_cost
                last_best = time.perf_counter()
                reporter("improve", best_cost)
            # Aim for slices of ~0.1 s, never past the deadline.
            rate = iters / max(took, 1e-6)
            iters = int(max(20, min(rate * 0.1, rate * max(0.0, deadline - time.perf_counter())
                                    * 0.9)))
        return self._plan(best_r, best_l)


class _KernelLoader:
    """Loads the numba kernels once per process, in a background thread if asked to.

    Loading from numba's on-disk cache takes a fraction of a second; compiling (first run
    after an install or a change of this module) takes several seconds.
    """

    def __init__(self) -> None:
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def ready(self) -> bool:
        return self._done.is_set()

    def wait(self, seconds: float) -> bool:
        return self._done.wait(seconds)

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._done.is_set():
                self._thread = threading.Thread(target=self.load, daemon=True,
                                                name="whistle-sisr-compile")
                self._thread.start()

    def load(self) -> None:
        if numba is not None:
            _exercise_kernels()
        self._done.set()


_KERNELS = _KernelLoader()


def warm_up() -> None:
    """Compile (or load from cache) the numba kernels now, so timed solves do not pay for it.

    Call it once before measuring; :func:`solve` also works without it.
    """
    if not _KERNELS.ready():
        _KERNELS.load()


def _exercise_kernels() -> None:
    from planner.model import Client, Depot, TimeWindow, VehicleType

    xy = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    dist = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    problem = RoutingProblem(
        depots=(Depot(0, TimeWindow(0, 100)),),
        clients=tuple(Client(i, 1.0, (TimeWindow(0, 50),), (1,)) for i in (1, 2, 3)),
        vehicle_types=(VehicleType(count=3, capacity=(2,), shift=TimeWindow(0, 100)),),
        travel_time=dist,
        distance=dist,
    )
    sisr = _Sisr(problem, 0)
    plan = sisr.construct()
    if plan is not None:
        cur_r, cur_l = sisr._arrays(plan)
        _sisr_chunk(5, 1.0, 1.0, 0, cur_r, cur_l, cur_r.copy(), cur_l.copy(), *sisr._static(),
                    sisr.adj, _SISR_CBAR, _SISR_LMAX, _SISR_BLINK, _BYPASS, 0.5)
