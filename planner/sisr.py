"""SISR: the ruin-and-recreate improver for plain VRPTW problems, compiled with numba.

Slack induction by string removals (Christiaens & Vanden Berghe 2020): remove a few strings of
neighbouring visits, re-insert them greedily with "blinks", accept by simulated annealing.
Added here: whole-route removals now and then, restarts from a fresh construction on
stagnation, strings scaled to the mean route length (long type-2 routes), the paper's
fleet-minimisation phase for vehicles-first objectives (drawn several times where it
reaches the capacity bound early, the cost phase then halving the walks from those plans),
a local search (relocate, exchange and 2-opt*) that polishes every new best plan, a
route-exchange crossover of parallel chains' best plans, time-window orders for the
recreate, early rejection of recreates that can no longer be accepted, insertion scans that
start at the first place that can be on time, and schedule caches updated from the
insertion point on long routes. Everything runs in double precision on plain arrays;
:func:`planner.routes.solve` decides when it is used.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import csgraph_from_dense, shortest_path

from planner.model import RoutingProblem
from planner.result import evaluate

try:  # numba is a declared dependency; without it plain problems fall back to OR-Tools.
    import numba
except ImportError:  # pragma: no cover - exercised only on broken installs
    numba = None


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
# ... hotter after fleet minimisation: its plan starts far from good and its full routes need
# more uphill moves (GH 200 R2/RC2/RC1, two seeds: 0.5 -> 3.7 %, 1.5 -> 2.1 %, 3.0 lost RC1).
_T_HOT_FLEET = 1.5
# Share of iterations that empty a whole route instead of removing strings: it lets long
# routes (Solomon C2) be rebuilt, and with vehicle fixed costs it drives fleet reduction.
_ROUTE_REMOVAL = 0.05
_ROUTE_REMOVAL_FLEET = 0.2
# ... but at most this many visits per iteration on average: on long routes each removal
# re-inserts a whole route for little gain (GH 200 RC2_2_6, 50 visits a route, at 0.2:
# about two thirds of the time, 0.1 % accepted). Shares above hold up to 12 visits a route
# at 0.2 (RC1, C1, R1) and 48 at 0.05 (every Solomon instance).
_ROUTE_REMOVAL_VISITS = 2.4
# Restart after this share of the budget without a new best (the annealing can stall in a
# deep basin, e.g. Solomon C203 at +14 %), from a fresh greedy construction, or, with
# vehicles first, from the fleet phase's plan (see Sisr._anneal).
_STALL_SHARE = 0.25
# Vehicles-first objectives: share of the budget given to fleet minimisation before the
# distance phase (see Sisr.minimise_fleet).
_FLEET_SHARE = 0.4
# ... and the price of an extra route while the cost phase then searches, in average route
# travel costs (tested 0.5-3 and the full price on GH 200 C1/R1/RC1/R2/RC2: 2 was best, the
# full price stalls on capacity-tight C1 instances, lower prices let routes multiply).
_FLEET_ACCEPT = 2.0
# ... split, in a solve with one search chain where the fleet phase hands over one plan
# (several: see _FLEET_DRAWS), into this many equal epochs, each a whole anneal from it.
# The basin a run settles in is largely chance, decided in its first seconds, and a 12 s
# anneal ends about as well as a 30 s one, so two draws beat one long one (GH 200 RC2_2_6,
# R2_2_1, RC1_2_1, RC2_2_5, one chain, 30 s, six seeds: mean gap 3.89 % with one epoch,
# 2.60 % with two, 3.15 % with three; over all 60 GH 200 at one seed the two were even,
# 0.59 % against 0.62 %). Parallel chains are the draws themselves: with two chains, two
# epochs each did worse than one (R2_2_1, RC2_2_3-6, four seeds: 2.06 % against 1.23 %;
# bench/README.md).
_FLEET_EPOCHS = 2
# When the fleet phase reaches the capacity bound within ``_DRAW_MAX_SHARE`` of the budget
# (Gehring-Homberger type 2: four routes of 50 visits), it draws this many plans of that
# fleet in all, each given at most ``_DRAW_TIME`` times as long as the first took (at least
# ``_DRAW_MIN_S``; all within the fleet phase's share of the budget), and the
# cost phase anneals from all of them by successive halving (Sisr._halve). At such a tight
# fleet the plan the fleet phase hands over largely decides the basin: four anneals of 12 s
# from each of six RC2_2_6 fleet plans ended at 10.1-10.6 % over the best-known plan from
# one, 5.7-6.9 % from another, 2.1-4.3 % from a third, so restarts from the same plan
# cannot escape a bad one (bench/README.md).
_FLEET_DRAWS = 4
_DRAW_MAX_SHARE = 0.1
_DRAW_TIME = 2.0
_DRAW_MIN_S = 0.05
_DRAW_SEED_STEP = 7919
# ... each stage of the halving but the last runs its walks over this share of the schedule.
_DRAW_STAGE = 0.25
# Recreate: routes at least this long get their caches updated from the insertion point
# (_insert_refresh); shorter ones are recomputed whole, which is cheaper there.
_INCREMENTAL_MIN = 20
# Parallel chains meet at these shares of the solve's time to cross their best plans
# (Sisr.crossover), each then going on from its child (see Exchange).
_CROSSOVER_AT = (0.6, 0.8)
# ... trying this many route selections, each child in both variants, keeping the cheapest.
_CROSSOVER_TRIALS = 20
# ... and giving a child's left-out visits at most this long to find a place in its fleet.
_CROSSOVER_REPAIR_S = 0.5
# ... and going on from a child only if it costs at most this share of the parent's travel
# more than the parent.
_CROSSOVER_SLACK = 0.015
# ... and only where routes are short: exchanging a few of many short routes helped (GH
# 200 RC1_2_1, 11 visits a route, eight seeds: mean 2.47 -> 1.08 %), while with four
# routes of 50 (R2_2_1, RC2_2_6) the search lost more from the meetings than it gained.
_CROSSOVER_MAX_VISITS = 25.0
# Polish: a visit may trade routes with one of this many of its nearest neighbours.
_EXCHANGE_NEIGHBOURS = 20


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
def _insert_refresh(v, i, c, routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due,
                    svc, demand, v_start, v_end, v_early, v_late, tt, dd):
    """Insert client ``c`` at position ``i`` of route ``v`` and update its caches in place.

    The same values as :func:`_refresh`, bit for bit, for less work on long routes: earliest
    starts change only from ``i`` on and latest starts only up to ``i``, and each pass stops
    at the first visit whose cached value it reproduces (the rest follows from it by the
    same arithmetic). The distance is summed again in route order, as :func:`_refresh` does,
    so no rounding drift builds up.
    """
    _insert_at(v, i, c, routes, rlen, where)
    n = rlen[v]
    for j in range(n - 1, i, -1):
        est[v, j] = est[v, j - 1]
        lst[v, j] = lst[v, j - 1]
    loc, t = _before(v, i, routes, cl_loc, svc, est, v_start, v_early)
    for j in range(i, n):
        cj = routes[v, j]
        cl = cl_loc[cj]
        t = t + tt[loc, cl]
        if t < ready[cj]:
            t = ready[cj]
        if j > i and t == est[v, j]:
            break
        est[v, j] = t
        t += svc[cj]
        loc = cl
    if i == n - 1:
        latest = v_late[v]
        loc = v_end[v]
    else:
        latest = lst[v, i + 1]
        loc = cl_loc[routes[v, i + 1]]
    for j in range(i, -1, -1):
        cj = routes[v, j]
        x = latest - tt[cl_loc[cj], loc] - svc[cj]
        if x > due[cj]:
            x = due[cj]
        if j < i and x == lst[v, j]:
            break
        lst[v, j] = x
        latest = x
        loc = cl_loc[cj]
    for k in range(demand.shape[1]):
        load[v, k] += demand[c, k]
    loc = v_start[v]
    dist = 0.0
    for j in range(n):
        cl = cl_loc[routes[v, j]]
        dist += dd[loc, cl]
        loc = cl
    rdist[v] = dist + dd[loc, v_end[v]]


@_jit
def _place(v, i, c, routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due, svc,
           demand, v_start, v_end, v_early, v_late, tt, dd, incremental):
    """Insert ``c`` at ``i`` of route ``v`` and bring the caches up to date: incrementally
    on routes of ``_INCREMENTAL_MIN`` visits or more (if ``incremental``), else whole."""
    if incremental and rlen[v] >= _INCREMENTAL_MIN:
        _insert_refresh(v, i, c, routes, rlen, where, est, lst, load, rdist, cl_loc, ready,
                        due, svc, demand, v_start, v_end, v_early, v_late, tt, dd)
    else:
        _insert_at(v, i, c, routes, rlen, where)
        _refresh(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
                 v_start, v_end, v_early, v_late, tt, dd)


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
def _before(v, i, routes, cl_loc, svc, est, v_start, v_early):
    """Location and earliest departure just before position ``i`` of route ``v`` (the start
    depot at the shift start when ``i == 0``)."""
    if i == 0:
        return v_start[v], v_early[v]
    p = routes[v, i - 1]
    return cl_loc[p], est[v, i - 1] + svc[p]


@_jit
def _at(v, i, routes, rlen, cl_loc, v_end):
    """Location of position ``i`` of route ``v``; the end depot past the last visit."""
    return v_end[v] if i == rlen[v] else cl_loc[routes[v, i]]


@_jit
def _rest_on_time(t, v, i, routes, rlen, ready, lst, v_late):
    """Whether reaching position ``i`` of route ``v`` at time ``t`` keeps the rest of the
    route (from ``i`` on, or just the return when ``i`` is past the end) on time."""
    if i == rlen[v]:
        return t <= v_late[v] + 1e-9
    c = routes[v, i]
    if t < ready[c]:
        t = ready[c]
    return t <= lst[v, i] + 1e-9


@_jit
def _blink_gap(blink):
    """Places to try before the next blink (skipped place): geometric, the same law as one
    draw per place, for a fraction of the random draws."""
    if blink <= 0:
        return 1 << 62
    return int(np.log(1.0 - np.random.random()) / np.log(1.0 - blink))


@_jit
def _first_place(c, v, rlen, lst, ready, svc):
    """The first place of route ``v`` where client ``c`` could be on time for the rest of
    the route, by bisection: place i (before the visit at i) is late if even leaving ``c``
    at its opening plus service misses ``lst[v, i]``, the comparison :func:`_rest_on_time`
    makes. ``lst`` never decreases along a route when times are non-negative."""
    lo = 0
    hi = rlen[v]
    while lo < hi:
        mid = (lo + hi) >> 1
        if lst[v, mid] + 1e-9 < ready[c] + svc[c]:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit
def _best_insertion(c, routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due, svc,
                    demand, cap, allowed, v_start, v_end, v_early, v_late, v_maxdur,
                    v_maxdist, v_fixed, v_cpd, v_class, tt, dd, blink, open_new, seen_empty,
                    seek=True):
    """Cheapest feasible position of client ``c``: (vehicle, index, added cost), or
    (-1, -1, inf). The added cost includes the fixed cost of an empty vehicle.

    Empty vehicles are tried only if ``open_new``, and one per vehicle class (they are
    interchangeable). With ``seek`` each route's scan starts, by bisection, at the first
    place whose next visit can still start after ``c`` is served: latest starts ``lst``
    never decrease along a route when travel and service times are non-negative (which
    :class:`RoutingProblem` enforces), so every earlier place is late for the rest of the
    route. The places skipped are exactly those the full scan would reject.
    """
    n_veh = rlen.shape[0]
    n_dims = demand.shape[1]
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
            if not open_new or seen_empty[v_class[v]]:
                continue
            seen_empty[v_class[v]] = True
        fits = True
        for k in range(n_dims):
            if load[v, k] + demand[c, k] > cap[v, k]:
                fits = False
        if not fits:
            continue
        extra = v_fixed[v] if n == 0 else 0.0
        first = _first_place(c, v, rlen, lst, ready, svc) if seek else 0
        skip = _blink_gap(blink)
        for i in range(first, n + 1):
            pl, dep = _before(v, i, routes, cl_loc, svc, est, v_start, v_early)
            if dep > due[c] + 1e-9:
                break  # departures only get later along the route: no later place is on time
            if skip == 0:
                skip = _blink_gap(blink)
                continue
            skip -= 1
            sl = _at(v, i, routes, rlen, cl_loc, v_end)
            delta = v_cpd[v] * (dd[pl, lc] + dd[lc, sl] - dd[pl, sl]) + extra
            if delta >= best:
                continue
            a = dep + tt[pl, lc]
            if a < ready[c]:
                a = ready[c]
            if a > due[c] + 1e-9:
                continue
            if not _rest_on_time(a + svc[c] + tt[lc, sl], v, i, routes, rlen, ready, lst,
                                 v_late):
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
    return best_v, best_i, best


@_jit
def _recreate(removed, n_removed, routes, rlen, where, est, lst, load, rdist, cl_loc, ready,
              due, svc, demand, cap, allowed, v_start, v_end, v_early, v_late, v_maxdur,
              v_maxdist, v_fixed, v_cpd, v_class, tt, dd, blink, room=np.inf, true_room=np.inf,
              v_fixed_true=None, seek=True, incremental=True):
    """Insert ``removed[:n_removed]`` one by one at their cheapest feasible position.

    Returns False as soon as one client fits nowhere (the caller then drops the attempt),
    or, early rejection, as soon as the insertions cost ``room`` or more (priced with
    ``v_fixed``) and ``true_room`` or more (priced with ``v_fixed_true``). The caller
    passes finite rooms only when no insertion can cost less than nothing (metric
    distances), so the attempt could then neither be accepted nor beat the best plan.
    """
    seen_empty = np.zeros(rlen.shape[0], dtype=np.bool_)
    spent = 0.0
    true_spent = 0.0
    for r in range(n_removed):
        c = removed[r]
        best_v, best_i, delta = _best_insertion(
            c, routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
            cap, allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed,
            v_cpd, v_class, tt, dd, blink, True, seen_empty, seek)
        if best_v < 0:
            return False
        spent += delta
        true_spent += delta
        if v_fixed_true is not None and rlen[best_v] == 0:
            true_spent += v_fixed_true[best_v] - v_fixed[best_v]
        if spent >= room and true_spent >= true_room:
            return False
        _place(best_v, best_i, c, routes, rlen, where, est, lst, load, rdist, cl_loc, ready,
               due, svc, demand, v_start, v_end, v_early, v_late, tt, dd, incremental)
    return True


@_jit
def _recreate_partial(removed, n_removed, max_routes, pending, routes, rlen, where, est, lst,
                      load, rdist, cl_loc, ready, due, svc, demand, cap, allowed, v_start,
                      v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed, v_cpd, v_class, tt,
                      dd, blink):
    """Insert what fits using at most ``max_routes`` routes; the rest go to ``pending``.

    Returns how many clients were left out (the fleet-minimisation recreate step).
    """
    seen_empty = np.zeros(rlen.shape[0], dtype=np.bool_)
    used = 0
    for v in range(rlen.shape[0]):
        if rlen[v] > 0:
            used += 1
    n_pending = 0
    for r in range(n_removed):
        c = removed[r]
        best_v, best_i, _ = _best_insertion(
            c, routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
            cap, allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed,
            v_cpd, v_class, tt, dd, blink, used < max_routes, seen_empty)
        if best_v < 0:
            pending[n_pending] = c
            n_pending += 1
            continue
        if rlen[best_v] == 0:
            used += 1
        _place(best_v, best_i, c, routes, rlen, where, est, lst, load, rdist, cl_loc, ready,
               due, svc, demand, v_start, v_end, v_early, v_late, tt, dd, True)
    return n_pending


@_jit
def _sort_removed(removed, n_removed, cl_loc, demand, v_start, dd, ready, due):
    """SISR's recreate orders: random (4), demand (4), far from depot (2), close (1), and,
    for time windows, narrowest window first (1), earliest opening (1), latest closing (1)
    (the windowed orders of the open-source SISR for VRPTW; with equal windows they stay
    random)."""
    for i in range(n_removed - 1, 0, -1):
        j = np.random.randint(0, i + 1)
        removed[i], removed[j] = removed[j], removed[i]
    u = np.random.randint(0, 14)
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
        elif u < 11:
            key[i] = dd[depot, cl_loc[c]]
        elif u < 12:
            key[i] = due[c] - ready[c]
        elif u < 13:
            key[i] = ready[c]
        else:
            key[i] = -due[c]
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
def _caches(routes, rlen, cl_loc, ready, due, svc, demand, v_start, v_end, v_early, v_late,
            tt, dd):
    """Schedule caches (est, lst, load, rdist) and client positions ``where`` of a plan."""
    n_veh, width = routes.shape
    est = np.zeros((n_veh, width))
    lst = np.zeros((n_veh, width))
    load = np.zeros((n_veh, demand.shape[1]), dtype=np.int64)
    rdist = np.zeros(n_veh)
    where = -np.ones((cl_loc.shape[0], 2), dtype=np.int64)
    for v in range(n_veh):
        _refresh(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
                 v_start, v_end, v_early, v_late, tt, dd)
        for i in range(rlen[v]):
            where[routes[v, i], 0] = v
            where[routes[v, i], 1] = i
    return est, lst, load, rdist, where


@_jit
def _clone_state(routes, rlen, est, lst, load, rdist, where):
    """A working copy of a solution and its caches."""
    return (routes.copy(), rlen.copy(), est.copy(), lst.copy(), load.copy(), rdist.copy(),
            where.copy())


@_jit
def _copy_state(routes, rlen, est, lst, load, rdist, where, to_routes, to_rlen, to_est, to_lst,
                to_load, to_rdist, to_where):
    """Copy a solution and its caches into another set of arrays (working copy / accept)."""
    to_routes[:] = routes
    to_rlen[:] = rlen
    to_est[:] = est
    to_lst[:] = lst
    to_load[:] = load
    to_rdist[:] = rdist
    to_where[:] = where


# --- Local search: polishing new best plans ------------------------------------------------
# Ruin and recreate moves strings between routes; once every route is full (tight fleets,
# long type-2 routes) a plan can still gain from exchanging route tails (2-opt*), moving a
# single visit, or two neighbouring visits trading routes, moves a random string removal
# seldom hits. All passes are first-improvement; a move is screened with the est/lst caches
# and prefix sums, then verified on the rebuilt routes and undone if a check fails.


@_jit
def _prefixes(routes, rlen, cl_loc, demand, v_start, dd, pdist, pload):
    """``pdist[v, i]``: distance from the start over the first ``i`` visits of route ``v``;
    ``pload[v, i]``: their summed demand."""
    for v in range(rlen.shape[0]):
        loc = v_start[v]
        pdist[v, 0] = 0.0
        pload[v, 0, :] = 0
        for i in range(rlen[v]):
            c = routes[v, i]
            pdist[v, i + 1] = pdist[v, i] + dd[loc, cl_loc[c]]
            loc = cl_loc[c]
            for k in range(demand.shape[1]):
                pload[v, i + 1, k] = pload[v, i, k] + demand[c, k]


@_jit
def _tail_allowed(routes, v, j, n, to, allowed):
    """Whether vehicle ``to`` may serve every visit of ``v`` from position ``j`` on."""
    for x in range(j, n):  # noqa: SIM110 - numba compiles no generator expressions
        if not allowed[to, routes[v, x]]:
            return False
    return True


@_jit
def _swap_tails(u, i, v, j, routes, rlen, where, buf):
    """Route u becomes u[:i] + v[j:], route v becomes v[:j] + u[i:]."""
    n_u = rlen[u]
    n_v = rlen[v]
    m = 0
    for x in range(i, n_u):
        buf[m] = routes[u, x]
        m += 1
    for x in range(j, n_v):
        c = routes[v, x]
        routes[u, i + x - j] = c
        where[c, 0] = u
        where[c, 1] = i + x - j
    rlen[u] = i + n_v - j
    for x in range(m):
        c = buf[x]
        routes[v, j + x] = c
        where[c, 0] = v
        where[c, 1] = j + x
    rlen[v] = j + m


@_jit
def _route_ok(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc, demand, cap,
              v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, tt, dd):
    """Refresh route ``v``'s caches and check every constraint on it."""
    ok = _refresh(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
                  v_start, v_end, v_early, v_late, tt, dd)
    for k in range(demand.shape[1]):
        if load[v, k] > cap[v, k]:
            ok = False
    if rdist[v] > v_maxdist[v] + 1e-9:
        ok = False
    if ok and not _duration_ok(v, routes, rlen, cl_loc, ready, due, svc, v_start, v_end,
                               v_early, v_late, v_maxdur, tt):
        ok = False
    return ok


@_jit
def _two_opt_star(routes, rlen, where, est, lst, load, rdist, pdist, pload, buf, cl_loc, ready,
                  due, svc, demand, cap, allowed, v_start, v_end, v_early, v_late, v_maxdur,
                  v_maxdist, v_fixed, v_cpd, tt, dd):
    """Apply improving tail exchanges between two routes until none is left; returns the
    number applied. Assumes every vehicle shares the start, the end and the shift window
    (the caller checks), so a tail's latest start ``lst`` holds on either vehicle."""
    n_veh = rlen.shape[0]
    n_dims = demand.shape[1]
    moves = 0
    improved = True
    while improved:
        improved = False
        _prefixes(routes, rlen, cl_loc, demand, v_start, dd, pdist, pload)
        # Found per pass: a tail moved into an empty vehicle makes it a used one.
        first_empty = -1
        for v in range(n_veh - 1, -1, -1):
            if rlen[v] == 0:
                first_empty = v
        for u in range(n_veh):
            if improved:
                break
            n_u = rlen[u]
            if n_u == 0:
                continue
            old_u = _route_cost(u, rlen, rdist, v_fixed, v_cpd)
            for v in range(n_veh):
                if improved:
                    break
                n_v = rlen[v]
                # Each pair once; of the empty vehicles (interchangeable) only the first.
                if v == u or (n_v > 0 and v < u) or (n_v == 0 and v != first_empty):
                    continue
                old = old_u + _route_cost(v, rlen, rdist, v_fixed, v_cpd)
                for i in range(n_u + 1):
                    if improved:
                        break
                    a_u, dep_u = _before(u, i, routes, cl_loc, svc, est, v_start, v_early)
                    b_u = _at(u, i, routes, rlen, cl_loc, v_end)
                    suf_u = rdist[u] - pdist[u, i] - dd[a_u, b_u]
                    for j in range(n_v + 1):
                        if (i == 0 and j == 0) or (i == n_u and j == n_v):
                            continue
                        a_v, dep_v = _before(v, j, routes, cl_loc, svc, est, v_start, v_early)
                        b_v = _at(v, j, routes, rlen, cl_loc, v_end)
                        suf_v = 0.0 if n_v == 0 else rdist[v] - pdist[v, j] - dd[a_v, b_v]
                        len_u = i + n_v - j
                        len_v = j + n_u - i
                        new = 0.0
                        if len_u > 0:
                            new += v_fixed[u] + v_cpd[u] * (pdist[u, i] + dd[a_u, b_v] + suf_v)
                        if len_v > 0:
                            new += v_fixed[v] + v_cpd[v] * (pdist[v, j] + dd[a_v, b_u] + suf_u)
                        if new >= old - 1e-7:
                            continue
                        # Times: u's prefix then v's tail, and v's prefix then u's tail
                        # (shared shift windows: either vehicle's return deadline holds).
                        if not (_rest_on_time(dep_u + tt[a_u, b_v], v, j, routes, rlen, ready,
                                              lst, v_late)
                                and _rest_on_time(dep_v + tt[a_v, b_u], u, i, routes, rlen,
                                                  ready, lst, v_late)):
                            continue
                        fits = True
                        for k in range(n_dims):
                            if (pload[u, i, k] + load[v, k] - pload[v, j, k] > cap[u, k]
                                    or pload[v, j, k] + load[u, k] - pload[u, i, k]
                                    > cap[v, k]):
                                fits = False
                        if not fits:
                            continue
                        if not (_tail_allowed(routes, v, j, n_v, u, allowed)
                                and _tail_allowed(routes, u, i, n_u, v, allowed)):
                            continue
                        _swap_tails(u, i, v, j, routes, rlen, where, buf)
                        ok_u = _route_ok(u, routes, rlen, est, lst, load, rdist, cl_loc, ready,
                                         due, svc, demand, cap, v_start, v_end, v_early,
                                         v_late, v_maxdur, v_maxdist, tt, dd)
                        ok_v = _route_ok(v, routes, rlen, est, lst, load, rdist, cl_loc, ready,
                                         due, svc, demand, cap, v_start, v_end, v_early,
                                         v_late, v_maxdur, v_maxdist, tt, dd)
                        if ok_u and ok_v:
                            moves += 1
                            improved = True
                            break
                        # Undo: the tails go back where they came from.
                        _swap_tails(u, i, v, j, routes, rlen, where, buf)
                        _refresh(u, routes, rlen, est, lst, load, rdist, cl_loc, ready, due,
                                 svc, demand, v_start, v_end, v_early, v_late, tt, dd)
                        _refresh(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due,
                                 svc, demand, v_start, v_end, v_early, v_late, tt, dd)
    return moves


@_jit
def _relocate(order, routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
              cap, allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed, v_cpd,
              v_class, tt, dd):
    """Move each client of ``order`` to its cheapest feasible position if that saves cost;
    returns the number of moves."""
    seen_empty = np.zeros(rlen.shape[0], dtype=np.bool_)
    moves = 0
    for c in order:
        v = where[c, 0]
        i = where[c, 1]
        p = _before(v, i, routes, cl_loc, svc, est, v_start, v_early)[0]
        s = _at(v, i + 1, routes, rlen, cl_loc, v_end)
        lc = cl_loc[c]
        gain = v_cpd[v] * (dd[p, lc] + dd[lc, s] - dd[p, s])
        if rlen[v] == 1:
            gain += v_fixed[v]
        if gain <= 1e-7:
            continue
        _remove_at(v, i, routes, rlen, where)
        if not _route_ok(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
                         cap, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, tt, dd):
            _insert_at(v, i, c, routes, rlen, where)
            _refresh(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
                     v_start, v_end, v_early, v_late, tt, dd)
            continue
        # The insertion cost of a new route includes its fixed cost, like the gain above.
        best_v, best_i, cost = _best_insertion(
            c, routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
            cap, allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed, v_cpd,
            v_class, tt, dd, 0.0, True, seen_empty)
        if best_v >= 0 and cost < gain - 1e-7:
            _insert_at(best_v, best_i, c, routes, rlen, where)
            _refresh(best_v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc,
                     demand, v_start, v_end, v_early, v_late, tt, dd)
            moves += 1
        else:
            _insert_at(v, i, c, routes, rlen, where)
            _refresh(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
                     v_start, v_end, v_early, v_late, tt, dd)
    return moves


@_jit
def _best_swap_slot(a, b, v, j, routes, rlen, est, lst, load, cl_loc, ready, due, svc, demand,
                    cap, v_start, v_end, v_early, v_late, v_cpd, tt, dd):
    """Cheapest slot for visit ``a`` (of another route) in route ``v`` once ``b``, at
    position ``j`` of ``v``, has left it: (slot, cost change of ``v``), slot -1 if none fits.

    Slot ``k`` means before today's position ``k`` of ``v``; ``k == j`` is ``b``'s own place.
    The time check is exact next to ``b``'s place and conservative elsewhere (times computed
    with ``b`` still on the route, which can only be later), so a slot it accepts is on time.
    """
    for k in range(demand.shape[1]):
        if load[v, k] - demand[b, k] + demand[a, k] > cap[v, k]:
            return -1, np.inf
    n = rlen[v]
    la = cl_loc[a]
    pb = _before(v, j, routes, cl_loc, svc, est, v_start, v_early)[0]
    sb = _at(v, j + 1, routes, rlen, cl_loc, v_end)
    lb = cl_loc[b]
    gain_b = dd[pb, lb] + dd[lb, sb] - dd[pb, sb]
    best = np.inf
    best_k = -1
    for k in range(n + 1):
        if k == j + 1:
            continue  # the same place as k == j once b has gone
        pl, dep = _before(v, k, routes, cl_loc, svc, est, v_start, v_early)
        nxt = j + 1 if k == j else k
        sl = _at(v, nxt, routes, rlen, cl_loc, v_end)
        # At b's own place (k == j) pl, sl are b's neighbours, so the same formula holds.
        delta = v_cpd[v] * (dd[pl, la] + dd[la, sl] - dd[pl, sl] - gain_b)
        if delta >= best:
            continue
        t = max(dep + tt[pl, la], ready[a])
        if t > due[a] + 1e-9 or not _rest_on_time(t + svc[a] + tt[la, sl], v, nxt, routes,
                                                   rlen, ready, lst, v_late):
            continue
        best = delta
        best_k = k
    return best_k, best


@_jit
def _exchange(order, adj, routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due, svc,
              demand, cap, allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, v_cpd,
              tt, dd, buf_u, buf_v):
    """Swap a visit with one of its nearest neighbours on another route when that saves
    cost, each going to its cheapest place in the other route (SWAP*, restricted to pairs of
    neighbours); returns the number of swaps. Full routes (capacity, shift) can still trade
    visits this way, which neither relocate nor a tail exchange can."""
    near = min(adj.shape[1], _EXCHANGE_NEIGHBOURS)
    moves = 0
    for a in order:
        for q in range(1, near):
            b = adj[a, q]
            u = where[a, 0]
            i = where[a, 1]
            v = where[b, 0]
            j = where[b, 1]
            if u < 0 or v < 0 or u == v or not (allowed[v, a] and allowed[u, b]):
                continue
            ka, da = _best_swap_slot(a, b, v, j, routes, rlen, est, lst, load, cl_loc, ready,
                                     due, svc, demand, cap, v_start, v_end, v_early, v_late,
                                     v_cpd, tt, dd)
            if ka < 0:
                continue
            kb, db = _best_swap_slot(b, a, u, i, routes, rlen, est, lst, load, cl_loc, ready,
                                     due, svc, demand, cap, v_start, v_end, v_early, v_late,
                                     v_cpd, tt, dd)
            if kb < 0 or da + db >= -1e-7:
                continue
            n_u = rlen[u]
            n_v = rlen[v]
            buf_u[:n_u] = routes[u, :n_u]
            buf_v[:n_v] = routes[v, :n_v]
            _remove_at(u, i, routes, rlen, where)
            _remove_at(v, j, routes, rlen, where)
            _insert_at(v, ka if ka <= j else ka - 1, a, routes, rlen, where)
            _insert_at(u, kb if kb <= i else kb - 1, b, routes, rlen, where)
            ok_u = _route_ok(u, routes, rlen, est, lst, load, rdist, cl_loc, ready, due,
                             svc, demand, cap, v_start, v_end, v_early, v_late, v_maxdur,
                             v_maxdist, tt, dd)
            ok_v = _route_ok(v, routes, rlen, est, lst, load, rdist, cl_loc, ready, due,
                             svc, demand, cap, v_start, v_end, v_early, v_late, v_maxdur,
                             v_maxdist, tt, dd)
            if ok_u and ok_v:
                moves += 1
                break
            for w, buf, m in ((u, buf_u, n_u), (v, buf_v, n_v)):
                rlen[w] = m
                for x in range(m):
                    routes[w, x] = buf[x]
                    where[buf[x], 0] = w
                    where[buf[x], 1] = x
                _refresh(w, routes, rlen, est, lst, load, rdist, cl_loc, ready, due, svc,
                         demand, v_start, v_end, v_early, v_late, tt, dd)
    return moves


@_jit
def _polish(routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due, svc, demand, cap,
            allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed, v_cpd,
            v_class, tt, dd, adj, tails):
    """Relocate, exchange and (if ``tails``) 2-opt* passes until none improves; returns the
    moves."""
    n_veh, width = routes.shape
    pdist = np.zeros((n_veh, width + 1))
    pload = np.zeros((n_veh, width + 1, demand.shape[1]), dtype=np.int64)
    buf = np.zeros(width, dtype=np.int64)
    buf_v = np.zeros(width, dtype=np.int64)
    order = np.arange(cl_loc.shape[0])
    total = 0
    for _ in range(100):
        moves = 0
        if tails:
            moves += _two_opt_star(routes, rlen, where, est, lst, load, rdist, pdist, pload, buf,
                                   cl_loc, ready, due, svc, demand, cap, allowed, v_start,
                                   v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed, v_cpd,
                                   tt, dd)
        np.random.shuffle(order)
        moves += _relocate(order, routes, rlen, where, est, lst, load, rdist, cl_loc, ready,
                           due, svc, demand, cap, allowed, v_start, v_end, v_early, v_late,
                           v_maxdur, v_maxdist, v_fixed, v_cpd, v_class, tt, dd)
        np.random.shuffle(order)
        moves += _exchange(order, adj, routes, rlen, where, est, lst, load, rdist, cl_loc, ready,
                           due, svc, demand, cap, allowed, v_start, v_end, v_early, v_late,
                           v_maxdur, v_maxdist, v_cpd, tt, dd, buf, buf_v)
        total += moves
        if moves == 0:
            break
    return total


@_jit
def _sisr_chunk(iters, temp0, temp1, seed, cur_routes, cur_rlen, best_routes, best_rlen,
                cl_loc, ready, due, svc, demand, cap, allowed, v_start, v_end, v_early, v_late,
                v_maxdur, v_maxdist, v_fixed, v_cpd, v_class, tt, dd, adj, c_bar, l_max, blink,
                bypass, route_removal, v_fixed_acc, tails, metric, seek, incremental):
    """Run ``iters`` ruin-and-recreate iterations with simulated-annealing acceptance.

    Acceptance (and insertion) prices a used vehicle at ``v_fixed_acc``, the best plan at
    the true ``v_fixed``: a lower acceptance price lets the search pass through plans with
    an extra route on its way between plans with the fewest (see ``Sisr.run``). A new best
    plan is polished by local search (:func:`_polish`, 2-opt* too if ``tails``) first.
    The current and best solutions are updated in place; returns (current, best) costs.
    """
    np.random.seed(seed)
    n_veh = cur_routes.shape[0]
    n_clients = cl_loc.shape[0]
    est, lst, load, rdist, where = _caches(cur_routes, cur_rlen, cl_loc, ready, due, svc,
                                           demand, v_start, v_end, v_early, v_late, tt, dd)
    cur_cost = _total_cost(cur_rlen, rdist, v_fixed_acc, v_cpd)
    b_rdist = _caches(best_routes, best_rlen, cl_loc, ready, due, svc, demand, v_start, v_end,
                      v_early, v_late, tt, dd)[3]
    best_cost = _total_cost(best_rlen, b_rdist, v_fixed, v_cpd)

    w_routes, w_rlen, w_est, w_lst, w_load, w_rdist, w_where = _clone_state(
        cur_routes, cur_rlen, est, lst, load, rdist, where)
    removed = np.zeros(n_clients, dtype=np.int64)
    dirty = np.zeros(n_veh, dtype=np.int64)
    for it in range(iters):
        frac = it / max(1, iters)
        temp = temp0 * (temp1 / temp0) ** frac if temp0 > 0 else 0.0
        # Here the working copy equals the current solution; only the routes an iteration
        # changes are copied back and forth (whole-array copies dominated on big fleets).
        if route_removal > 0 and np.random.random() < route_removal:
            k = _ruin_route(w_routes, w_rlen, w_where, removed)
        else:
            k = _ruin(w_routes, w_rlen, w_where, adj, removed, c_bar, l_max, bypass)
        for v in range(n_veh):
            if w_rlen[v] != cur_rlen[v]:
                _refresh(v, w_routes, w_rlen, w_est, w_lst, w_load, w_rdist, cl_loc, ready,
                         due, svc, demand, v_start, v_end, v_early, v_late, tt, dd)
        _sort_removed(removed, k, cl_loc, demand, v_start, dd, ready, due)
        # The acceptance threshold is drawn before the recreate, so that with ``metric``
        # distances (no insertion costs less than nothing) an attempt that has already
        # cost more than both the threshold and the way to a new best can stop early.
        threshold = cur_cost
        if temp > 0:
            threshold = cur_cost - temp * np.log(np.random.random())
        room = np.inf
        true_room = np.inf
        if metric:
            room = threshold - _total_cost(w_rlen, w_rdist, v_fixed_acc, v_cpd)
            true_room = best_cost - _total_cost(w_rlen, w_rdist, v_fixed, v_cpd)
        ok = _recreate(removed, k, w_routes, w_rlen, w_where, w_est, w_lst, w_load, w_rdist,
                       cl_loc, ready, due, svc, demand, cap, allowed, v_start, v_end, v_early,
                       v_late, v_maxdur, v_maxdist, v_fixed_acc, v_cpd, v_class, tt, dd, blink,
                       room, true_room, v_fixed, seek, incremental)
        accept = False
        if ok:
            true_cost = _total_cost(w_rlen, w_rdist, v_fixed, v_cpd)
            # Only new best plans are polished: polishing every plan within 1-5 temperatures
            # of the best did worse on GH 200 R2/RC1/RC2 (bench/README.md).
            new_best = true_cost < best_cost - 1e-9
            if new_best and _polish(w_routes, w_rlen, w_where, w_est, w_lst, w_load, w_rdist,
                                    cl_loc, ready, due, svc, demand, cap, allowed, v_start,
                                    v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed,
                                    v_cpd, v_class, tt, dd, adj, tails) > 0:
                true_cost = _total_cost(w_rlen, w_rdist, v_fixed, v_cpd)
            if true_cost < best_cost - 1e-9:
                best_routes[:] = w_routes
                best_rlen[:] = w_rlen
                best_cost = true_cost
            new_cost = _total_cost(w_rlen, w_rdist, v_fixed_acc, v_cpd)
            accept = new_cost < threshold
        n_dirty = _changed_routes(w_routes, w_rlen, cur_routes, cur_rlen, dirty)
        if accept:
            _copy_routes(dirty, n_dirty, w_routes, w_rlen, w_est, w_lst, w_load, w_rdist,
                         cur_routes, cur_rlen, est, lst, load, rdist, where)
            cur_cost = new_cost
        else:
            _copy_routes(dirty, n_dirty, cur_routes, cur_rlen, est, lst, load, rdist,
                         w_routes, w_rlen, w_est, w_lst, w_load, w_rdist, w_where)
    return cur_cost, best_cost


@_jit
def _changed_routes(routes, rlen, ref_routes, ref_rlen, out):
    """Write the vehicles whose route differs from the reference into ``out``; count them."""
    n = 0
    for v in range(rlen.shape[0]):
        changed = rlen[v] != ref_rlen[v]
        if not changed:
            for i in range(rlen[v]):
                if routes[v, i] != ref_routes[v, i]:
                    changed = True
                    break
        if changed:
            out[n] = v
            n += 1
    return n


@_jit
def _copy_routes(vehicles, n, routes, rlen, est, lst, load, rdist, to_routes, to_rlen, to_est,
                 to_lst, to_load, to_rdist, to_where):
    """Copy routes ``vehicles[:n]`` and their caches; client positions follow."""
    for j in range(n):
        v = vehicles[j]
        m = rlen[v]
        to_rlen[v] = m
        for i in range(m):
            c = routes[v, i]
            to_routes[v, i] = c
            to_est[v, i] = est[v, i]
            to_lst[v, i] = lst[v, i]
            to_where[c, 0] = v
            to_where[c, 1] = i
        for k in range(load.shape[1]):
            to_load[v, k] = load[v, k]
        to_rdist[v] = rdist[v]


@_jit
def _used_routes(rlen):
    used = 0
    for v in range(rlen.shape[0]):
        if rlen[v] > 0:
            used += 1
    return used


@_jit
def _fleet_chunk(iters, seed, cur_routes, cur_rlen, pend, n_pend, max_routes, absence,
                 best_routes, best_rlen, min_routes, cl_loc, ready, due, svc, demand, cap,
                 allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed, v_cpd,
                 v_class, tt, dd, adj, c_bar, l_max, blink, bypass):
    """Fleet minimisation of the SISR paper: drive the route count down.

    The current solution uses at most ``max_routes`` routes and leaves ``pend[:n_pend]``
    clients out. Each iteration ruins strings, re-inserts them and the left-out clients
    without opening routes beyond ``max_routes``, and accepts the result if fewer clients
    are left out, or if their summed *absence* (how often each client has been left out so
    far) is smaller: clients that are hard to place get priority over time. When nothing is
    left out the solution is the new best, and its shortest route is emptied into the
    pending list to aim one route lower. Stops at ``min_routes``.

    Returns (n_pend, max_routes) so the caller can continue with the next chunk.
    """
    np.random.seed(seed)
    n_veh = cur_routes.shape[0]
    n_clients = cl_loc.shape[0]
    est, lst, load, rdist, where = _caches(cur_routes, cur_rlen, cl_loc, ready, due, svc,
                                           demand, v_start, v_end, v_early, v_late, tt, dd)
    w_routes, w_rlen, w_est, w_lst, w_load, w_rdist, w_where = _clone_state(
        cur_routes, cur_rlen, est, lst, load, rdist, where)
    w_pend = np.zeros(n_clients, dtype=np.int64)
    removed = np.zeros(n_clients, dtype=np.int64)
    for _ in range(iters):
        if n_pend == 0:
            best_routes[:] = cur_routes
            best_rlen[:] = cur_rlen
            used = _used_routes(cur_rlen)
            if used <= min_routes:
                break
            # Empty the route with the fewest clients (ties broken at random).
            pick = -1
            off = np.random.randint(0, n_veh)
            for j in range(n_veh):
                v = (j + off) % n_veh
                if cur_rlen[v] > 0 and (pick < 0 or cur_rlen[v] < cur_rlen[pick]):
                    pick = v
            while cur_rlen[pick] > 0:
                pend[n_pend] = _remove_at(pick, cur_rlen[pick] - 1, cur_routes, cur_rlen,
                                          where)
                n_pend += 1
            _refresh(pick, cur_routes, cur_rlen, est, lst, load, rdist, cl_loc, ready, due,
                     svc, demand, v_start, v_end, v_early, v_late, tt, dd)
            max_routes = used - 1
        _copy_state(cur_routes, cur_rlen, est, lst, load, rdist, where, w_routes, w_rlen, w_est,
                    w_lst, w_load, w_rdist, w_where)
        k = _ruin(w_routes, w_rlen, w_where, adj, removed, c_bar, l_max, bypass)
        for v in range(n_veh):
            if w_rlen[v] != cur_rlen[v]:
                _refresh(v, w_routes, w_rlen, w_est, w_lst, w_load, w_rdist, cl_loc, ready,
                         due, svc, demand, v_start, v_end, v_early, v_late, tt, dd)
        for j in range(n_pend):
            removed[k + j] = pend[j]
        k += n_pend
        _sort_removed(removed, k, cl_loc, demand, v_start, dd, ready, due)
        w_n = _recreate_partial(removed, k, max_routes, w_pend, w_routes, w_rlen, w_where,
                                w_est, w_lst, w_load, w_rdist, cl_loc, ready, due, svc,
                                demand, cap, allowed, v_start, v_end, v_early, v_late,
                                v_maxdur, v_maxdist, v_fixed, v_cpd, v_class, tt, dd, blink)
        s_new = 0
        for j in range(w_n):
            s_new += absence[w_pend[j]]
        s_cur = 0
        for j in range(n_pend):
            s_cur += absence[pend[j]]
        if w_n < n_pend or s_new < s_cur:
            _copy_state(w_routes, w_rlen, w_est, w_lst, w_load, w_rdist, w_where, cur_routes,
                        cur_rlen, est, lst, load, rdist, where)
            pend[:w_n] = w_pend[:w_n]
            n_pend = w_n
        for j in range(w_n):
            absence[w_pend[j]] += 1
    if n_pend == 0:
        best_routes[:] = cur_routes
        best_rlen[:] = cur_rlen
    return n_pend, max_routes


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


@_jit
def _repair(removed, n_removed, seed, max_routes, pending, routes, rlen, cl_loc, ready, due,
            svc, demand, cap, allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist,
            v_fixed, v_cpd, v_class, tt, dd, adj, tails, blink, polish):
    """Insert ``removed[:n_removed]`` into a partial plan (a crossover child) in one of
    SISR's recreate orders, using at most ``max_routes`` routes (what does not fit goes to
    ``pending``), and polish it if ``polish``; returns (clients pending, cost)."""
    np.random.seed(seed)
    est, lst, load, rdist, where = _caches(routes, rlen, cl_loc, ready, due, svc, demand,
                                           v_start, v_end, v_early, v_late, tt, dd)
    _sort_removed(removed, n_removed, cl_loc, demand, v_start, dd, ready, due)
    n_pending = _recreate_partial(removed, n_removed, max_routes, pending, routes, rlen, where,
                                  est, lst, load, rdist, cl_loc, ready, due, svc, demand, cap,
                                  allowed, v_start, v_end, v_early, v_late, v_maxdur,
                                  v_maxdist, v_fixed, v_cpd, v_class, tt, dd, blink)
    if polish and n_pending == 0:
        _polish(routes, rlen, where, est, lst, load, rdist, cl_loc, ready, due, svc, demand,
                cap, allowed, v_start, v_end, v_early, v_late, v_maxdur, v_maxdist, v_fixed,
                v_cpd, v_class, tt, dd, adj, tails)
    return n_pending, _total_cost(rlen, rdist, v_fixed, v_cpd)


def _mean_route_length(plan: Sequence[Sequence[int]]) -> float:
    """Mean number of visits of the used routes of ``plan`` (0 if none is used)."""
    used = [len(r) for r in plan if r]
    return sum(used) / max(1, len(used))


def _string_lengths(plan: Sequence[Sequence[int]]) -> tuple[float, float]:
    """SISR's mean removal count and longest string for ``plan``: long routes (Solomon
    type 2: 20-35 visits) need longer strings than the defaults, tuned for short routes."""
    avg_len = _mean_route_length(plan)
    return (max(_SISR_CBAR, _SISR_LEN_SHARE * avg_len),
            max(_SISR_LMAX, _SISR_LEN_SHARE * avg_len))


_METRIC_CHECK_MAX = 1000  # locations; the exact check is cubic (about 0.5 s at this size)


def _is_metric(dd: np.ndarray, locations: np.ndarray) -> bool:
    """Whether distances between ``locations`` are finite, non-negative and obey the
    triangle inequality, so that inserting a visit never shortens a route.

    Exact (all-pairs shortest paths equal the direct distances, up to rounding) up to
    ``_METRIC_CHECK_MAX`` locations; larger problems are treated as not metric, which
    only switches early rejection off.
    """
    if locations.size > _METRIC_CHECK_MAX:
        return False
    sub = dd[np.ix_(locations, locations)]
    if not np.all(np.isfinite(sub)) or np.any(sub < 0):
        return False
    # Zero distances (shared locations) are edges too, so build the graph explicitly.
    graph = csgraph_from_dense(sub, null_value=np.inf)
    shortest = shortest_path(graph, method="FW", directed=True)
    tol = 1e-9 * max(1.0, float(sub.max(initial=0.0)))
    return bool(np.all(shortest >= sub - tol))


class Sisr:
    """Python side of the SISR improver: arrays, time slicing, temperatures, progress."""

    def __init__(self, problem: RoutingProblem, seed: int, chains: int = 1,
                 exchange: Exchange | None = None, rank: int = 0):
        """``chains``: how many chains the solve runs (see ``_FLEET_EPOCHS``); ``exchange``:
        where they meet to cross their plans, ``rank`` this chain's place there."""
        p = self.problem = problem
        self.seed = seed
        self.rank = rank
        self._round = 0  # the next meeting at the exchange
        self.iterations = self.fleet_iterations = 0  # counters for benchmarks
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
        # 2-opt* screens a tail's feasibility on the other vehicle with that vehicle's own
        # caches, which holds when all vehicles share start, end and shift window.
        self.tails = bool(all(np.all(a == a[0]) for a in (self.v_start, self.v_end,
                                                          self.v_early, self.v_late)))
        # Early rejection (see _sisr_chunk) needs insertions that never cost less than nothing.
        self.metric = _is_metric(self.dd, np.unique(np.concatenate(
            (self.cl_loc, self.v_start, self.v_end)))) and bool(
            np.all(self.v_cpd >= 0) and np.all(self.v_fixed >= 0))
        # The cost phase's recreate starts insertion scans by bisection on the latest starts
        # (_best_insertion; RoutingProblem rejects negative times, so they never decrease
        # along a route) and updates a long route's caches from the insertion point
        # (_insert_refresh). Both are switched off only for bench/sisr_speed.py's baseline.
        self.seek = True
        self.incremental = True
        self.epochs = _FLEET_EPOCHS if chains == 1 else 1
        self.fleet_draws = _FLEET_DRAWS
        # With vehicle fixed costs, also try emptying whole routes now and then.
        self.route_removal = (_ROUTE_REMOVAL_FLEET if float(self.v_fixed.max()) > 0
                              else _ROUTE_REMOVAL)
        # Crossover moves routes between plans as they are, so every vehicle must be able
        # to drive any route; it relies on a route staying on time when visits leave it.
        uniform = self.tails and all(np.all(a == a[0]) for a in (
            self.cap, self.v_maxdur, self.v_maxdist, self.v_fixed, self.v_cpd)) and bool(
            self.allowed.all())
        self.exchange = exchange if uniform and self.metric else None

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

    def _travel(self, plan: Sequence[Sequence[int]]) -> float:
        """Travel cost of ``plan`` (fixed vehicle costs left out)."""
        return sum(r.cost - self.problem.vehicle(r.vehicle).fixed_cost
                   for r in evaluate(self.problem, plan).routes if r.stops)

    def fleet_first(self, plan: Sequence[Sequence[int]]) -> bool:
        """Whether the objective ranks fleet size first: every vehicle has the same fixed
        cost, and it is above the travel cost of an average route of ``plan``, so one route
        fewer pays for a lot of extra distance (the Solomon / Gehring-Homberger ranking)."""
        fixed = float(self.v_fixed[0]) if self.v_fixed.size else 0.0
        if fixed <= 0 or not np.all(self.v_fixed == fixed):
            return False
        result = evaluate(self.problem, plan)
        routes = [r for r in result.routes if r.stops]
        if not routes:
            return False
        travel = sum(r.cost - fixed for r in routes) / len(routes)
        return fixed > travel

    def min_routes(self) -> int:
        """A lower bound on the route count: total demand over the largest capacity."""
        total = self.demand.sum(axis=0).astype(float)
        biggest = self.cap.max(axis=0).astype(float)
        return max(1, int(np.max(np.ceil(total / np.maximum(biggest, 1.0)))))

    def minimise_fleet(self, plan: Sequence[Sequence[int]], deadline: float,
                       reporter: Callable[[str, float], None],
                       seed: int | None = None) -> list[list[int]]:
        """Use as few routes as possible until ``deadline``; returns the best complete plan.

        The fleet-minimisation phase of the SISR paper (see :func:`_fleet_chunk`): it keeps
        an incomplete solution with one route fewer than the best complete one and works
        the left-out clients back in, preferring those that were left out most often.
        """
        cur_r, cur_l = self._arrays(plan)
        best_r, best_l = cur_r.copy(), cur_l.copy()
        n = self.problem.n_clients
        pend = np.zeros(n, dtype=np.int64)
        absence = np.zeros(n, dtype=np.int64)
        n_pend, max_routes = 0, int(np.count_nonzero(cur_l))
        lower = self.min_routes()
        static = self._static()
        rng = np.random.default_rng((self.seed if seed is None else seed) + 1)
        c_bar, l_max = _string_lengths(plan)
        best_used = max_routes
        iters = 200
        while deadline - time.perf_counter() > 0.005 and best_used > lower:
            tic = time.perf_counter()
            n_pend, max_routes = _fleet_chunk(
                iters, int(rng.integers(2**31 - 1)), cur_r, cur_l, pend, n_pend, max_routes,
                absence, best_r, best_l, lower, *static, self.adj, c_bar, l_max, _SISR_BLINK,
                _BYPASS)
            took = time.perf_counter() - tic
            self.fleet_iterations += iters
            now_used = int(np.count_nonzero(best_l))
            if now_used < best_used:
                best_used = now_used
                reporter("fleet", evaluate(self.problem, self._plan(best_r, best_l)).cost())
            rate = iters / max(took, 1e-6)
            iters = int(max(20, min(rate * 0.1, rate * max(0.0, deadline - time.perf_counter())
                                    * 0.9)))
        return self._plan(best_r, best_l)

    def run(self, plan: Sequence[Sequence[int]], deadline: float,
            reporter: Callable[[str, float], None]) -> list[list[int]] | None:
        """Improve ``plan`` until ``deadline`` (``time.perf_counter()`` seconds).

        For vehicles-first objectives (:meth:`fleet_first`) :meth:`minimise_fleet` gets up to
        ``_FLEET_SHARE`` of the budget (less once it reaches the capacity bound), then the
        cost phase starts from its plan; if it reached the bound early, from
        ``self.fleet_draws`` such plans (see ``_FLEET_DRAWS``).
        """
        if not self.fleet_first(plan):
            return self._anneal(plan, deadline, reporter, self.v_fixed, fleet=False)
        start = time.perf_counter()
        budget = max(0.0, deadline - start)
        fewer = self.minimise_fleet(plan, start + _FLEET_SHARE * budget, reporter)
        took = time.perf_counter() - start
        plans = [fewer if evaluate(self.problem, fewer).cost() < evaluate(
            self.problem, plan).cost() else plan]
        used = sum(1 for r in plans[0] if r)
        if used <= self.min_routes() and took <= _DRAW_MAX_SHARE * budget:
            # The fleet phase reached the capacity bound early: draw more plans of that
            # fleet (see _FLEET_DRAWS), each from the first plan on its own random stream.
            for j in range(1, self.fleet_draws):
                until = min(start + _FLEET_SHARE * budget,
                            time.perf_counter() + max(_DRAW_TIME * took, _DRAW_MIN_S))
                other = self.minimise_fleet(plan, until, lambda phase, cost: None,
                                            seed=self.seed + _DRAW_SEED_STEP * j)
                if sum(1 for r in other if r) <= used:
                    plans.append(other)
        return self._anneal(plans[0], deadline, reporter,
                            self.fleet_acceptance_price(plans[0]), fleet=True, plans=plans)

    def fleet_acceptance_price(self, plan: Sequence[Sequence[int]]) -> np.ndarray:
        """Per-vehicle price of a used route while the cost phase after the fleet phase
        searches: ``_FLEET_ACCEPT`` times an average route's travel in ``plan`` (the best
        plan still pays the full price). With tight capacities the routes of the
        fewest-vehicle plan are full and strings cannot move without that room."""
        used_routes = [r for r in plan if r]
        return np.full_like(self.v_fixed, _FLEET_ACCEPT * self._travel(plan)
                            / max(1, len(used_routes)))

    def crossover(self, mine: Sequence[Sequence[int]], other: Sequence[Sequence[int]],
                  rng: np.random.Generator) -> list[list[int]] | None:
        """A child of two plans by selective route exchange (Nagata & Kobayashi 2010).

        Take ``k`` neighbouring routes out of ``mine`` and put in the ``k`` routes of
        ``other`` that best cover their visits; a visit then served twice keeps either its
        place in the rest of ``mine`` or the one in the new routes (two variants), and the
        visits no longer served are inserted greedily without opening a route. Of
        ``_CROSSOVER_TRIALS`` selections the child leaving the fewest visits out, then the
        cheapest, wins; its left-out visits get the fleet phase's moves for up to
        ``_CROSSOVER_REPAIR_S`` (at a tight fleet most children leave some out, and a child
        with an extra route is of no use when vehicles come first), then it is polished.
        None if it still leaves a visit out or breaks a rule.
        """
        a = [list(r) for r in mine if r]
        b = [list(r) for r in other if r]
        if len(a) < 2 or not b or len(a) > self.problem.n_vehicles:
            return None
        route_of = {c: i for i, r in enumerate(a) for c in r}
        static = self._static()
        removed = np.zeros(self.problem.n_clients, dtype=np.int64)
        pending = np.zeros(self.problem.n_clients, dtype=np.int64)
        fleet = len(a)
        best: tuple[tuple[int, float], np.ndarray, np.ndarray, np.ndarray] | None = None
        for _ in range(_CROSSOVER_TRIALS):
            k = int(rng.integers(1, max(1, min(len(a), len(b)) // 2) + 1))
            taken: list[int] = []
            for c in self.adj[int(rng.integers(self.problem.n_clients))]:
                r = route_of[int(c)]
                if r not in taken:
                    taken.append(r)
                    if len(taken) == k:
                        break
            out = {c for i in taken for c in a[i]}
            score = np.array([2 * len(out.intersection(r)) - len(r) for r in b], dtype=float)
            score += rng.random(len(b)) * 0.5  # ties broken at random
            put = [b[j] for j in np.argsort(-score)[:len(taken)]]
            covered = {c for r in put for c in r}
            rest = [a[i] for i in range(len(a)) if i not in taken]
            for child in ([*rest, *[[c for c in r if c in out] for r in put]],
                          [*[[c for c in r if c not in covered] for r in rest], *put]):
                child = [r for r in child if r]
                missing = sorted(out - covered)
                removed[:len(missing)] = missing
                routes, rlen = self._arrays(child)
                n_pend, cost = _repair(removed, len(missing), int(rng.integers(2**31 - 1)),
                                       fleet, pending, routes, rlen, *static, self.adj,
                                       self.tails, _SISR_BLINK, False)
                if best is None or (n_pend, cost) < best[0]:
                    best = ((n_pend, cost), routes, rlen, pending[:n_pend].copy())
        if best is None:
            return None
        (n_pend, _), routes, rlen, left = best
        if n_pend:
            # Work the left-out visits in with the fleet phase's moves, keeping the fleet.
            pend = np.zeros(self.problem.n_clients, dtype=np.int64)
            pend[:n_pend] = left
            absence = np.zeros(self.problem.n_clients, dtype=np.int64)
            done_r, done_l = routes.copy(), np.zeros_like(rlen)
            c_bar, l_max = _string_lengths(mine)
            stop = time.perf_counter() + _CROSSOVER_REPAIR_S
            while n_pend and time.perf_counter() < stop:
                n_pend, _ = _fleet_chunk(
                    200, int(rng.integers(2**31 - 1)), routes, rlen, pend, n_pend, fleet,
                    absence, done_r, done_l, fleet, *static, self.adj, c_bar, l_max,
                    _SISR_BLINK, _BYPASS)
            if n_pend:
                return None
            routes, rlen = done_r, done_l
        _repair(removed, 0, int(rng.integers(2**31 - 1)), fleet, pending, routes, rlen,
                *static, self.adj, self.tails, _SISR_BLINK, True)
        plan = self._plan(routes, rlen)
        return plan if evaluate(self.problem, plan).is_feasible() else None

    def _meet(self, best_r: np.ndarray, best_l: np.ndarray, best: float, deadline: float,
              rng: np.random.Generator) -> tuple[list[list[int]], float] | None:
        """If a meeting at the exchange is due, swap best plans (``best``: this chain's
        cost) and return a child of this chain's and another's with its cost (None if no
        meeting is due or it fails)."""
        ex = self.exchange
        if ex is None or self._round >= len(ex.times) or time.perf_counter() < ex.times[
                self._round]:
            return None
        round_, self._round = self._round, self._round + 1
        mine = self._plan(best_r, best_l)
        others = ex.swap(round_, self.rank, mine, deadline)
        if not others or _mean_route_length(mine) > _CROSSOVER_MAX_VISITS:
            return None
        child = self.crossover(mine, others[int(rng.integers(len(others)))], rng)
        if child is None:
            return None
        # A child far above its parent only costs the chain its remaining time (GH 200
        # RC2_2_6: children 3-16 % above, where elsewhere they came within about 1 %).
        cost = evaluate(self.problem, child).cost()
        return (child, cost) if cost <= best + _CROSSOVER_SLACK * self._travel(mine) else None

    def _anneal(self, plan: Sequence[Sequence[int]], deadline: float,
                reporter: Callable[[str, float], None], fixed_acc: np.ndarray,
                fleet: bool, plans: Sequence[Sequence[Sequence[int]]] | None = None,
                ) -> list[list[int]]:
        """The SISR cost phase: ruin and recreate with annealing until ``deadline``.

        After the fleet phase, given several of its ``plans`` it anneals from them by
        successive halving (:meth:`_halve`); else the budget is split into ``self.epochs``
        equal epochs, each a whole hot-to-cold anneal from ``plan`` on its own random
        stream, and the best plan of any epoch wins (see ``_FLEET_EPOCHS`` for why).
        """
        start = time.perf_counter()
        budget = max(1e-9, deadline - start)
        # Temperatures scale with the mean travel cost per visit (fixed vehicle costs left
        # out: they may be huge to rank fleet size first), cooled exponentially over time.
        travel = self._travel(plan)
        per_visit = max(travel, 1e-9) / max(1, self.problem.n_clients)
        t_hot, t_cold = (_T_HOT_FLEET if fleet else _T_HOT) * per_visit, _T_COLD * per_visit
        rng = np.random.default_rng(self.seed)
        best = math.inf

        def report(cost: float) -> None:
            nonlocal best
            if cost < best - 1e-9:
                best = cost
                reporter("improve", cost)

        if not fleet:
            return self._epoch(plan, deadline, rng, t_hot, t_cold, fixed_acc, report, None)[0]
        if plans is not None and len(plans) > 1:
            return self._halve(plans, deadline, rng, t_hot, t_cold, fixed_acc, report)
        epochs = [self._epoch(plan, start + (k + 1) * budget / self.epochs, rng, t_hot, t_cold,
                              fixed_acc, report, plan) for k in range(self.epochs)]
        return min(epochs, key=lambda found: found[1])[0]

    def _epoch(self, plan: Sequence[Sequence[int]], deadline: float,
               rng: np.random.Generator, t_hot: float, t_cold: float, fixed_acc: np.ndarray,
               report: Callable[[float], None],
               restart: Sequence[Sequence[int]] | None, walk: _Walk | None = None,
               span: tuple[float, float] = (0.0, 1.0)) -> tuple[list[list[int]], float]:
        """Anneal from ``plan`` (or go on with ``walk``) until ``deadline``; returns the best
        plan and its cost.

        ``restart`` is the plan a stalled search starts again from (None: a fresh greedy
        construction). ``span`` is the part of the hot-to-cold schedule this call covers, so
        a walk can be paused and resumed where its temperature was; only a call that ends
        the schedule restarts when stalled. ``walk`` (if given) is updated in place.
        """
        if walk is None:
            walk = self._walk(plan)
        cur_r, cur_l, best_r, best_l = walk.cur_r, walk.cur_l, walk.best_r, walk.best_l
        start = time.perf_counter()
        static = self._static()
        iters = walk.iters
        best = walk.best
        budget = max(1e-9, deadline - start)
        c_bar, l_max = _string_lengths(plan)
        avg_len = _mean_route_length(plan)
        route_removal = min(self.route_removal,
                            _ROUTE_REMOVAL_VISITS / avg_len if avg_len > 0 else 0.0)
        epoch = last_best = start  # the annealing schedule restarts with each epoch
        f_lo, f_hi = span
        while True:
            now = time.perf_counter()
            left = deadline - now
            if left <= 0.005:
                break
            if (f_hi >= 1.0 and now - last_best > _STALL_SHARE * budget
                    and left > _STALL_SHARE * budget):
                # A fresh construction opens more routes than the fleet phase left: with
                # vehicles first, start again from the fleet phase's plan with a new
                # random stream. At a tight fleet a run settles in one basin within
                # seconds, and re-heating from its best plan leads back there (GH 200
                # RC2_2_5/RC2_2_6, six runs: after 12 s no run's best moved by more than
                # 0.3 points, at 0.9-7.8 % over the best-known plan).
                fresh = (restart if restart is not None
                         else self.construct(int(rng.integers(2**31 - 1))))
                if fresh is not None:
                    cur_r[:], cur_l[:] = self._arrays(fresh)
                    epoch = last_best = now
                    f_lo = 0.0
            met = self._meet(best_r, best_l, best, deadline, rng)
            if met is not None:
                child, cost = met
                cur_r[:], cur_l[:] = self._arrays(child)
                if cost < best - 1e-9:
                    best_r[:], best_l[:], best = cur_r, cur_l, cost
                    report(cost)
                last_best = now
            f0 = f_lo + (f_hi - f_lo) * min(1.0, (now - epoch) / max(1e-9, deadline - epoch))
            t_a = t_hot * (t_cold / t_hot) ** f0
            tic = time.perf_counter()
            _, best_cost = _sisr_chunk(
                iters, t_a, t_a, int(rng.integers(2**31 - 1)), cur_r, cur_l, best_r, best_l,
                *static, self.adj, c_bar, l_max, _SISR_BLINK, _BYPASS,
                route_removal, fixed_acc, self.tails, self.metric, self.seek,
                self.incremental)
            self.iterations += iters
            took = time.perf_counter() - tic
            if best_cost < best - 1e-9:
                best = best_cost
                last_best = time.perf_counter()
                report(best_cost)
            # Aim for slices of ~0.1 s, never past the deadline.
            rate = iters / max(took, 1e-6)
            iters = int(max(20, min(rate * 0.1, rate * max(0.0, deadline - time.perf_counter())
                                    * 0.9)))
        walk.iters, walk.best = iters, best
        return self._plan(best_r, best_l), best

    def _halve(self, plans: Sequence[Sequence[Sequence[int]]], deadline: float,
               rng: np.random.Generator, t_hot: float, t_cold: float, fixed_acc: np.ndarray,
               report: Callable[[float], None]) -> list[list[int]]:
        """Anneal from each of ``plans`` and keep the better half, stage by stage
        (successive halving), until one walk is left to finish the schedule.

        All walks follow one hot-to-cold schedule: each stage but the last takes
        ``_DRAW_STAGE`` of it, and a surviving walk goes on where its temperature was, so
        the walks are compared at the same point of the schedule. Returns the best plan.
        """
        stages = [len(plans)]
        while stages[-1] > 1:
            stages.append((stages[-1] + 1) // 2)
        shares = [_DRAW_STAGE] * (len(stages) - 1)
        shares.append(1.0 - sum(shares))
        # The schedule's length: the walks of all stages share the time left.
        length = max(1e-9, deadline - time.perf_counter()) / sum(
            k * share for k, share in zip(stages, shares, strict=True))
        walks = [self._walk(p) for p in plans]
        done = 0.0
        for k, share in zip(stages, shares, strict=True):
            walks = sorted(walks, key=lambda w: w.best)[:k]
            last = k == 1
            for w in walks:
                end = deadline if last else min(deadline, time.perf_counter() + share * length)
                self._epoch(w.start, end, rng, t_hot, t_cold, fixed_acc, report, w.start, w,
                            (done, 1.0 if last else done + share))
            done += share
        w = min(walks, key=lambda w: w.best)
        return self._plan(w.best_r, w.best_l)

    def _walk(self, plan: Sequence[Sequence[int]]) -> _Walk:
        cur_r, cur_l = self._arrays(plan)
        return _Walk(cur_r, cur_l, cur_r.copy(), cur_l.copy(), [list(r) for r in plan])


@dataclass
class _Walk:
    """The state of one annealing walk, so that it can be paused and resumed."""

    cur_r: np.ndarray
    cur_l: np.ndarray
    best_r: np.ndarray
    best_l: np.ndarray
    start: list
    best: float = math.inf
    iters: int = 200


class Exchange:
    """Where parallel chains meet at set times to swap their best plans.

    Each meeting has its own barrier, so a chain that misses one (its slice ran long, or it
    had stopped) breaks only that meeting: the others wait at most until their deadline and
    go on alone.
    """

    def __init__(self, parties: int, start: float, deadline: float):
        """Meetings at ``_CROSSOVER_AT`` shares of the time from ``start`` to ``deadline``."""
        self.times = [start + f * (deadline - start) for f in _CROSSOVER_AT]
        self._barriers = [threading.Barrier(parties) for _ in self.times]
        self._board: dict[tuple[int, int], list[list[int]]] = {}
        self._lock = threading.Lock()

    def swap(self, round_: int, rank: int, plan: list[list[int]],
             deadline: float) -> list[list[list[int]]]:
        """Post ``plan`` for meeting ``round_`` and return the other chains' plans (none if
        the meeting failed)."""
        with self._lock:
            self._board[round_, rank] = plan
        try:
            self._barriers[round_].wait(max(0.01, deadline - time.perf_counter() - 0.05))
        except threading.BrokenBarrierError:
            return []
        with self._lock:
            return [p for (r, k), p in self._board.items() if r == round_ and k != rank]


class KernelLoader:
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


KERNELS = KernelLoader()


def warm_up() -> None:
    """Compile (or load from cache) the numba kernels now, so timed solves do not pay for it.

    Call it once before measuring; :func:`solve` also works without it.
    """
    if not KERNELS.ready():
        KERNELS.load()


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
    sisr = Sisr(problem, 0)
    plan = sisr.construct()
    if plan is not None:
        cur_r, cur_l = sisr._arrays(plan)
        _sisr_chunk(5, 1.0, 1.0, 0, cur_r, cur_l, cur_r.copy(), cur_l.copy(), *sisr._static(),
                    sisr.adj, _SISR_CBAR, _SISR_LMAX, _SISR_BLINK, _BYPASS, 0.5, sisr.v_fixed,
                    sisr.tails, sisr.metric, sisr.seek, sisr.incremental)
        n = problem.n_clients
        _fleet_chunk(5, 0, cur_r, cur_l, np.zeros(n, dtype=np.int64), 0,
                     int(np.count_nonzero(cur_l)), np.zeros(n, dtype=np.int64), cur_r.copy(),
                     cur_l.copy(), 1, *sisr._static(), sisr.adj, _SISR_CBAR, _SISR_LMAX,
                     _SISR_BLINK, _BYPASS)
        removed = np.zeros(n, dtype=np.int64)
        _repair(removed, 0, 0, 3, removed.copy(), cur_r.copy(), cur_l.copy(), *sisr._static(),
                sisr.adj, sisr.tails, _SISR_BLINK, True)
