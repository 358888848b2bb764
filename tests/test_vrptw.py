"""Routing core: Solomon reader, independent feasibility checker, solver and CLI.

Instances written inline here are made up for the tests. The public Solomon files are read
from ``shared/data/vrptw`` beside the repository when present (they are in CI).
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from planner.model import (
    Break,
    Client,
    Depot,
    FrozenPrefix,
    ProblemError,
    RoutingProblem,
    TimeWindow,
    VehicleType,
    euclidean_matrix,
)
from planner.result import evaluate
from planner.routes import solve, warm_up
from planner.solomon import SolomonFormatError, parse_solomon, read_problem
from web.commands import plan

if TYPE_CHECKING:
    from planner.sisr import Sisr

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vrptw"

# Made-up 8-customer instance in Solomon layout (CRLF line ends, like the public files).
TINY = "\r\n".join([
    "TINY8",
    "",
    "VEHICLE",
    "NUMBER     CAPACITY",
    "  4         30",
    "",
    "CUSTOMER",
    "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME",
    "",
    "    0      50         50          0          0        400          0",
    "    1      60         50         10          0        100         10",
    "    2      70         55         10         20        150         10",
    "    3      40         50         10          0        120         10",
    "    4      30         45         10         50        200         10",
    "    5      50         70          5          0        300         10",
    "    6      55         80          5         80        250         10",
    "    7      50         30         10          0        300         10",
    "    8      45         20         10        100        300         10",
    "",
])


@pytest.fixture
def tiny() -> RoutingProblem:
    return parse_solomon(TINY, "tiny").to_problem()


def _line_problem(windows: list[tuple[float, float]], service: float = 0.0,
                  capacity: int = 10, vehicles: int = 2) -> RoutingProblem:
    """Depot at x=0 and one client per unit step on a line (made up)."""
    xy = np.array([[float(i), 0.0] for i in range(len(windows) + 1)])
    dist = euclidean_matrix(xy)
    return RoutingProblem(
        depots=(Depot(0, TimeWindow(0, 1000)),),
        clients=tuple(Client(i + 1, service, (TimeWindow(*w),), (1,))
                      for i, w in enumerate(windows)),
        vehicle_types=(VehicleType(count=vehicles, capacity=(capacity,),
                                   shift=TimeWindow(0, 1000)),),
        travel_time=dist,
        distance=dist,
    )


# --- reader --------------------------------------------------------------------------------
def test_parse_reads_fleet_depot_and_customers(tiny: RoutingProblem):
    inst = parse_solomon(TINY, "tiny")
    assert (inst.name, inst.n_vehicles, inst.capacity) == ("TINY8", 4, 30)
    assert inst.xy.shape == (9, 2) and inst.due[0] == 400
    assert tiny.n_clients == 8 and tiny.n_vehicles == 4
    assert tiny.clients[1].windows[0] == TimeWindow(20, 150)
    assert tiny.clients[1].demand == (10,) and tiny.clients[1].service_s == 10
    assert tiny.distance[0, 1] == pytest.approx(10.0)
    assert tiny.distance[1, 2] == pytest.approx(math.hypot(10, 5))  # unrounded Euclidean


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("X\nfoo\n", "missing VEHICLE or CUSTOMER"),
    (TINY.replace("  4         30", "  4"), "NUMBER CAPACITY"),
    (TINY.replace("    3      40         50         10          0        120         10",
                  "    3      40         50         10          0        120"), "7 numbers"),
    (TINY.replace("    5      50         70", "    5      50         7O"), "non-numeric"),
    (TINY.replace("    6      55", "    9      55"), "must run 0, 1, 2"),
    (TINY.replace("0        120         10", "200        120         10"), "READY TIME > DUE"),
])
def test_parse_rejects_malformed_files_with_reason(text: str, reason: str):
    with pytest.raises(SolomonFormatError, match=reason):
        parse_solomon(text, "bad.txt")


@pytest.mark.skipif(not DATA.exists(), reason="shared VRPTW data not present")
def test_public_instances_parse_with_their_published_sizes():
    c101 = read_problem(DATA / "solomon" / "C101.txt")
    assert (c101.n_clients, c101.n_vehicles, c101.vehicle_types[0].capacity) == (100, 25, (200,))
    gh = read_problem(DATA / "homberger_200" / "c1_2_1.txt")
    assert (gh.n_clients, gh.n_vehicles) == (200, 50)


def test_problem_validation_names_the_field():
    dist = np.zeros((2, 2))
    with pytest.raises(ProblemError, match=r"clients\[0\].location"):
        RoutingProblem((Depot(0),), (Client(5),), (VehicleType(),), dist, dist)
    with pytest.raises(ProblemError, match=r"clients\[0\].windows\[0\]"):
        RoutingProblem((Depot(0),), (Client(1, windows=(TimeWindow(5, 1),)),),
                       (VehicleType(),), dist, dist)
    with pytest.raises(ProblemError, match="travel_time: must be a square"):
        RoutingProblem((Depot(0),), (Client(1),), (VehicleType(),), np.zeros((2, 3)), dist)


# --- checker -------------------------------------------------------------------------------
def test_checker_catches_a_late_arrival():
    problem = _line_problem([(0, 100), (0, 3)])  # client 1 is 2 units out, due by 3
    assert evaluate(problem, [[0, 1]]).is_feasible()  # no service time: arrives at 2
    slow = _line_problem([(0, 100), (0, 3)], service=5.0)  # 1 + 5 + 1 = 7 > 3
    result = evaluate(slow, [[0, 1]])
    assert not result.is_feasible()
    assert [(v.kind, v.client) for v in result.violations] == [("time_window", 1)]


def test_checker_catches_capacity_duplicates_and_missing_clients():
    problem = _line_problem([(0, 100)] * 3, capacity=2)
    result = evaluate(problem, [[0, 1, 2], [2]])
    kinds = sorted(v.kind for v in result.violations)
    assert kinds == ["capacity", "duplicate"]
    missing = evaluate(problem, [[0], [1]])
    assert [(v.kind, v.client) for v in missing.violations] == [("unassigned", 2)]


def test_checker_waits_for_window_and_delays_departure():
    problem = _line_problem([(50, 60)])
    route = evaluate(problem, [[0]]).routes[0]
    assert route.stops[0].start == 50 and route.stops[0].arrival == pytest.approx(50)
    assert route.departure == pytest.approx(49)  # leaves as late as useful
    assert route.duration == pytest.approx(2)


# --- solver --------------------------------------------------------------------------------
def _brute_force_tsp(problem: RoutingProblem) -> float:
    best = math.inf
    for perm in itertools.permutations(range(problem.n_clients)):
        res = evaluate(problem, [list(perm)])
        if res.is_feasible():
            best = min(best, res.distance)
    return best


@pytest.mark.parametrize("improver", ["sisr", "ortools"])
def test_solver_finds_the_optimum_of_a_small_tsptw(improver: str):
    if improver == "sisr":
        warm_up()  # compile (or load) the kernels: solve() would use OR-Tools meanwhile
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, size=(8, 2))
    dist = euclidean_matrix(xy)
    windows = [(0, 1000)] * 7
    windows[2] = (150, 400)
    windows[5] = (0, 120)
    problem = RoutingProblem(
        depots=(Depot(0, TimeWindow(0, 1000)),),
        clients=tuple(Client(i + 1, 5.0, (TimeWindow(*w),)) for i, w in enumerate(windows)),
        vehicle_types=(VehicleType(count=1, shift=TimeWindow(0, 1000)),),
        travel_time=dist,
        distance=dist,
    )
    result = solve(problem, 1.0, improver=improver)
    assert result.is_feasible()
    assert result.solver == ("sisr" if improver == "sisr" else "ortools-gls")
    assert result.distance == pytest.approx(_brute_force_tsp(problem), rel=1e-6)


def test_solve_tiny_instance_is_feasible_and_uses_the_fleet_sparingly(tiny: RoutingProblem):
    result = solve(tiny, 0.5)
    assert result.is_feasible(), result.summary()
    assert sorted(c for r in result.routes for c in r.clients) == list(range(8))
    assert 1 <= result.n_vehicles <= 4
    assert result.first_solution_s is not None and result.first_solution_s < 1.0
    assert result.cost() == pytest.approx(result.distance)


def test_unservable_client_gives_a_plan_with_the_violation_not_an_exception():
    problem = _line_problem([(0, 100), (0, 0.5)])  # client 1 is 2 units away, due by 0.5
    result = solve(problem, 0.5)
    assert not result.is_feasible()
    assert ("unassigned", 1) in [(v.kind, v.client) for v in result.violations]
    assert result.plan[0] == (0,) or result.plan[1] == (0,)


def test_breaks_skills_and_frozen_prefix_are_respected():
    """Two made-up teams with a lunch break; one visit needs a skill only team 1 has."""
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 3000, size=(9, 2))  # metres
    dist = euclidean_matrix(xy)
    tt = dist / 5.0  # 5 m/s
    clients = tuple(Client(i, 600.0, (TimeWindow(0, 8 * 3600),)) for i in range(1, 9))
    clients = (*clients[:3], Client(4, 600.0, (TimeWindow(0, 8 * 3600),),
                                    skills=frozenset({"fire"})), *clients[4:])
    lunch = Break(TimeWindow(3 * 3600, 4 * 3600), 1800)
    teams = (
        VehicleType(count=1, shift=TimeWindow(0, 8 * 3600), breaks=(lunch,), name="city"),
        VehicleType(count=1, shift=TimeWindow(0, 8 * 3600), breaks=(lunch,),
                    skills=frozenset({"fire"}), name="fire"),
    )
    problem = RoutingProblem((Depot(0),), clients, teams, tt, dist,
                             frozen=(FrozenPrefix(0, (5, 6)),))
    assert not problem.is_plain_vrptw
    result = solve(problem, 1.0)
    assert result.is_feasible(), result.summary()
    assert result.plan[0][:2] == (5, 6)
    assert 3 in result.plan[1]
    for route in result.routes:
        assert len(route.breaks) == 1
        assert 3 * 3600 - 1e-6 <= route.breaks[0].start <= 4 * 3600 + 1e-6


def _packing_problem(fixed_cost: float) -> RoutingProblem:
    """40 made-up clients of demand 10, vehicles of capacity 50: exactly 8 routes needed."""
    rng = np.random.default_rng(11)
    xy = rng.uniform(0, 100, size=(41, 2))
    dist = euclidean_matrix(xy)
    clients = tuple(Client(i, 1.0, (TimeWindow(0, 2000),), (10,)) for i in range(1, 41))
    fleet = VehicleType(count=40, capacity=(50,), shift=TimeWindow(0, 2000),
                        fixed_cost=fixed_cost)
    return RoutingProblem((Depot(0, TimeWindow(0, 2000)),), clients, (fleet,), dist, dist)


def test_fleet_minimisation_packs_one_route_per_client_into_the_fewest_routes():
    from planner.sisr import Sisr

    warm_up()
    problem = _packing_problem(fixed_cost=10_000.0)
    singletons = [[c] for c in range(problem.n_clients)]
    sisr = Sisr(problem, seed=0)
    assert sisr.fleet_first(singletons)
    assert sisr.min_routes() == 8
    events: list[str] = []
    plan = sisr.minimise_fleet(singletons, time.perf_counter() + 5.0,
                               lambda phase, cost: events.append(phase))
    result = evaluate(problem, plan)
    assert result.is_feasible(), result.summary()
    assert result.n_vehicles == 8
    assert events and set(events) == {"fleet"}


def test_fleet_phase_only_when_vehicles_cost_more_than_a_route():
    from planner.sisr import Sisr

    singletons = [[c] for c in range(40)]
    assert not Sisr(_packing_problem(fixed_cost=0.0), 0).fleet_first(singletons)
    assert not Sisr(_packing_problem(fixed_cost=1.0), 0).fleet_first(singletons)
    warm_up()
    result = solve(_packing_problem(fixed_cost=10_000.0), 2.0)
    assert result.is_feasible() and result.n_vehicles == 8


def _recorded_epochs(sisr: Sisr) -> list[tuple]:
    """Wrap ``sisr._epoch`` to record (plan, restart, began, deadline, found, cost, walk,
    span) per call."""
    epochs: list[tuple] = []
    real_epoch = sisr._epoch

    def recorded(plan, deadline, rng, t_hot, t_cold, fixed_acc, report, restart, walk=None,
                 span=(0.0, 1.0)):
        began = time.perf_counter()
        found, cost = real_epoch(plan, deadline, rng, t_hot, t_cold, fixed_acc, report, restart,
                                 walk, span)
        epochs.append((plan, restart, began, deadline, found, cost, walk, span))
        return found, cost

    sisr._epoch = recorded
    return epochs


def test_cost_phase_after_the_fleet_phase_runs_equal_epochs_and_keeps_the_best():
    from planner.sisr import _FLEET_EPOCHS, Sisr

    warm_up()
    problem = _packing_problem(fixed_cost=10_000.0)
    singletons = [[c] for c in range(problem.n_clients)]
    sisr = Sisr(problem, seed=3)
    sisr.fleet_draws = 1  # one fleet plan: no halving
    epochs = _recorded_epochs(sisr)
    deadline = time.perf_counter() + 2.0
    plan = sisr.run(singletons, deadline, lambda phase, cost: None)
    assert _FLEET_EPOCHS >= 2 and len(epochs) == _FLEET_EPOCHS
    fleet_plan = epochs[0][0]
    assert evaluate(problem, fleet_plan).n_vehicles == 8
    for start_plan, restart, _, _, _, _, _, span in epochs:
        assert span == (0.0, 1.0)  # each epoch is a whole schedule
        # Every epoch starts from, and restarts to, the fleet phase's plan.
        assert start_plan == fleet_plan and restart == fleet_plan
    # The epochs share the cost phase's budget equally and the last one ends at the deadline.
    cost_start = epochs[0][2]
    lengths = [e[3] - cost_start for e in epochs]
    assert lengths[-1] == pytest.approx(deadline - cost_start)
    assert lengths[0] == pytest.approx((deadline - cost_start) / _FLEET_EPOCHS, abs=0.01)
    best = min(epochs, key=lambda e: e[5])
    assert plan == best[4]
    result = evaluate(problem, plan)
    assert result.is_feasible() and result.cost() == pytest.approx(best[5])


def test_a_chain_among_several_gets_one_whole_anneal_after_the_fleet_phase():
    from planner.sisr import Sisr

    warm_up()
    problem = _packing_problem(fixed_cost=10_000.0)
    sisr = Sisr(problem, seed=3, chains=2)
    sisr.fleet_draws = 1
    epochs = _recorded_epochs(sisr)
    deadline = time.perf_counter() + 1.0
    plan = sisr.run([[c] for c in range(problem.n_clients)], deadline, lambda p, c: None)
    assert len(epochs) == 1 and epochs[0][3] == deadline
    assert plan == epochs[0][4] and evaluate(problem, plan).is_feasible()


def test_a_fleet_phase_at_the_capacity_bound_draws_more_plans_and_halves_them():
    from planner.sisr import _DRAW_STAGE, _FLEET_DRAWS, Sisr

    warm_up()
    problem = _packing_problem(fixed_cost=10_000.0)
    sisr = Sisr(problem, seed=5, chains=2)
    assert sisr.fleet_draws == _FLEET_DRAWS == 4
    epochs = _recorded_epochs(sisr)
    deadline = time.perf_counter() + 3.0
    plan = sisr.run([[c] for c in range(problem.n_clients)], deadline, lambda p, c: None)
    # Four walks, one from each plan of the fewest routes the fleet phase drew (at least two
    # of them differ: each draw has its own random stream), then two, then one.
    walks = list({id(e[6]): e[6] for e in epochs}.values())
    assert len(walks) == 4
    starts = [w.start for w in walks]
    assert all(evaluate(problem, p).n_vehicles == 8 and evaluate(problem, p).is_feasible()
               for p in starts)
    assert len({tuple(map(tuple, p)) for p in starts}) >= 2
    for start_plan, restart, _, _, _, _, walk, _ in epochs:
        assert start_plan == restart == walk.start  # a stalled walk restarts from its own
    s1, s2 = _DRAW_STAGE, 2 * _DRAW_STAGE
    assert [e[7] for e in epochs] == [(0.0, s1)] * 4 + [(s1, s2)] * 2 + [(s2, 1.0)]
    # Only the best walks of a stage go on (a walk's best after its stage: the cost).
    ranked = sorted(epochs[:4], key=lambda e: e[5])
    assert [id(e[6]) for e in epochs[4:6]] == [id(e[6]) for e in ranked[:2]]
    assert id(epochs[6][6]) == id(min(epochs[4:6], key=lambda e: e[5])[6])
    # The stages before the last take equal times; the last walk ends at the deadline.
    lengths = [e[3] - e[2] for e in epochs[:6]]
    assert max(lengths) - min(lengths) < 0.1
    assert epochs[6][3] == deadline
    assert plan == epochs[6][4]
    result = evaluate(problem, plan)
    assert result.is_feasible() and result.cost() == pytest.approx(epochs[6][5])


def test_no_draws_when_the_fleet_phase_stops_above_the_capacity_bound(
        monkeypatch: pytest.MonkeyPatch):
    from planner.sisr import Sisr

    warm_up()
    problem = _packing_problem(fixed_cost=10_000.0)
    sisr = Sisr(problem, seed=5, chains=2)
    monkeypatch.setattr(sisr, "min_routes", lambda: 1)  # a bound no plan reaches
    drawn: list[int | None] = []
    real = sisr.minimise_fleet
    monkeypatch.setattr(sisr, "minimise_fleet", lambda plan, deadline, reporter, seed=None: (
        drawn.append(seed), real(plan, deadline, reporter, seed))[1])
    epochs = _recorded_epochs(sisr)
    sisr.run([[c] for c in range(problem.n_clients)], time.perf_counter() + 1.0,
             lambda p, c: None)
    assert drawn == [None]  # the fleet phase ran once, with the chain's own stream
    assert len(epochs) == 1 and epochs[0][6] is None and epochs[0][7] == (0.0, 1.0)


def test_solve_tells_each_chain_how_many_run(monkeypatch):
    import planner.routes as routes

    warm_up()
    built: list[int] = []
    real = routes.Sisr

    def counted(problem, seed, chains=1, **meeting):
        built.append(chains)
        return real(problem, seed, chains, **meeting)

    monkeypatch.setattr(routes, "Sisr", counted)
    problem = _packing_problem(fixed_cost=10_000.0)
    assert solve(problem, 1.0, workers=1, improver="sisr").is_feasible()
    assert built and set(built) == {1}  # the construction's helper is a lone Sisr too
    built.clear()
    assert solve(problem, 1.0, workers=2, improver="sisr").is_feasible()
    assert built.count(2) == 2


def _search_state(sisr: Sisr, plan: list[list[int]]) -> tuple:
    """The kernels' view of ``plan``: (routes, rlen, where, est, lst, load, rdist)."""
    import planner.sisr as ls

    routes, rlen = sisr._arrays(plan)
    est, lst, load, rdist, where = ls._caches(
        routes, rlen, sisr.cl_loc, sisr.ready, sisr.due, sisr.svc, sisr.demand, sisr.v_start,
        sisr.v_end, sisr.v_early, sisr.v_late, sisr.tt, sisr.dd)
    return routes, rlen, where, est, lst, load, rdist


def _polished(problem: RoutingProblem, plan: list[list[int]], tails: bool,
              move: str = "polish") -> list[list[int]]:
    """Run the local-search polish (or one of its moves alone) on ``plan``; return the
    resulting plan."""
    import planner.sisr as ls

    sisr = ls.Sisr(problem, seed=0)
    state = _search_state(sisr, plan)
    routes, rlen = state[:2]
    (cl_loc, ready, due, svc, demand, cap, allowed, v_start, v_end, v_early, v_late, v_maxdur,
     v_maxdist, v_fixed, v_cpd, _, tt, dd) = sisr._static()
    order = np.arange(problem.n_clients)
    if move == "polish":
        ls._polish(*state, *sisr._static(), sisr.adj, tails)
    elif move == "relocate":
        ls._relocate(order, *state, *sisr._static())
    elif move == "exchange":
        width = routes.shape[1]
        ls._exchange(order, sisr.adj, *state, cl_loc, ready, due, svc, demand, cap, allowed,
                     v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, v_cpd, tt, dd,
                     np.zeros(width, dtype=np.int64), np.zeros(width, dtype=np.int64))
    else:
        width = routes.shape[1]
        ls._two_opt_star(*state, np.zeros((len(rlen), width + 1)),
                         np.zeros((len(rlen), width + 1, demand.shape[1]), dtype=np.int64),
                         np.zeros(width, dtype=np.int64), cl_loc, ready, due, svc, demand, cap,
                         allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist,
                         v_fixed, v_cpd, tt, dd)
    return sisr._plan(routes, rlen)


def test_polish_uncrosses_full_routes_by_exchanging_tails():
    # Two made-up routes of capacity 2 that cross: depot -> (10, 5) -> (20, -5) and
    # depot -> (10, -5) -> (20, 5). Both are full, so no single visit can move; exchanging
    # the tails (2-opt*) gives the two straight routes.
    xy = np.array([[0.0, 0.0], [10.0, 5.0], [20.0, -5.0], [10.0, -5.0], [20.0, 5.0]])
    dist = euclidean_matrix(xy)
    problem = RoutingProblem(
        depots=(Depot(0, TimeWindow(0, 1000)),),
        clients=tuple(Client(i, 0.0, (TimeWindow(0, 1000),), (1,)) for i in range(1, 5)),
        vehicle_types=(VehicleType(count=2, capacity=(2,), shift=TimeWindow(0, 1000)),),
        travel_time=dist, distance=dist)
    crossed = [[0, 1], [2, 3]]
    before = evaluate(problem, crossed)
    assert evaluate(problem, _polished(problem, crossed, True, "relocate")).cost() == (
        before.cost())
    after = evaluate(problem, _polished(problem, crossed, True, "two_opt_star"))
    assert after.is_feasible()
    straight = 2 * math.hypot(10, 5) + 2 * 10 + 2 * math.hypot(20, 5)
    assert after.cost() == pytest.approx(straight)
    assert after.cost() < before.cost()


def _two_lanes() -> RoutingProblem:
    """Made-up: two vehicles of capacity 3 from (0, 0) to (40, 0); visits 0-2 lie along
    y = 10 and 3-5 along y = -10, at x = 10, 20, 30."""
    xy = np.array([[0.0, 0.0], [10.0, 10.0], [20.0, 10.0], [30.0, 10.0],
                   [10.0, -10.0], [20.0, -10.0], [30.0, -10.0], [40.0, 0.0]])
    dist = euclidean_matrix(xy)
    return RoutingProblem(
        depots=(Depot(0, TimeWindow(0, 1000)), Depot(7, TimeWindow(0, 1000))),
        clients=tuple(Client(i, 0.0, (TimeWindow(0, 1000),), (1,)) for i in range(1, 7)),
        vehicle_types=(VehicleType(count=2, start_depot=0, end_depot=1, capacity=(3,),
                                   shift=TimeWindow(0, 1000)),),
        travel_time=dist, distance=dist)


def test_polish_swaps_visits_between_full_routes():
    # Two full routes along y = 10 and y = -10 (``_two_lanes``) whose middle visits are
    # swapped. Each route's order is already its best one and both are full, so no visit
    # can move alone (relocate); swapping the two middle visits in place (exchange) gives
    # the two straight routes.
    problem = _two_lanes()
    swapped = [[0, 4, 2], [3, 1, 5]]
    assert evaluate(problem, _polished(problem, swapped, False, "relocate")).cost() == (
        evaluate(problem, swapped).cost())
    after = evaluate(problem, _polished(problem, swapped, False, "exchange"))
    assert after.is_feasible()
    straight = evaluate(problem, [[0, 1, 2], [3, 4, 5]])
    assert after.cost() == pytest.approx(straight.cost())
    assert after.cost() < evaluate(problem, swapped).cost()


def test_exchange_puts_each_visit_at_its_best_place_in_the_other_route():
    # The same two full routes, but each holds a visit of the other one in the wrong
    # place: top [(10, 10), (30, -10), (20, 10)] and bottom [(10, -10), (30, 10), (20, -10)].
    # Swapping those two in place leaves both routes zigzagging; moving each to its cheapest
    # place in the other route (SWAP*) gives the straight routes in one move.
    problem = _two_lanes()
    misplaced = [[0, 5, 1], [3, 2, 4]]
    in_place = evaluate(problem, [[0, 2, 1], [3, 5, 4]])
    after = evaluate(problem, _polished(problem, misplaced, False, "exchange"))
    assert after.is_feasible()
    assert after.cost() == pytest.approx(evaluate(problem, [[0, 1, 2], [3, 4, 5]]).cost())
    assert after.cost() < in_place.cost()


def _tight_problem(seed: int, n: int) -> RoutingProblem:
    """Made-up: tight windows, capacities, and (odd seeds) a shift length, so that many
    places that look cheap are infeasible."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n + 1, 2))
    dist = euclidean_matrix(xy)
    opens = dist[0, 1:] + rng.uniform(0, 250, size=n)  # every client reachable in time
    clients = tuple(Client(i + 1, 5.0, (TimeWindow(float(o), float(o) + 60),),
                           (int(rng.integers(1, 10)),)) for i, o in enumerate(opens))
    fleet = VehicleType(count=n, capacity=(40,), shift=TimeWindow(0, 600),
                        max_duration_s=350.0 if seed % 2 else float("inf"),
                        fixed_cost=100.0 if seed % 3 == 0 else 0.0)
    return RoutingProblem((Depot(0, TimeWindow(0, 600)),), clients, (fleet,), dist, dist)


def _constructed(problem: RoutingProblem, seed: int) -> tuple[Sisr, list[list[int]]]:
    """A SISR solver for ``problem`` and its greedy plan (which must exist)."""
    from planner.sisr import Sisr

    sisr = Sisr(problem, seed=seed)
    plan = sisr.construct()
    assert plan is not None
    return sisr, plan


@pytest.mark.parametrize("seed", range(4))
def test_best_insertion_finds_the_cheapest_place_the_checker_accepts(seed: int):
    # The insertion scan stops at the first place whose departure is past the client's
    # window and skips blinked places without one draw each; with blinks off it must still
    # find the cheapest place the independent checker accepts, in every route or a new one.
    import planner.sisr as ls

    problem = _tight_problem(seed, 30)
    sisr, plan = _constructed(problem, seed)
    seen_empty = np.zeros(problem.n_vehicles, dtype=np.bool_)
    for c in range(problem.n_clients):
        without = [[x for x in r if x != c] for r in plan]
        base = evaluate(problem, without).cost()
        best = math.inf
        for v, route in enumerate(without):
            if not route and any(not r for r in without[:v]):
                continue  # empty vehicles are interchangeable
            for i in range(len(route) + 1):
                trial = [list(r) for r in without]
                trial[v] = [*route[:i], c, *route[i:]]
                result = evaluate(problem, trial)
                if result.is_feasible():
                    best = min(best, result.cost() - base)
        v, i, delta = ls._best_insertion(c, *_search_state(sisr, without), *sisr._static(),
                                         0.0, True, seen_empty)
        assert v >= 0 and delta == pytest.approx(best), (c, v, i, delta, best)
        trial = [list(r) for r in without]
        trial[v].insert(i, c)
        assert evaluate(problem, trial).is_feasible()


def _long_route_problem(n: int) -> RoutingProblem:
    """Made-up: windows spread over a long day and no binding capacity, so that a few
    routes carry many visits each (as on Gehring-Homberger type-2 instances)."""
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 50, size=(n + 1, 2))
    dist = euclidean_matrix(xy)
    opens = np.sort(rng.uniform(0, 2000, size=n))
    clients = tuple(Client(i + 1, 10.0, (TimeWindow(float(o), float(o) + 150),), (1,))
                    for i, o in enumerate(opens))
    fleet = VehicleType(count=n, capacity=(n,), shift=TimeWindow(0, 3000))
    return RoutingProblem((Depot(0, TimeWindow(0, 3000)),), clients, (fleet,), dist, dist)


def test_insertion_scan_skips_only_places_the_checker_rejects():
    # The scan starts each route at the place the bisection on latest starts returns; every
    # place before it must be infeasible for the client, and on long tightly windowed routes
    # the bisection must actually skip places (else the test above would not exercise it).
    import planner.sisr as ls

    n = 40
    problem = _long_route_problem(n)
    sisr, plan = _constructed(problem, 0)
    skipped = 0
    for c in range(n):
        without = [[x for x in r if x != c] for r in plan]
        _, rlen, _, _, lst, _, _ = _search_state(sisr, without)
        for v, route in enumerate(without):
            first = ls._first_place(c, v, rlen, lst, sisr.ready, sisr.svc)
            skipped += first
            for i in range(first):
                trial = [list(r) for r in without]
                trial[v] = [*route[:i], c, *route[i:]]
                assert not evaluate(problem, trial).is_feasible(), (c, v, i, first)
    assert skipped > n  # routes are long: most clients skip several places


@pytest.mark.parametrize("seed", range(3))
def test_insert_refresh_matches_a_full_refresh_bit_for_bit(seed: int):
    # The recreate updates a route's caches only from the insertion point and stops where a
    # value repeats; the caches must equal a full recomputation exactly, or costs and
    # feasibility would drift between the two.
    import planner.sisr as ls

    problem = _tight_problem(seed, 30)
    sisr, plan = _constructed(problem, seed)
    rng = np.random.default_rng(seed)
    out = [int(c) for c in rng.choice(problem.n_clients, size=12, replace=False)]
    ruined = [[x for x in r if x not in out] for r in plan]
    state = _search_state(sisr, ruined)
    routes, rlen, where, est, lst, load, rdist = state
    s = sisr
    for c in out:
        v = int(rng.choice(np.flatnonzero(rlen > 0))) if rng.random() < 0.9 else int(
            np.flatnonzero(rlen == 0)[0])
        i = int(rng.integers(0, rlen[v] + 1))
        ls._insert_refresh(v, i, c, routes, rlen, where, est, lst, load, rdist, s.cl_loc,
                           s.ready, s.due, s.svc, s.demand, s.v_start, s.v_end, s.v_early,
                           s.v_late, s.tt, s.dd)
        full = _search_state(sisr, sisr._plan(routes, rlen))
        for k, (got, want) in enumerate(zip(state, full, strict=True)):
            if k in (3, 4):  # est, lst: only the positions in use are defined
                for u in range(len(rlen)):
                    np.testing.assert_array_equal(got[u, :rlen[u]], want[u, :rlen[u]])
            else:
                np.testing.assert_array_equal(got, want)


def test_recreate_gives_the_same_plan_with_incremental_and_full_cache_updates():
    # Through the recreate, long routes take the incremental path and short ones the full
    # one; either way the plan and its caches must be those of full recomputation.
    import planner.sisr as ls

    problem = _long_route_problem(60)
    sisr, plan = _constructed(problem, 0)
    assert max(len(r) for r in plan) >= ls._INCREMENTAL_MIN + 10
    out = plan[0][::3] + [c for r in plan[1:] for c in r[::4]]
    ruined = [[x for x in r if x not in out] for r in plan]
    results = []
    for incremental in (True, False):
        state = _search_state(sisr, ruined)
        removed = np.array(out, dtype=np.int64)
        assert ls._recreate(removed, removed.size, *state[:3], *state[3:], *sisr._static(),
                            0.0, np.inf, np.inf, None, True, incremental)
        results.append(state)
    for k, (got, want) in enumerate(zip(*results, strict=True)):
        if k in (3, 4):
            rlen = results[0][1]
            for u in range(len(rlen)):
                np.testing.assert_array_equal(got[u, :rlen[u]], want[u, :rlen[u]])
        else:
            np.testing.assert_array_equal(got, want)


def test_metric_check_accepts_plane_distances_and_rejects_shortcuts():
    # Early rejection relies on insertions never costing less than nothing.
    from planner.sisr import _is_metric

    xy = np.random.default_rng(3).uniform(0, 100, size=(40, 2))
    xy[5] = xy[4]  # two clients at one address: a zero distance is still metric
    dist = euclidean_matrix(xy)
    every = np.arange(40)
    assert _is_metric(dist, every)
    shortcut = dist.copy()
    shortcut[1, 2] = dist[1, 3] + dist[3, 2] + 1.0  # the detour through 3 is shorter
    assert not _is_metric(shortcut, every)
    assert _is_metric(shortcut, np.array([1, 2]))  # only the locations in use count
    for bad in (-1.0, np.inf):
        broken = dist.copy()
        broken[7, 8] = bad
        assert not _is_metric(broken, every)


@pytest.mark.parametrize("seed", [0, 1])
def test_recreate_stops_early_only_when_neither_acceptance_nor_a_new_best_remains(seed: int):
    # With metric distances every insertion costs at least nothing, so once the inserted
    # visits cost more than the acceptance room and more than the room to a new best plan,
    # the rest cannot help; with either room left the recreate must run to the end.
    import planner.sisr as ls

    problem = _tight_problem(seed, 30)  # seed 0: vehicle fixed costs; 1: a shift length
    sisr = ls.Sisr(problem, seed=seed)
    assert sisr.metric
    plan = sisr.construct()
    assert plan is not None
    removed_clients = [c for r in plan[:2] for c in r]
    ruined = [[] if v < 2 else list(r) for v, r in enumerate(plan)]
    before = evaluate(problem, ruined).cost()

    def recreate(room: float, true_room: float) -> tuple[bool, list[list[int]]]:
        routes, rlen, where, est, lst, load, rdist = _search_state(sisr, ruined)
        removed = np.array(removed_clients, dtype=np.int64)
        ok = ls._recreate(removed, removed.size, routes, rlen, where, est, lst, load, rdist,
                          *sisr._static(), 0.0, room, true_room, sisr.v_fixed)
        return ok, sisr._plan(routes, rlen)

    ok, full = recreate(np.inf, np.inf)
    assert ok
    cost = evaluate(problem, full).cost() - before
    assert cost > 0
    for room, true_room in ((cost + 1e-6, 0.0), (0.0, cost + 1e-6), (np.inf, 0.0)):
        again = recreate(room, true_room)
        assert again == (True, full), (room, true_room)
    assert recreate(cost / 2, cost / 2)[0] is False


@pytest.mark.parametrize("seed", range(6))
def test_polish_keeps_plans_feasible_and_never_costs_more(seed: int):
    # Made-up instances with tight windows, capacities and a shift length, so many moves
    # that look cheaper are infeasible; the independent checker must accept every result.
    n = 60
    problem = _tight_problem(seed, n)
    from planner.sisr import Sisr

    plan = Sisr(problem, seed=seed).construct()
    assert plan is not None
    before = evaluate(problem, plan)
    assert before.is_feasible(), before.summary()
    for tails in (False, True):
        out = _polished(problem, plan, tails)
        result = evaluate(problem, out)
        assert result.is_feasible(), result.summary()
        assert sorted(c for r in out for c in r) == list(range(n))
        assert result.cost() <= before.cost() + 1e-6
    assert result.cost() < before.cost()  # a greedy construction always leaves some gain


def test_parallel_chains_run_in_their_own_threads_and_the_best_plan_wins(
        tiny: RoutingProblem, monkeypatch: pytest.MonkeyPatch):
    from planner import routes
    from planner.sisr import Sisr as RealSisr

    runs: dict[int, tuple[str, float]] = {}

    class Spy(RealSisr):
        def run(self, plan, deadline, reporter):  # type: ignore[no-untyped-def]
            out = super().run(plan, deadline, reporter)
            runs[self.seed] = (threading.current_thread().name, evaluate(tiny, out).cost())
            return out

    monkeypatch.setattr(routes, "Sisr", Spy)
    warm_up()
    result = solve(tiny, 0.6, seed=5, workers=3)
    assert sorted(runs) == [5, 1005, 2005]
    assert len({name for name, _ in runs.values()}) == 3
    assert result.is_feasible() and result.solver == "sisr"
    assert result.cost() == pytest.approx(min(cost for _, cost in runs.values()))


def test_parallel_chains_prefer_a_feasible_plan_to_a_cheaper_broken_one(
        tiny: RoutingProblem, monkeypatch: pytest.MonkeyPatch):
    from planner import routes
    from planner.sisr import Sisr as RealSisr

    warm_up()
    plans = [RealSisr(tiny, s).construct(s) for s in range(20)]
    ok = sorted((p for p in plans if p is not None), key=lambda p: evaluate(tiny, p).cost())
    assert evaluate(tiny, ok[0]).cost() < evaluate(tiny, ok[-1]).cost()
    broken = [r[1:] if k == 0 else r for k, r in enumerate(ok[0])]  # first visit left out
    assert not evaluate(tiny, broken).is_feasible()
    by_seed = {0: ok[-1], 1000: broken, 2000: ok[0]}

    class Fixed:
        def __init__(self, problem: RoutingProblem, seed: int, chains: int = 1,
                     **meeting: object):
            self.seed = seed

        def run(self, plan, deadline, reporter):  # type: ignore[no-untyped-def]
            return by_seed[self.seed]

    monkeypatch.setattr(routes, "Sisr", Fixed)
    best = routes._sisr_chains(tiny, ok[-1], 0, 3, time.perf_counter() + 1, lambda *a: None)
    assert best == ok[0]
    by_seed[2000] = ok[-1]
    assert routes._sisr_chains(tiny, ok[0], 0, 3, time.perf_counter() + 1,
                               lambda *a: None) == ok[-1]


@pytest.mark.parametrize("seed", range(4))
def test_crossover_child_serves_every_visit_once_and_differs_from_its_parent(seed: int):
    from planner.sisr import Sisr

    warm_up()
    n = 60
    problem = _tight_problem(seed, n)
    sisr = Sisr(problem, seed=seed)
    mine, other = sisr.construct(seed), sisr.construct(seed + 100)
    assert mine is not None and other is not None and mine != other
    child = sisr.crossover(mine, other, np.random.default_rng(seed))
    assert child is not None
    result = evaluate(problem, child)
    assert result.is_feasible(), result.summary()
    assert sorted(c for r in child for c in r) == list(range(n))
    assert {tuple(r) for r in child if r} != {tuple(r) for r in mine if r}


@pytest.mark.parametrize("seed", range(3))
def test_crossing_a_plan_with_itself_gives_it_back_no_worse(seed: int):
    # Each route taken out is best covered by itself, so nothing is left to re-insert and
    # only the polish may change the plan, never for the worse.
    from planner.sisr import Sisr

    warm_up()
    problem = _tight_problem(seed, 50)
    sisr = Sisr(problem, seed=seed)
    plan = sisr.construct()
    assert plan is not None
    child = sisr.crossover(plan, plan, np.random.default_rng(seed))
    assert child is not None
    assert evaluate(problem, child).is_feasible()
    assert evaluate(problem, child).cost() <= evaluate(problem, plan).cost() + 1e-6


def test_exchange_swaps_plans_and_a_missed_meeting_does_not_block_the_next():
    from planner.sisr import Exchange

    now = time.perf_counter()
    ex = Exchange(2, now, now + 1.0)
    assert len(ex.times) >= 2 and all(now < t < now + 1.0 for t in ex.times)
    got: dict[int, list] = {}

    def chain(rank: int) -> None:
        got[rank] = ex.swap(0, rank, [[rank]], time.perf_counter() + 5.0)

    threads = [threading.Thread(target=chain, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {0: [[[1]]], 1: [[[0]]]}
    # Meeting 1: the other chain never comes; this one waits until its deadline only.
    tic = time.perf_counter()
    assert ex.swap(1, 0, [[0]], time.perf_counter() + 0.3) == []
    assert time.perf_counter() - tic < 1.0


def test_parallel_chains_meet_and_go_on_from_their_children(monkeypatch: pytest.MonkeyPatch):
    from planner import routes
    from planner.sisr import Sisr as RealSisr

    crossed: list[tuple[int, bool]] = []

    class Spy(RealSisr):
        def crossover(self, mine, other, rng):  # type: ignore[no-untyped-def]
            child = super().crossover(mine, other, rng)
            crossed.append((self.rank, child is not None))
            return child

    monkeypatch.setattr(routes, "Sisr", Spy)
    warm_up()
    problem = _tight_problem(1, 60)
    result = solve(problem, 1.5, seed=2, workers=2, improver="sisr")
    assert result.is_feasible() and result.solver == "sisr"
    assert sorted(rank for rank, _ in crossed) == [0, 0, 1, 1]  # two meetings, both chains
    assert all(made for _, made in crossed)


def test_a_chain_goes_on_from_a_child_only_if_it_is_near_its_own_best(
        monkeypatch: pytest.MonkeyPatch):
    from planner.sisr import Exchange, Sisr

    warm_up()
    problem = _tight_problem(2, 40)
    now = time.perf_counter()
    ex = Exchange(2, now - 10.0, now + 1.0)  # both meetings are due
    sisr = Sisr(problem, seed=0, chains=2, exchange=ex, rank=0)
    assert sisr.exchange is ex
    plan = sisr.construct()
    assert plan is not None
    best_r, best_l = sisr._arrays(plan)
    cost = evaluate(problem, plan).cost()
    alone = [[c] for c in range(problem.n_clients)]  # feasible, and far dearer
    assert evaluate(problem, alone).is_feasible()
    monkeypatch.setattr(ex, "swap", lambda *args: [plan])
    monkeypatch.setattr(sisr, "crossover", lambda mine, other, rng: alone)
    assert sisr._meet(best_r, best_l, cost, now + 1.0, np.random.default_rng(0)) is None
    monkeypatch.setattr(sisr, "crossover", lambda mine, other, rng: [list(r) for r in mine])
    assert sisr._meet(best_r, best_l, cost, now + 1.0, np.random.default_rng(0)) == (
        plan, pytest.approx(cost))
    assert sisr._meet(best_r, best_l, cost, now + 1.0, np.random.default_rng(0)) is None  # no more


def test_chains_with_long_routes_meet_but_do_not_cross(monkeypatch: pytest.MonkeyPatch):
    from planner.sisr import _CROSSOVER_MAX_VISITS, Exchange, Sisr

    warm_up()
    n = 60
    problem = _line_problem([(0.0, 1000.0)] * n, capacity=n)
    now = time.perf_counter()
    ex = Exchange(2, now - 10.0, now + 1.0)
    sisr = Sisr(problem, seed=0, chains=2, exchange=ex, rank=0)
    assert sisr.exchange is ex
    plan = [list(range(n)), []]  # one route out along the line and back
    assert evaluate(problem, plan).is_feasible() and n > _CROSSOVER_MAX_VISITS
    met: list[int] = []
    monkeypatch.setattr(ex, "swap", lambda round_, *args: met.append(round_) or [plan])
    monkeypatch.setattr(sisr, "crossover", lambda mine, other, rng: [list(r) for r in mine])
    best_r, best_l = sisr._arrays(plan)
    cost = evaluate(problem, plan).cost()
    assert sisr._meet(best_r, best_l, cost, now + 1.0, np.random.default_rng(0)) is None
    assert met == [0]  # it still came to the meeting, so the other chain is not kept waiting


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_whole_number_of_at_least_one(tiny: RoutingProblem, workers: object):
    with pytest.raises(ValueError, match="workers"):
        solve(tiny, 0.2, workers=workers)  # type: ignore[arg-type]


@pytest.mark.skipif(not DATA.exists(), reason="shared VRPTW data not present")
def test_c101_short_solve_is_feasible_and_near_optimal():
    problem = read_problem(DATA / "solomon" / "C101.txt")
    result = solve(problem, 2.0)
    assert result.is_feasible()
    assert result.first_solution_s is not None and result.first_solution_s < 1.0
    assert result.distance <= 827.3 * 1.02  # DIMACS optimum of C101 is 827.3


# --- CLI -----------------------------------------------------------------------------------
def _cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(plan.app, name="plan")
    return root


def test_cli_solves_and_prints_json(tmp_path: Path):
    path = tmp_path / "tiny.txt"
    path.write_text(TINY)
    res = CliRunner().invoke(_cli(), ["plan", "vrptw", str(path), "--time-limit", "0.5",
                                      "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["feasible"] and out["vehicles"] >= 1
    customers = sorted(c for r in out["routes"] for c in r["customers"])
    assert customers == list(range(1, 9))


def test_cli_prints_routes_in_file_numbering(tmp_path: Path):
    path = tmp_path / "tiny.txt"
    path.write_text(TINY)
    res = CliRunner().invoke(_cli(), ["plan", "vrptw", str(path), "--time-limit", "0.3",
                                      "--quiet"])
    assert res.exit_code == 0, res.output
    assert "feasible" in res.stdout and "Route #1:" in res.stdout


def test_cli_runs_parallel_chains_and_rejects_zero(tmp_path: Path):
    path = tmp_path / "tiny.txt"
    path.write_text(TINY)
    res = CliRunner().invoke(_cli(), ["plan", "vrptw", str(path), "--time-limit", "0.5",
                                      "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "2 chains" in res.output and "feasible" in res.stdout
    res = CliRunner().invoke(_cli(), ["plan", "vrptw", str(path), "--workers", "0"])
    assert res.exit_code == 2 and "--workers" in res.output


def test_cli_bad_file_is_a_clear_error_with_exit_2(tmp_path: Path):
    path = tmp_path / "bad.txt"
    path.write_text("not an instance\n")
    res = CliRunner().invoke(_cli(), ["plan", "vrptw", str(path)])
    assert res.exit_code == 2
    assert "missing VEHICLE or CUSTOMER" in res.output
    assert "Traceback" not in res.output
    res = CliRunner().invoke(_cli(), ["plan", "vrptw", str(tmp_path / "nope.txt")])
    assert res.exit_code == 2 and "no such file" in res.output
