"""Planner input data: the patrol item list, visits in a horizon, objects and zone demand."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import date, timedelta
from fractions import Fraction

import numpy as np
import pytest
import shapely
import typer
from typer.testing import CliRunner

from dispatch.catalog.loader import bundled_catalog_path, read_document
from geo.boundaries import District
from geo.crs import to_metric
from planner.items import (
    ItemList,
    PlannerDataError,
    bundled_items_path,
    catalogue_codes,
    due_offset,
    load_items,
    parse_items,
    parse_window,
    required_visits,
    required_visits_array,
)
from planner.objects import (
    InspectionObject,
    ObjectSet,
    bundled_objects_path,
    generate_objects,
    load_objects,
    parse_objects,
    zone_demand,
)
from web.commands import planner_data


def test_a_data_file_that_is_not_utf8_is_refused_with_the_file_name(tmp_path):
    bad = tmp_path / "items.json"
    bad.write_bytes(b'{"name": "\xff\xfe"}')
    with pytest.raises(PlannerDataError, match=r"items\.json: cannot read JSON"):
        load_items(bad)


@pytest.fixture(scope="module")
def items() -> ItemList:
    return load_items()


@pytest.fixture(scope="module")
def objects(items: ItemList, changshan: District) -> ObjectSet:
    return load_objects(None, items, changshan)


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(bundled_items_path().read_text(encoding="utf-8"))


def _obj(oid: str = "T-1", otype: str = "restaurant", grade: str = "B") -> InspectionObject:
    return InspectionObject(oid, "测试餐馆", otype, "CS01", 118.5, 28.9, grade, 600, 1260)


def _add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


# -- the item list ------------------------------------------------------------------------------


def test_sample_list_has_212_items_in_5_fields_labelled_sample(items: ItemList):
    assert len(items.items) == 212
    assert len(items.fields) == 5
    assert {f.name for f in items.fields} >= {"城市管理", "自然资源"}
    assert "SAMPLE" in items.note and "示例" in items.note
    assert all(i.field in {f.code for f in items.fields} for i in items.items)


def test_items_use_catalogue_departments_and_matters(items: ItemList):
    cat = read_document(bundled_catalog_path())
    deps = {d["code"] for d in cat["departments"]}
    matters = {m["code"] for m in cat["matters"]}
    assert {i.department for i in items.items} <= deps
    assert {m for i in items.items for m in i.matters} <= matters


def test_restaurants_are_checked_by_several_departments_for_joint_visits(items: ItemList):
    deps = {i.department for i in items.for_type("restaurant")}
    assert {"scjg", "sthj", "yjj", "zhzf"} <= deps
    names = {i.name for i in items.for_type("restaurant")}
    assert "餐饮服务食品安全" in names and "瓶装液化气使用安全" in names
    for otype in items.types:
        assert items.for_type(otype), f"no item applies to {otype}"


def test_list_has_combinable_and_stand_alone_items(items: ItemList):
    solo = [i for i in items.items if not i.combinable]
    assert 5 <= len(solo) < len(items.items) // 2
    night = [i for i in solo if i.visit_window and i.visit_window[1] > 20 * 60]
    assert night, "night checks must carry their visit window"


def test_risk_grades_scale_only_risk_scaled_items(items: ItemList):
    scaled = items.by_code["XC-SC-001"]  # 餐饮服务食品安全, twice a year for grade B
    assert scaled.risk_scaled
    assert [scaled.visits_per_year(g) for g in "ABCD"] == [1, 2, 4, 12]
    fixed = items.by_code["XC-CG-001"]
    assert not fixed.risk_scaled
    assert {fixed.visits_per_year(g) for g in "ABCD"} == {4}


def test_combined_visit_takes_setup_once(items: ItemList):
    a, b = items.by_code["XC-SC-001"], items.by_code["XC-AQ-001"]
    setup = items.visit_setup_min
    assert items.visit_duration([a]) == a.duration_min
    assert items.visit_duration([a, b]) == a.duration_min + b.duration_min - setup
    assert items.visit_duration([]) == 0


@pytest.mark.parametrize(("path", "value", "field"), [
    ("department", "gaj", "department"),
    ("object_types", ["restaurant", "spaceport"], "object_types"),
    ("frequency", {"times": 0, "per": "quarter"}, "frequency.times"),
    ("frequency", {"times": 1, "per": "week"}, "frequency.per"),
    ("duration_min", 0, "duration_min"),
    ("duration_min", -5, "duration_min"),
    ("visit_window", "25:00-02:00", "visit_window"),
    ("matters", ["XX999"], "matters"),
    ("min_spacing_days", 40, "min_spacing_days"),  # monthly item cannot keep 40 days apart
])
def test_bad_item_is_refused_naming_record_and_field(doc: dict, path: str, value, field: str):
    bad = copy.deepcopy(doc)
    target = next(i for i in bad["items"] if i["code"] == "XC-CG-012")  # monthly, zhzf
    target[path] = value
    deps, matters = catalogue_codes("changshan_sample")
    with pytest.raises(PlannerDataError) as exc:
        parse_items(bad, deps, matters)
    assert any(p.record == "XC-CG-012" and p.field == field for p in exc.value.problems), \
        str(exc.value)


def test_every_problem_is_reported_at_once(doc: dict):
    bad = copy.deepcopy(doc)
    bad["items"][0]["department"] = "nobody"
    bad["items"][5]["duration_min"] = 0
    bad["risk_grades"][0]["multiplier"] = -1
    deps, matters = catalogue_codes("changshan_sample")
    with pytest.raises(PlannerDataError) as exc:
        parse_items(bad, deps, matters)
    fields = {(p.record, p.field) for p in exc.value.problems}
    assert ("XC-CG-001", "department") in fields
    assert ("XC-CG-006", "duration_min") in fields
    assert ("A", "multiplier") in fields


def test_windows_past_midnight_run_into_the_next_day():
    assert parse_window("10:00-21:00") == (600, 1260)
    assert parse_window("21:00-01:00") == (1260, 1500)
    assert parse_window("13:00-24:00") == (780, 1440)
    for bad in ("10:00-10:00", "9-17", "10:00", "24:00-02:00", "10:61-12:00"):
        with pytest.raises(ValueError):
            parse_window(bad)


# -- visits in a horizon ------------------------------------------------------------------------


def test_quarterly_item_needs_one_visit_in_any_three_months_and_four_a_year(items: ItemList):
    item = items.by_code["XC-CG-001"]  # once a quarter, not risk-scaled
    for k in range(30):
        obj = _obj(f"R-{k}")
        for first in range(1, 13):
            start = date(2025, first, 1)
            assert required_visits(item, obj, start, _add_months(start, 3)) == 1
        assert required_visits(item, obj, date(2025, 1, 1), date(2026, 1, 1)) == 4
        months = [required_visits(item, obj, date(2025, m, 1), _add_months(date(2025, m, 1), 1))
                  for m in range(1, 4)]
        assert sorted(months) == [0, 0, 1]


def test_month_with_quarterly_visit_follows_the_object_offset(items: ItemList):
    item = items.by_code["XC-CG-001"]
    obj = _obj("CS01-0001")
    due = [m for m in range(1, 13)
           if required_visits(item, obj, date(2025, m, 1), _add_months(date(2025, m, 1), 1))]
    assert len(due) == 4 and all(b - a == 3 for a, b in itertools.pairwise(due))
    assert (due[0] - 1 + due_offset(obj.id)) % 3 == 0


def test_visits_are_additive_over_any_split_of_the_horizon(items: ItemList):
    rng = np.random.default_rng(7)
    start, end = date(2024, 11, 17), date(2026, 3, 9)
    cuts = sorted({start + timedelta(days=int(d))
                   for d in rng.integers(1, (end - start).days, 25)})
    bounds = [start, *cuts, end]
    for code in ("XC-CG-001", "XC-SC-001", "XC-AQ-017", "XC-ZY-001", "XC-CG-003"):
        item = items.by_code[code]
        obj = _obj("X-9", item.object_types[0], "D")
        whole = required_visits(item, obj, start, end)
        parts = sum(required_visits(item, obj, a, b)
                    for a, b in itertools.pairwise(bounds))
        assert whole == parts


def test_long_run_visits_match_the_rate(items: ItemList):
    item = items.by_code["XC-SC-001"]
    for grade, per_year in zip("ABCD", (1, 2, 4, 12), strict=True):
        obj = _obj("L-1", "restaurant", grade)
        n = required_visits(item, obj, date(2025, 1, 1), date(2035, 1, 1))
        assert n == 10 * per_year


def test_item_for_another_type_needs_no_visit_and_reversed_horizon_fails(items: ItemList):
    site_item = items.by_code["XC-CG-010"]  # construction sites only
    assert required_visits(site_item, _obj(), date(2025, 1, 1), date(2026, 1, 1)) == 0
    with pytest.raises(ValueError, match="before start"):
        required_visits(site_item, _obj(), date(2025, 2, 1), date(2025, 1, 1))


def test_yearly_due_months_fall_inside_quarterly_due_months(items: ItemList):
    yearly, quarterly = items.by_code["XC-CG-003"], items.by_code["XC-CG-001"]
    for k in range(40):
        obj = _obj(f"N-{k}")
        for m in range(1, 25):
            a = _add_months(date(2025, 1, 1), m - 1)
            b = _add_months(a, 1)
            if required_visits(yearly, obj, a, b):
                assert required_visits(quarterly, obj, a, b)


def test_vectorised_visits_equal_the_scalar_rule(items: ItemList):
    rng = np.random.default_rng(3)
    pairs = []
    for k in range(300):
        item = items.items[int(rng.integers(len(items.items)))]
        pairs.append((item, _obj(f"V-{k}", item.object_types[0], "ABCD"[k % 4])))
    start = date(2025, 1, 1) + timedelta(days=int(rng.integers(0, 400)))
    end = start + timedelta(days=int(rng.integers(0, 500)))
    rates = [it.rate_per_month(o.risk_grade) for it, o in pairs]
    got = required_visits_array(np.array([r.numerator for r in rates]),
                                np.array([r.denominator for r in rates]),
                                np.array([due_offset(o.id) for _, o in pairs]), start, end)
    want = [required_visits(it, o, start, end) for it, o in pairs]
    assert got.tolist() == want


# -- objects ------------------------------------------------------------------------------------


def test_bundled_objects_are_the_generator_output_byte_for_byte(items, changshan):
    generated = generate_objects(changshan, items).csv_text().encode("utf-8")
    assert bundled_objects_path().read_bytes() == generated
    assert generated.startswith(b"# SYNTHETIC DATA")


def test_same_seed_same_bytes_other_seed_other_objects(items, changshan):
    a = generate_objects(changshan, items, seed=11, count=400).csv_text()
    b = generate_objects(changshan, items, seed=11, count=400).csv_text()
    c = generate_objects(changshan, items, seed=12, count=400).csv_text()
    assert a == b
    assert a != c


def test_every_object_lies_inside_its_township(objects: ObjectSet, changshan: District):
    for t in changshan.townships:
        idx = objects.in_townships([t.code])
        assert idx.size > 0
        assert shapely.contains_xy(t.geometry, objects.lon[idx], objects.lat[idx]).all()


def test_streets_hold_half_and_tianma_zone_reaches_a_thousand(objects, changshan):
    towns = objects.counts("township")
    streets = sum(towns[c] for c in ("CS01", "CS02", "CS03"))
    assert len(objects) == 3000
    assert abs(streets / len(objects) - 0.5) < 0.01
    tianma = next(z for z in changshan.zones if z.name == "天马片区")
    assert 950 <= objects.in_townships(tianma.members).size <= 1100


def _densest_share(x: np.ndarray, y: np.ndarray, cells: int) -> float:
    """Share of points in the ``cells`` fullest 1 km grid cells."""
    counts = np.unique(np.c_[np.floor(x / 1000), np.floor(y / 1000)], axis=0,
                       return_counts=True)[1]
    return float(np.sort(counts)[::-1][:cells].sum() / x.size)


def test_objects_cluster_around_centres_rather_than_spread_evenly(objects, changshan):
    rng = np.random.default_rng(0)
    for k, t in enumerate(changshan.townships):
        idx = objects.in_townships([t.code])
        x, y = to_metric(objects.lon[idx], objects.lat[idx], changshan.metric_epsg)
        poly = changshan.metric_townships[k]
        cells = int(np.ceil(0.1 * poly.area / 1e6))  # 1 km² cells covering 10 % of the area
        x0, y0, x1, y1 = poly.bounds
        ux, uy = rng.uniform(x0, x1, 20 * idx.size), rng.uniform(y0, y1, 20 * idx.size)
        inside = shapely.contains_xy(poly, ux, uy)
        ux, uy = ux[inside][: idx.size], uy[inside][: idx.size]
        clustered, uniform = _densest_share(x, y, cells), _densest_share(ux, uy, cells)
        assert clustered >= 0.4 and clustered >= 1.8 * uniform, (t.code, clustered, uniform)


def test_object_types_hours_and_grades_are_realistic(objects: ObjectSet):
    types = objects.counts("object_type")
    assert types["restaurant"] > types["hazchem_shop"] > 0
    rest = [o for o in objects.objects if o.object_type == "restaurant"]
    assert sum(o.opening == "10:00-21:00" for o in rest) > len(rest) / 3
    sites = {o.opening for o in objects.objects if o.object_type == "construction_site"}
    assert sites == {"07:00-18:00"}
    factories = [o for o in objects.objects if o.object_type == "factory"]
    assert sum(o.opening == "08:00-17:30" for o in factories) > len(factories) / 3
    assert set(objects.counts("risk_grade")) == {"A", "B", "C", "D"}
    assert all(o.close_min > o.open_min for o in objects.objects)
    names = [o.name for o in objects.objects]
    assert len(set(names)) == len(names)


def test_bad_object_rows_are_all_named(items, changshan):
    header = "id,name,object_type,township,lon,lat,risk_grade,open,close\n"
    rows = [
        "A1,好味面馆,restaurant,CS01,118.500000,28.900000,B,10:00,21:00",  # fine
        "A1,重复编号,restaurant,CS01,118.500000,28.900000,B,10:00,21:00",
        "A3,星际站,spaceport,CS01,118.500000,28.900000,B,10:00,21:00",
        "A4,无名镇店,restaurant,CS99,118.500000,28.900000,B,10:00,21:00",
        "A5,杭州店,restaurant,CS01,120.150000,30.280000,B,10:00,21:00",
        "A6,跨镇店,restaurant,CS01,118.350430,28.874304,B,10:00,21:00",  # lies in 球川镇
        "A7,坏时间,restaurant,CS01,118.500000,28.900000,B,10:00,10:00",
        "A8,坏等级,restaurant,CS01,118.500000,28.900000,Z,10:00,21:00",
        "A9,坏坐标,restaurant,CS01,abc,28.900000,B,10:00,21:00",
    ]
    with pytest.raises(PlannerDataError) as exc:
        parse_objects("# test\n" + header + "\n".join(rows) + "\n", items, changshan)
    got = {(p.record.split(" (")[1].rstrip(")"), p.field) for p in exc.value.problems}
    assert got == {("A1", "id"), ("A3", "object_type"), ("A4", "township"),
                   ("A5", "lon/lat"), ("A6", "lon/lat"), ("A7", "open/close"),
                   ("A8", "risk_grade"), ("A9", "lon")}
    assert any("球川镇" in p.message for p in exc.value.problems)
    assert all(p.record.startswith("line ") for p in exc.value.problems)


def test_overnight_hours_load_past_midnight(items, changshan):
    text = ("id,name,object_type,township,lon,lat,risk_grade,open,close\n"
            "K1,夜歌KTV,entertainment,CS01,118.500000,28.900000,C,18:00,02:00\n")
    obj = parse_objects(text, items, changshan).objects[0]
    assert (obj.open_min, obj.close_min) == (18 * 60, 26 * 60)
    assert obj.opening == "18:00-02:00"


# -- zone demand --------------------------------------------------------------------------------


def test_zone_demand_matches_the_scalar_rule(objects, items, changshan):
    start, end = date(2025, 1, 1), date(2025, 4, 1)
    dem = zone_demand(objects, items, changshan, "天马片区", start, end)
    assert len(dem) == objects.in_townships(["CS01"]).size
    assert {o.township for o in dem.objects} == {"CS01"}
    assert dem.req_ptr[-1] == dem.req_item.size == dem.req_visits.size
    for i in range(0, len(dem), 37):
        obj = dem.objects[i]
        want = {it.code: required_visits(it, obj, start, end)
                for it in items.for_type(obj.object_type)}
        got = {r.item.code: r.visits for r in dem.requirements(i)}
        assert got == {k: v for k, v in want.items() if v}


def test_quarter_demand_is_the_sum_of_its_months(objects, items, changshan):
    q = zone_demand(objects, items, changshan, "zone-CS04", date(2025, 1, 1), date(2025, 4, 1))
    months = [zone_demand(objects, items, changshan, "zone-CS04", date(2025, m, 1),
                          date(2025, m + 1, 1)) for m in (1, 2, 3)]
    assert q.req_visits.sum() == sum(m.req_visits.sum() for m in months)
    s = q.summary()
    assert s["min_visits"] <= s["item_visits"]
    assert s["on_site_min_combined"] < s["on_site_min_separate"]
    assert s["non_combinable_visits"] > 0


def test_unknown_zone_is_refused(objects, items, changshan):
    with pytest.raises(PlannerDataError, match="天马片区"):
        zone_demand(objects, items, changshan, "月球片区", date(2025, 1, 1), date(2025, 4, 1))


# -- command line -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(planner_data.app, name="planner-data")
    return app


def test_cli_lists_items_of_a_field_as_json(cli):
    res = CliRunner().invoke(cli, ["planner-data", "items", "--field", "市场秩序", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert rows and {r["field"] for r in rows} == {"market"}
    assert all({"frequency", "duration_min", "combinable"} <= set(r) for r in rows)


def test_cli_unknown_field_is_a_clean_error(cli):
    res = CliRunner().invoke(cli, ["planner-data", "items", "--field", "天文"])
    assert res.exit_code == 2
    assert "--field" in res.output and "Traceback" not in res.output


def test_cli_generate_then_summarise(cli, tmp_path):
    out = tmp_path / "objs.csv"
    res = CliRunner().invoke(cli, ["planner-data", "objects", "generate", "--seed", "5",
                                   "--count", "300", "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["planner-data", "objects", "summary", "--file", str(out),
                                   "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["objects"] == 300
    assert sum(summary["zone"].values()) == 300
    assert sum(summary["risk_grade"].values()) == 300


def test_cli_demand_for_a_quarter(cli):
    res = CliRunner().invoke(cli, ["planner-data", "objects", "demand", "--zone", "天马片区",
                                   "--start", "2025-01-01", "--end", "2025-04-01", "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["objects"] >= 950 and s["item_visits"] > s["min_visits"] > 0


def test_multiplier_fractions_are_exact(items: ItemList):
    assert [g.multiplier for g in items.risk_grades] == [Fraction(1, 2), 1, 2, 6]
