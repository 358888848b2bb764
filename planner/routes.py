"""The routing solver: OR-Tools' routing library behind one call, :func:`solve`.

How a solve spends its time budget
----------------------------------
1. **First solution** (OR-Tools, parallel cheapest insertion), capped at
   ``first_solution_s``. If it fails, a greedy insertion of our own is tried, then one vehicle
   per client, then a model where every client may be dropped at a very high penalty, which
   always yields a plan: the result then lists the unvisited clients as violations.
2. **Improvement.** Plain VRPTW problems (see :attr:`RoutingProblem.is_plain_vrptw`) are
   improved by a ruin-and-recreate search (slack induction by string removals, SISR,
   Christiaens & Vanden Berghe 2020, plus whole-route removals and restarts on stagnation,
   and the paper's fleet minimisation first when vehicles cost more than their routes'
   travel), in :mod:`planner.sisr`, compiled with numba and working in double precision.
   OR-Tools' guided local search is
   much weaker on time windows (2.7 % vs ~0.6 % above the Solomon optima at 10 s, see
   ``bench/README.md``); it stays in charge of every other problem (breaks, several windows,
   frozen prefixes, optional visits, duration costs), where OR-Tools' generality matters.
   With ``workers`` > 1 that many chains run in threads (the kernels release the GIL) and
   the best plan wins: on a tight fleet one chain's outcome is largely the basin its first
   seconds fall into, and a second chain on a free core rarely falls into a bad one too.
   Twice late in the solve the chains meet and each goes on from a route-exchange child of
   its best plan and another's, so what one found can serve the other. A lone chain draws
   twice instead: after the fleet phase it runs two shorter anneals from the fleet plan and
   keeps the better. Where the fleet phase reaches the capacity bound early, every chain
   draws four plans of that fleet and keeps the best of the anneals from them by
   successive halving. The numba kernels are cached on disk;
   a process loads them on first use (call :func:`warm_up` to do it up front). While they
   are not loaded, OR-Tools does the work, so the time limit holds even on the first run
   after an install, when they are compiled.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from planner.model import RoutingProblem
from planner.result import RoutingResult, evaluate
from planner.sisr import KERNELS, Exchange, Sisr, numba, warm_up

__all__ = ["Progress", "ProgressFn", "solve", "warm_up"]



@dataclass(frozen=True, slots=True)
class Progress:
    """A progress event: ``phase`` ('first', 'ortools', 'fleet', 'improve', 'done'),
    elapsed seconds, cost of the best plan so far (same unit as :meth:`RoutingResult.cost`)."""

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
    workers: int = 1,
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
    workers
        Improvement chains run side by side, one thread each (the compiled kernels
        release the GIL), cross their best plans twice late in the solve, and the best
        plan wins. Worth it up to the number of free cores: a tightly constrained run's
        outcome is largely the basin its first seconds fall into, so two chains miss far
        less often than one (``bench/README.md``). Only the SISR improver uses them; chain
        ``k`` is seeded ``seed + 1000 * k``.

    Returns
    -------
    RoutingResult
        Always a plan; check :meth:`RoutingResult.is_feasible`.
    """
    if improver not in ("auto", "sisr", "ortools"):
        raise ValueError(f"improver: expected 'auto', 'sisr' or 'ortools', got {improver!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: expected a whole number >= 1, got {workers!r}")
    t0 = time.perf_counter()
    deadline = t0 + max(0.05, float(time_limit_s))
    history: list[tuple[float, float]] = []
    reporter = _Reporter(t0, history, progress)

    if problem.n_clients == 0:
        return evaluate(problem, [], runtime_s=time.perf_counter() - t0, solver="empty")

    use_sisr = (
        improver == "sisr" or (improver == "auto" and problem.is_plain_vrptw)
    ) and problem.is_plain_vrptw and numba is not None

    if use_sisr and not KERNELS.ready():
        # First use in this process: load (or compile) the kernels in the background while
        # OR-Tools works, so the time limit holds either way.
        KERNELS.start()
    model = _OrToolsModel(problem, callbacks=KERNELS.ready() or not use_sisr)
    first_limit = min(first_solution_s, max(0.05, deadline - time.perf_counter()))
    plan = model.first_solution(first_limit, reporter)
    first_s = time.perf_counter() - t0 if plan is not None else None
    solver_name = "ortools-pci"
    if plan is None and use_sisr and KERNELS.ready():
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
        KERNELS.wait(min(1.0, 0.2 * time_limit_s, max(0.0, deadline - time.perf_counter())))
        while not KERNELS.ready() and deadline - time.perf_counter() > 0.05:
            better = model.improve(plan, min(1.0, deadline - time.perf_counter()), reporter)
            if better is not None:
                plan, solver_name = better, "ortools-gls"
                reporter("ortools", _plan_cost(problem, plan))
        if KERNELS.ready() and deadline - time.perf_counter() > 0.02:
            better = _sisr_chains(problem, plan, seed, workers, deadline, reporter)
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


_CHAIN_SEED_STEP = 1000  # chain k of a solve with seed s is seeded s + 1000 k


def _sisr_chains(problem: RoutingProblem, plan: Sequence[Sequence[int]], seed: int,
                 workers: int, deadline: float,
                 reporter: Callable[[str, float], None]) -> list[list[int]] | None:
    """Improve ``plan`` with ``workers`` SISR chains; the best checked plan wins.

    Each chain has its own arrays and random stream, so threads share nothing but the
    (locked) reporter and the exchange where they meet to cross plans (copies are passed);
    a feasible plan beats an infeasible one, then the lower cost wins.
    """
    start = time.perf_counter()
    exchange = Exchange(workers, start, deadline) if workers > 1 else None

    def chain(k: int) -> list[list[int]] | None:
        # A lone chain splits its cost phase in epochs (or halves walks from several fleet
        # plans); parallel chains are the draws, crossed at the exchange.
        sisr = Sisr(problem, seed + _CHAIN_SEED_STEP * k, chains=workers, exchange=exchange,
                    rank=k)
        return sisr.run(plan, deadline, reporter)

    if workers == 1:  # in this thread, and no second check of the one plan
        return chain(0)
    with ThreadPoolExecutor(workers, thread_name_prefix="whistle-sisr") as pool:
        plans = [p for p in pool.map(chain, range(workers)) if p is not None]
    if not plans:
        return None
    scored = [evaluate(problem, p) for p in plans]
    best = min(range(len(plans)), key=lambda i: (not scored[i].is_feasible(), scored[i].cost()))
    return plans[best]


class _Reporter:
    """Records (elapsed, cost) on improvement and forwards throttled progress events.

    Thread-safe: parallel improvement chains report through one instance.
    """

    def __init__(self, t0: float, history: list[tuple[float, float]], fn: ProgressFn | None):
        self.t0, self.history, self.fn = t0, history, fn
        self.best = math.inf
        self.last_emit = -1.0
        self._lock = threading.Lock()

    def __call__(self, phase: str, cost: float) -> None:
        with self._lock:
            self._report(phase, cost)

    def _report(self, phase: str, cost: float) -> None:
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
    sisr = Sisr(problem, seed)
    return sisr.construct()
