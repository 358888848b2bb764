"""Re-planning during the day: an urgent inspection goes in, what has happened stays."""

from __future__ import annotations

import dataclasses
from datetime import date
from types import SimpleNamespace

import pytest

from dispatch.teams.loader import bundled_teams
from geo.traveltime import EstimateTravelTimes
from planner.daily import (
    Crew,
    CrewRoute,
    DayOptions,
    DayPlan,
    DayVisit,
    PlannedStop,
    plan_day,
)
from planner.items import load_items
from planner.objects import load_objects
from planner.replan import (
    crew_position,
    frozen_unchanged,
    insert_urgent,
    moved_stops,
    urgent_visit,
)

DAY = date(2025, 3, 3)
NOW = 11 * 60  # 11:00


@pytest.fixture(scope="module")
def world(changshan):
    items = load_items()
    objects = load_objects(None, items, changshan)
    day_objs = [o for o in objects.objects
                if o.township == "CS01" and o.open_min <= 510 and o.close_min >= 1050]
    return SimpleNamespace(district=changshan, items=items, objects=objects,
                           roster=bundled_teams(changshan), day_objs=day_objs,
                           travel=EstimateTravelTimes(changshan.travel_estimate))


def visit(obj, units, minutes, **kw) -> DayVisit:
    return DayVisit(id=obj.id, object_id=obj.id, name=obj.name, township=obj.township,
                    lon=obj.lon, lat=obj.lat, units=tuple(sorted(units)), minutes=minutes,
                    open_min=obj.open_min, close_min=obj.close_min, **kw)


@pytest.fixture(scope="module")
def plan(world) -> DayPlan:
    objs = world.day_objs[:12]
    spec = [("CS01-zfd",)] * 6 + [("CS01-zfd", "dept:scjg")] * 3 + [("dept:scjg",)] * 3
    visits = [visit(o, u, 30) for o, u in zip(objs, spec, strict=True)]
    return plan_day(visits, world.roster, DAY, zone="天马片区", travel=world.travel,
                    options=DayOptions(time_limit_s=1.0))


def urgent(world, units=("CS01-zfd",), minutes=30, now=NOW, k=30):
    return urgent_visit(world.day_objs[k], units, minutes, now)


def test_frozen_stops_are_unchanged_after_an_insert(plan, world):
    res = insert_urgent(plan, urgent(world), NOW, travel=world.travel, roster=world.roster)
    assert res.inserted, res.reason
    assert res.frozen == sum(1 for r in plan.routes for s in r.stops if s.start_s < NOW * 60)
    assert res.frozen > 0
    assert frozen_unchanged(plan, res.plan, NOW * 60)
    for r in plan.routes:
        new = res.plan.route_of(r.crew_id)
        for k, s in enumerate(r.stops):
            if s.start_s < NOW * 60:
                assert new.stops[k].visit_id == s.visit_id
                assert new.stops[k].start_s == pytest.approx(s.start_s, abs=1.0)


def test_urgent_visit_is_inserted_within_its_window(plan, world):
    v = urgent(world)
    res = insert_urgent(plan, v, NOW, travel=world.travel, roster=world.roster)
    assert res.inserted and res.method == "insertion"
    crew, _, stop = res.plan.stop_of(v.id)
    assert crew == res.crew_id and set(v.units) <= set(res.plan.crew_by_id[crew].units)
    assert NOW * 60 - 1e-6 <= stop.start_s <= (NOW + 120) * 60 + 1e-6
    assert v.open_min * 60 <= stop.start_s and stop.end_s <= v.close_min * 60
    assert res.plan.problems() == []
    assert res.plan.replanned_at == NOW and res.plan.eta_source == "estimate"


def test_nothing_that_has_not_started_is_put_before_now(plan, world):
    res = insert_urgent(plan, urgent(world), NOW, travel=world.travel, roster=world.roster)
    started = {s.visit_id for r in plan.routes for s in r.stops if s.start_s < NOW * 60}
    for r in res.plan.routes:
        for s in r.stops:
            if s.visit_id not in started:
                assert s.start_s >= NOW * 60 - 1e-6


def test_a_cheap_insertion_moves_only_what_it_reports(plan, world):
    res = insert_urgent(plan, urgent(world), NOW, travel=world.travel, roster=world.roster,
                        threshold_min=0)
    assert res.inserted
    recount = moved_stops(plan, res.plan, NOW * 60, 0)
    assert {m.visit_id for m in res.moved} == {m.visit_id for m in recount}
    # Crews that did not take the urgent visit keep every stop exactly.
    for r in plan.routes:
        if r.crew_id != res.crew_id:
            assert res.plan.route_of(r.crew_id) == r
    for m in res.moved:
        assert m.before_crew == res.crew_id and m.why == ("time",)


def _stop(vid: str, start_min: float) -> PlannedStop:
    return PlannedStop(vid, start_min * 60, start_min * 60, (start_min + 20) * 60, 0.0, 0.0)


def _plan(routes: dict[str, list[tuple[str, float]]]) -> DayPlan:
    crews = tuple(Crew(c, c, ("CS01-zfd",), (), "CS01-zfd", 118.51, 28.9) for c in routes)
    visits = tuple(DayVisit(v, v, v, "CS01", 118.51, 28.9, ("CS01-zfd",), 20, 0, 1440)
                   for stops in routes.values() for v, _ in stops)
    return DayPlan(zone="z", day=DAY, district="changshan", options=DayOptions(),
                   eta_source="estimate", crews=crews, visits=visits,
                   routes=tuple(CrewRoute(c, tuple(_stop(v, t) for v, t in stops), 480 * 60,
                                          1000 * 60, 0.0, 0.0) for c, stops in routes.items()),
                   left_out=())


def test_moved_stops_on_a_constructed_case():
    old = _plan({"A": [("a1", 540), ("a2", 600), ("a3", 660), ("a4", 720), ("a5", 780)],
                 "B": [("b1", 545), ("b2", 700), ("b3", 800)]})
    new = _plan({
        # a1 started before now (frozen); U inserted; a3/a4 swapped; a5 10 min later.
        "A": [("a1", 540), ("U", 600), ("a2", 630), ("a4", 660), ("a3", 720), ("a5", 790)],
        # b2 dropped; b3 20 min later (over 15); b1 had started.
        "B": [("b1", 545), ("b3", 820)],
    })
    moves = {m.visit_id: m.why for m in moved_stops(old, new, now_s=560 * 60,
                                                    threshold_min=15)}
    # a2: pushed 30 min later by the insertion (its order among kept stops is unchanged);
    # a3 and a4 swapped places (and times); a5 only 10 min later; a1, b1 had started.
    assert moves == {"a2": ("time",), "a3": ("order", "time"), "a4": ("order", "time"),
                     "b2": ("dropped",), "b3": ("time",)}
    # With a 60 min threshold only order changes and drops count.
    assert set(m.visit_id for m in moved_stops(old, new, 560 * 60, 60)) == {"a3", "a4", "b2"}
    # A stop that changes crew has moved, even at the same time.
    other = _plan({"A": [("a1", 540), ("a2", 600), ("a3", 660), ("a4", 720), ("a5", 780),
                         ("b2", 700)],
                   "B": [("b1", 545), ("b3", 800)]})
    assert {m.visit_id: m.why for m in moved_stops(old, other, 560 * 60, 15)} == {
        "b2": ("crew",)}


def test_no_certified_crew_is_explained_and_the_plan_kept(plan, world):
    res = insert_urgent(plan, urgent(world, units=("dept:yjj",)), NOW, travel=world.travel,
                        roster=world.roster)
    assert not res.inserted and res.kind == "no_certified_crew"
    assert "dept:yjj" in res.reason and "no certified officer pair" in res.reason
    assert res.plan is plan


def test_no_time_left_in_any_shift_is_explained(plan, world):
    late = 17 * 60 + 20
    res = insert_urgent(plan, urgent(world, now=late), late, travel=world.travel,
                        roster=world.roster)
    assert not res.inserted and res.kind == "no_time"
    assert "no time left in any shift" in res.reason and "17:30" in res.reason
    assert res.plan is plan


def test_a_department_without_a_crew_out_reports_in_with_a_new_crew(plan, world):
    v = urgent(world, units=("dept:slj",))
    res = insert_urgent(plan, v, NOW, travel=world.travel, roster=world.roster)
    assert res.inserted and res.new_crew
    crew = res.plan.crew_by_id[res.crew_id]
    assert crew.units == ("dept:slj",) and res.crew_id not in plan.crew_by_id
    out = {o.member_id for c in plan.crews for o in c.officers}
    assert len(crew.officers) == 2 and not out & {o.member_id for o in crew.officers}
    assert res.plan.route_of(crew.id).departure_s >= NOW * 60 - 1e-6
    assert res.plan.problems() == []


@pytest.fixture(scope="module")
def full(world) -> DayPlan:
    """One agriculture crew (department_crews=1) with a full day of one-hour visits."""
    visits = [visit(o, ("dept:nyj",), 60) for o in world.day_objs[40:50]]
    plan = plan_day(visits, world.roster, DAY, zone="天马片区", travel=world.travel,
                    options=DayOptions(time_limit_s=1.0, department_crews=1))
    assert len(plan.crews) == 1 and plan.summary()["routed"] >= 5
    return plan


def test_a_full_crew_makes_room_by_taking_off_one_stop(world, full):
    now = 9 * 60
    v = urgent_visit(world.day_objs[60], ("dept:nyj",), 60, now)
    res = insert_urgent(full, v, now, travel=world.travel, roster=world.roster,
                        time_limit_s=0.5)
    assert res.inserted and res.method == "insertion displacing one stop"
    dropped = [m.visit_id for m in res.moved if "dropped" in m.why]
    assert len(dropped) == 1
    left = {x.visit_id: x for x in res.plan.left_out}
    assert left[dropped[0]].kind == "displaced" and v.id in left[dropped[0]].reason
    assert frozen_unchanged(full, res.plan, now * 60) and res.plan.problems() == []


def test_a_long_urgent_visit_re_solves_the_day_and_lists_what_it_displaced(world, full):
    now = 9 * 60
    v = urgent_visit(world.day_objs[60], ("dept:nyj",), 150, now)
    res = insert_urgent(full, v, now, travel=world.travel, roster=world.roster,
                        time_limit_s=0.5)
    assert res.inserted and res.method == "re-solve"
    dropped = [m.visit_id for m in res.moved if "dropped" in m.why]
    assert len(dropped) >= 2, "150 min of urgent work needs more than one hour freed"
    left = {x.visit_id: x for x in res.plan.left_out}
    assert all(left[d].kind == "displaced" for d in dropped)
    assert frozen_unchanged(full, res.plan, now * 60) and res.plan.problems() == []
    served = {s.visit_id for r in res.plan.routes for s in r.stops}
    assert served | set(left) == {x.id for x in res.plan.visits}


def test_a_crew_on_the_road_is_placed_along_its_leg():
    plan = _plan({"A": [("a1", 600)]})
    r = plan.routes[0]
    # Leave the base (118.51, 28.9) at 09:40 for a stop 20 min away at (118.53, 28.9).
    vis = dataclasses.replace(plan.visits[0], lon=118.53)
    leg = dataclasses.replace(r.stops[0], travel_s=1200.0)
    plan = dataclasses.replace(plan, visits=(vis,), routes=(dataclasses.replace(
        r, stops=(leg,), departure_s=580 * 60, travel_s=2400.0, return_s=640 * 60),))
    lon, lat, t = crew_position(plan.crews[0], plan.routes[0], plan, 590 * 60)
    assert (lon, lat, t) == pytest.approx((118.52, 28.9, 590 * 60))
    lon, _, t = crew_position(plan.crews[0], plan.routes[0], plan, 610 * 60)
    assert lon == pytest.approx(118.53) and t == 620 * 60  # serving a1 until 10:20
