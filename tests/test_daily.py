"""A zone's routes for one day: crews, shifts, lunch, opening hours, joint visits, reasons."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from types import SimpleNamespace

import numpy as np
import pytest
import shapely
import typer
from shapely.geometry import shape
from typer.testing import CliRunner

from dispatch.teams.loader import bundled_teams
from geo.crs import to_metric, to_wgs84
from geo.locate import Locator
from geo.network import RoadNetwork
from geo.traveltime import EstimateTravelTimes, RoadTravelTimes
from planner.daily import (
    DayOptions,
    DayPlan,
    DayPlanError,
    DayVisit,
    LeftOut,
    joint_minutes,
    plan_day,
    sample_visits,
    unit_teams,
    visits_from_calendar,
)
from planner.geometry import feature_collection, write_geojson
from planner.items import load_items
from planner.objects import load_objects
from web.commands import plan_daily

DAY = date(2025, 3, 3)
SHIFT = (8 * 3600 + 1800, 17 * 3600 + 1800)
LUNCH = (11 * 3600 + 1800, 13 * 3600 + 1800)


@pytest.fixture(scope="module")
def world(changshan):
    items = load_items()
    objects = load_objects(None, items, changshan)
    return SimpleNamespace(district=changshan, items=items, objects=objects,
                           roster=bundled_teams(changshan),
                           travel=EstimateTravelTimes(changshan.travel_estimate))


def day_objects(world, n: int, skip: int = 0):
    """CS01 objects open all day (08:30–17:30 at least), in file order."""
    objs = [o for o in world.objects.objects
            if o.township == "CS01" and o.open_min <= 510 and o.close_min >= 1050]
    return objs[skip:skip + n]


def visit(obj, units, minutes, **kw) -> DayVisit:
    return DayVisit(id=kw.pop("id", obj.id), object_id=obj.id, name=obj.name,
                    township=obj.township, lon=obj.lon, lat=obj.lat,
                    units=tuple(sorted(units)), minutes=minutes,
                    open_min=kw.pop("open_min", obj.open_min),
                    close_min=kw.pop("close_min", obj.close_min), **kw)


def a_day(world) -> list[DayVisit]:
    objs = day_objects(world, 16)
    spec = ([("CS01-zfd",)] * 6 + [("dept:scjg",)] * 3 + [("CS01-zfd", "dept:scjg")] * 4
            + [("CS01-zfd", "dept:jtj", "dept:sthj")] * 2)
    out = [visit(o, u, 45 if len(u) > 1 else 30) for o, u in zip(objs, spec, strict=False)]
    # An object that only opens 14:00–15:00: the 30 min check must start by 14:30.
    out.append(visit(objs[15], ("CS01-zfd",), 30, open_min=14 * 60, close_min=15 * 60))
    return out


@pytest.fixture(scope="module")
def plan(world) -> DayPlan:
    return plan_day(a_day(world), world.roster, DAY, zone="天马片区", travel=world.travel,
                    options=DayOptions(time_limit_s=3.0), district="changshan")


def test_every_visit_of_a_feasible_day_is_routed_and_the_plan_checks(plan):
    assert plan.left_out == ()
    assert plan.summary()["routed"] == len(plan.visits) == 16
    assert plan.problems() == []
    assert plan.solver["feasible"] is True


def test_shift_and_lunch_are_respected(plan):
    for r in plan.routes:
        if not r.stops:
            continue
        assert SHIFT[0] - 1e-6 <= r.departure_s and r.return_s <= SHIFT[1] + 1e-6
        assert r.lunch is not None
        a, b = r.lunch
        assert b - a == pytest.approx(3600.0)
        assert LUNCH[0] - 1e-6 <= a and b <= LUNCH[1] + 1e-6
        for s in r.stops:
            assert s.end_s <= a + 1e-6 or s.start_s >= b - 1e-6, "lunch during a visit"


def test_arrivals_allow_the_travel_time_between_places(plan, world):
    vis = plan.visit_by_id
    for r in plan.routes:
        if not r.stops:
            continue
        crew = plan.crew_by_id[r.crew_id]
        lon = [crew.base_lon] + [vis[s.visit_id].lon for s in r.stops] + [crew.base_lon]
        lat = [crew.base_lat] + [vis[s.visit_id].lat for s in r.stops] + [crew.base_lat]
        sec = world.travel.matrix(lon, lat, lon, lat).seconds
        t = r.departure_s
        for k, s in enumerate(r.stops):
            free = t if r.lunch is None or not (t <= r.lunch[0] < s.start_s) else r.lunch[1]
            assert s.arrival_s >= free + sec[k, k + 1] - 1e-3
            assert s.start_s >= s.arrival_s - 1e-6
            t = s.end_s
        back = t if r.lunch is None or r.lunch[0] < t else r.lunch[1]
        assert r.return_s >= back + sec[len(r.stops), len(r.stops) + 1] - 1e-3


def test_opening_windows_are_respected(plan):
    vis = plan.visit_by_id
    narrow = 0
    for r in plan.routes:
        for s in r.stops:
            v = vis[s.visit_id]
            assert s.start_s >= v.open_min * 60 - 1e-6
            assert s.end_s <= v.close_min * 60 + 1e-6
            if v.open_min == 14 * 60:
                narrow += 1
                assert 14 * 3600 - 1e-6 <= s.start_s <= 14 * 3600 + 1800 + 1e-6
    assert narrow == 1


def test_every_joint_visit_is_served_by_a_crew_with_all_its_units(plan):
    vis, crews = plan.visit_by_id, plan.crew_by_id
    joint = 0
    for r in plan.routes:
        for s in r.stops:
            v = vis[s.visit_id]
            assert set(v.units) <= set(crews[r.crew_id].units)
            joint += v.joint
    assert joint == sum(v.joint for v in plan.visits) == 6


def test_crews_are_certified_pairs_of_each_of_their_units(plan, world):
    members = {m.id: (t, m) for t in world.roster.teams for m in t.members}
    seen: set[str] = set()
    for crew in plan.crews:
        for unit in crew.units:
            teams = {t.id for t in unit_teams(unit, world.roster)}
            mine = [o for o in crew.officers if o.team in teams]
            assert len(mine) == 2, f"{crew.id} needs one pair of {unit}"
            assert len({o.team for o in mine}) == 1, "a pair rides from one team"
        for o in crew.officers:
            team, m = members[o.member_id]
            assert team.id == o.team and m.certified_on(DAY)
            assert o.member_id not in seen, "nobody rides in two crews"
            seen.add(o.member_id)


def test_eta_source_is_the_travel_times_one(plan):
    assert plan.eta_source == "estimate"
    assert plan.to_dict()["eta_source"] == "estimate"


def test_plan_round_trips_through_json(plan, tmp_path):
    path = plan.save(tmp_path / "day.json")
    again = DayPlan.load(path)
    assert again.to_dict() == plan.to_dict()
    assert again.problems() == []


def test_a_broken_plan_file_is_refused_with_the_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "whistle-day-plan/1", "zone": "z"}', encoding="utf-8")
    with pytest.raises(DayPlanError, match="plan: not a readable day plan"):
        DayPlan.load(bad)
    with pytest.raises(DayPlanError, match=r"--plan: .*no such file"):
        DayPlan.load(tmp_path / "missing.json")


def test_problems_catch_a_visit_moved_outside_its_hours(plan):
    import dataclasses

    r = next(r for r in plan.routes if r.stops)
    s = r.stops[0]
    v = plan.visit_by_id[s.visit_id]
    early = dataclasses.replace(s, start_s=v.open_min * 60 - 600.0)
    bad = dataclasses.replace(plan, routes=tuple(
        dataclasses.replace(x, stops=(early, *x.stops[1:])) if x is r else x
        for x in plan.routes))
    assert any("outside its opening hours" in p for p in bad.problems())


def test_geojson_has_a_line_per_route_and_points_inside_the_district(plan, world, tmp_path):
    path = write_geojson(plan, tmp_path / "day.geojson")
    fc = json.loads(path.read_text(encoding="utf-8"))
    assert fc["type"] == "FeatureCollection"
    assert fc["whistle"]["eta_source"] == "estimate" and fc["whistle"]["geometry"] == "straight"
    lines = [f for f in fc["features"] if f["geometry"]["type"] == "LineString"]
    stops = [f for f in fc["features"] if f["properties"]["kind"] == "stop"]
    used = [r for r in plan.routes if r.stops]
    assert len(lines) == len(used)
    assert len(stops) == sum(len(r.stops) for r in used)
    for f in lines:
        r = plan.route_of(f["properties"]["crew_id"])
        assert len(f["geometry"]["coordinates"]) == len(r.stops) + 2  # base, stops, base
        assert f["properties"]["geometry"] == "straight"
    coords = []
    for f in fc["features"]:
        g = shape(f["geometry"])
        assert g.is_valid and not g.is_empty
        coords.append(shapely.get_coordinates(g))
    xy = np.vstack(coords)
    assert (np.abs(xy[:, 0]) <= 180).all() and (np.abs(xy[:, 1]) <= 90).all()
    assert (Locator(world.district).township_index(xy[:, 0], xy[:, 1]) >= 0).all()


def grid_network(lon: np.ndarray, lat: np.ndarray, step: float = 400.0) -> RoadNetwork:
    """A two-way street grid (30 km/h) covering the points, for road geometry."""
    epsg = 32650
    x, y = to_metric(lon, lat, epsg)
    xs = np.arange(x.min() - step, x.max() + 2 * step, step)
    ys = np.arange(y.min() - step, y.max() + 2 * step, step)
    gx, gy = np.meshgrid(xs, ys)
    nlon, nlat = to_wgs84(gx.ravel(), gy.ravel(), epsg)
    nx_, ny_ = len(xs), len(ys)
    u, v = [], []
    for j in range(ny_):
        for i in range(nx_):
            k = j * nx_ + i
            if i + 1 < nx_:
                u += [k, k + 1]
                v += [k + 1, k]
            if j + 1 < ny_:
                u += [k, k + nx_]
                v += [k + nx_, k]
    n = len(u)
    return RoadNetwork.from_edges(node_id=np.arange(nx_ * ny_), lon=nlon, lat=nlat,
                                  edge_u=np.array(u), edge_v=np.array(v),
                                  length_m=np.full(n, step), time_s=np.full(n, step / 8.33),
                                  epsg=epsg)


def test_road_network_times_and_geometry_are_reported_as_road(world):
    base = world.roster.team("CS01-zfd")
    objs = sorted(day_objects(world, 200),
                  key=lambda o: (o.lon - base.base_lon) ** 2 + (o.lat - base.base_lat) ** 2)[:4]
    visits = [visit(o, ("CS01-zfd",), 20) for o in objs]
    lon = np.array([base.base_lon] + [o.lon for o in objs])
    lat = np.array([base.base_lat] + [o.lat for o in objs])
    road = RoadTravelTimes(grid_network(lon, lat))
    plan = plan_day(visits, world.roster, DAY, zone="天马片区", travel=road,
                    options=DayOptions(time_limit_s=0.5))
    assert plan.eta_source == "road"
    assert plan.summary()["routed"] == 4 and plan.problems() == []
    fc = feature_collection(plan, road)
    assert fc["whistle"]["geometry"] == "road"
    line = next(f for f in fc["features"] if f["geometry"]["type"] == "LineString")
    assert line["properties"]["geometry"] == "road"
    # Along a street grid a leg turns corners: more vertices than base + stops + base.
    r = plan.route_of(line["properties"]["crew_id"])
    assert len(line["geometry"]["coordinates"]) > len(r.stops) + 2


def test_infeasible_input_is_explained_not_failed(world):
    objs = day_objects(world, 18, skip=20)
    late = next(o for o in world.objects.objects
                if o.township == "CS01" and o.open_min >= 17 * 60)
    visits = [
        visit(late, ("CS01-zfd",), 30),                                    # evening-only object
        visit(objs[0], ("CS01-zfd",), 30, item_window=(1260, 1380)),       # night check item
        visit(objs[14], ("CS01-zfd",), 30, item_window=(300, 420)),        # 05:00-07:00
        visit(objs[15], ("CS01-zfd",), 30, item_window=(600, 620)),        # 20 min for 30
        visit(objs[1], ("CS01-zfd", "dept:yjj"), 40),                      # no certified pair
        *[visit(o, ("dept:nyj",), 120) for o in objs[2:14]],               # 24 h of work
    ]
    opts = DayOptions(time_limit_s=1.0, department_crews=1)
    plan = plan_day(visits, world.roster, DAY, zone="天马片区", travel=world.travel, options=opts)
    kinds = {x.visit_id: x.kind for x in plan.left_out + plan.other_duty}
    reasons = {x.visit_id: x.reason for x in plan.left_out + plan.other_duty}
    assert {x.visit_id for x in plan.other_duty} == {late.id, objs[0].id}
    # Hours that only fit the night shift go to the night duty's plan, said so by name.
    assert kinds[late.id] == "night_duty" and "night duty" in reasons[late.id]
    assert kinds[objs[0].id] == "night_duty" and "item window 21:00-23:00" in reasons[objs[0].id]
    assert kinds[objs[14].id] == "outside_shift" and "shift 08:30-17:30" in reasons[objs[14].id]
    assert kinds[objs[15].id] == "opening_hours" and "10:00-10:20" in reasons[objs[15].id]
    assert kinds[objs[1].id] == "no_certified_crew"
    assert "dept:yjj" in reasons[objs[1].id] and "certificate" in reasons[objs[1].id]
    nyj_out = [o.id for o in objs[2:14] if o.id in kinds]
    routed = plan.summary()["routed"]
    assert 1 <= routed <= 4 and len(nyj_out) == 12 - routed  # one crew, 8 h less lunch
    assert all(kinds[i] == "no_time" and "no room left" in reasons[i] for i in nyj_out)
    assert plan.problems() == []


def test_night_checks_are_routed_by_the_night_duty(world):
    objs = day_objects(world, 8, skip=40)
    # A site open 07:00-18:00 whose noise check must happen 22:00-24:00: the item window
    # replaces the opening hours, so the check is possible, at night.
    nights = [visit(o, ("CS01-zfd",), 30, item_window=(1260 + 20 * k, 1440), open_min=420,
                    close_min=1080) for k, o in enumerate(objs[:4])]
    days = [visit(o, ("CS01-zfd",), 30) for o in objs[4:]]
    assert {v.duty for v in nights} == {"night"} and {v.duty for v in days} == {"day"}
    opts = DayOptions.for_duty("night", time_limit_s=1.0)
    assert opts.shift == (1140, 1500) and opts.lunch_min == 0
    plan = plan_day(nights + days, world.roster, DAY, zone="天马片区", travel=world.travel,
                    options=opts)
    assert plan.problems() == []
    assert plan.left_out == ()
    assert {x.visit_id: x.kind for x in plan.other_duty} == {v.id: "day_duty" for v in days}
    assert plan.summary()["other_duty"] == len(days)
    stops = [s for r in plan.routes for s in r.stops]
    assert sorted(s.visit_id for s in stops) == sorted(v.id for v in nights)
    for s in stops:
        w = plan.visit_by_id[s.visit_id].item_window
        assert w[0] * 60 <= s.start_s and s.end_s <= w[1] * 60
    assert all(r.lunch is None for r in plan.routes)
    back = DayPlan.from_dict(plan.to_dict())
    assert back.options.duty == "night" and back.options.shift == (1140, 1500)
    assert {v.id: v.duty for v in back.visits} == {v.id: v.duty for v in nights + days}
    # The day plan of the same visits routes the others and leaves these to the night.
    day_plan = plan_day(nights + days, world.roster, DAY, zone="天马片区",
                        travel=world.travel, options=DayOptions(time_limit_s=1.0))
    assert day_plan.left_out == () and {x.visit_id: x.kind for x in day_plan.other_duty} == {
        v.id: "night_duty" for v in nights}
    # The plan's own check catches a night visit smuggled into the day plan's other duty.
    bad = replace(day_plan, other_duty=(*day_plan.other_duty, LeftOut(days[0].id, "x", "")))
    assert any("also left to the other duty" in p for p in bad.problems())
    assert day_plan.summary()["routed"] == len(days)


def test_options_are_validated_with_the_field_named():
    with pytest.raises(DayPlanError, match="lunch"):
        DayOptions.parse("08:30-17:30", "07:00-08:00", 60)
    with pytest.raises(DayPlanError, match="shift"):
        DayOptions.parse("08:30-08:30")
    with pytest.raises(DayPlanError, match="duty"):
        DayOptions.for_duty("evening")
    assert DayOptions.parse("19:00-23:30", lunch_min=0).lunch_min == 0
    assert DayOptions.parse("19:00-01:00", lunch_min=0).shift == (1140, 1500)


def test_calendar_day_becomes_visits_with_parallel_joint_checks(world):
    objs = day_objects(world, 2)
    by_code = world.items.by_code
    shop = [i for i in world.items.items if objs[0].object_type in i.object_types][:3]
    doc = {"days": [{"date": DAY.isoformat(), "visits": [
        {"object_id": objs[0].id, "teams": ["CS01-zfd", "dept:scjg"], "combinable": True,
         "items": [i.code for i in shop], "departments": ["scjg"], "minutes": 99,
         "checks": [{"item": shop[0].code, "team": "CS01-zfd"},
                    {"item": shop[1].code, "team": "dept:scjg"},
                    {"item": shop[2].code, "team": "dept:scjg"}]},
        {"object_id": objs[0].id, "teams": ["CS01-zfd"], "combinable": False,
         "items": [], "minutes": 25}]}]}
    visits = visits_from_calendar(doc, DAY, world.objects, world.items)
    assert [v.id for v in visits] == [objs[0].id, f"{objs[0].id}#2"]
    v = visits[0]
    expected = max(world.items.visit_duration([by_code[shop[0].code]]),
                   world.items.visit_duration([by_code[c.code] for c in shop[1:]]))
    assert v.minutes == expected == joint_minutes(
        {"CS01-zfd": [shop[0].code], "dept:scjg": [c.code for c in shop[1:]]}, world.items)
    assert v.joint and v.units == ("CS01-zfd", "dept:scjg")
    assert visits[1].minutes == 25 and not visits[1].joint
    assert (v.lon, v.lat, v.open_min) == (objs[0].lon, objs[0].lat, objs[0].open_min)
    with pytest.raises(DayPlanError, match="--date: 2025-03-04"):
        visits_from_calendar(doc, date(2025, 3, 4), world.objects, world.items)
    doc["days"][0]["visits"][0]["object_id"] = "NOPE-1"
    with pytest.raises(DayPlanError, match=r"visits\[0\]\.object_id: 'NOPE-1'"):
        visits_from_calendar(doc, DAY, world.objects, world.items)


def test_sampled_day_takes_objects_of_the_zone_with_checks_due(world):
    visits = sample_visits("天马片区", DAY, 6, district=world.district, items=world.items,
                           objects=world.objects, roster=world.roster, travel=world.travel)
    objects = {v.object_id for v in visits}
    assert 1 <= len(objects) <= 6
    assert all(v.township == "CS01" and v.units and v.minutes > 0 for v in visits)
    assert len({v.id for v in visits}) == len(visits)


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("routes")(plan_daily.routes)
    app.command("insert")(plan_daily.insert)
    return app


def test_cli_routes_saves_a_plan_that_insert_can_use(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    saved, geo = tmp_path / "plan.json", tmp_path / "plan.geojson"
    res = runner.invoke(cli(), ["routes", "--zone", "天马片区", "--date", "2025-03-03",
                                "--objects", "8-sample", "--time-limit", "0.5", "--json",
                                "--save", str(saved), "--geojson", str(geo), "--quiet"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["eta_source"] == "estimate" and out["summary"]["visits"] >= 1
    assert json.loads(geo.read_text(encoding="utf-8"))["type"] == "FeatureCollection"
    routed = [s["object_id"] for r in out["routes"] for s in r["stops"]]
    target = next(o for o in ("CS01-0004", "CS01-0006", "CS01-0009") if o not in routed)
    res = runner.invoke(cli(), ["insert", "--plan", str(saved), "--object", target,
                                "--at", "10:00", "--json", "--time-limit", "0.5"])
    assert res.exit_code in (0, 1), res.output
    outcome = json.loads(res.stdout)
    assert "moved" in outcome and outcome["eta_source"] == "estimate"
    assert outcome["inserted"] == (res.exit_code == 0)


def test_cli_refuses_bad_input_naming_the_option(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    res = runner.invoke(cli(), ["routes", "--zone", "天马片区", "--date", "2025-13-01"])
    assert res.exit_code == 2 and "--date" in res.output
    res = runner.invoke(cli(), ["routes", "--zone", "nowhere", "--date", "2025-03-03"])
    assert res.exit_code == 2 and "nowhere" in res.output
    res = runner.invoke(cli(), ["routes", "--zone", "天马片区", "--date", "2025-03-03",
                                "--objects", "lots"])
    assert res.exit_code == 2 and "--objects" in res.output


def test_clock_times_of_a_night_plan_after_midnight_are_the_next_morning(plan):
    night = replace(plan, options=DayOptions.for_duty("night"))
    assert night.minutes_at("21:00") == 1260 and night.minutes_at("00:30") == 1470
    assert night.minutes_at("01:30") == 1530  # after the shift: insert says it has ended
    assert plan.minutes_at("00:30") == 30 and plan.minutes_at("10:00") == 600
    with pytest.raises(ValueError):
        night.minutes_at("25:00")
