"""The inspection calendar: rules of the joint plan, the baseline, unplaced checks, exports.

Plans run on subsets of the bundled sample zone 天马片区 (SYNTHETIC objects, SAMPLE teams) with
short solver budgets; every plan is also run through its own checker
(:meth:`CalendarPlan.problems`).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from itertools import pairwise

import pytest

from dispatch.catalog.loader import bundled_catalog_path, load_catalog
from dispatch.teams.loader import TeamRoster, bundled_teams
from dispatch.teams.models import Certificate
from dispatch.tickets.sla import is_working_day
from geo.boundaries import bundled_district
from geo.traveltime import EstimateTravelTimes
from planner.calendar import CalendarInputError, CalendarOptions, plan_calendar
from planner.calendar_result import public_csv_text, write_public_csv, write_public_xlsx
from planner.items import due_offset, load_items, required_visits
from planner.joint import due_windows
from planner.objects import demand, load_objects, zone_demand

ZONE = "天马片区"


@pytest.fixture(scope="module")
def data():
    district = bundled_district("changshan")
    items = load_items()
    objects = load_objects(None, items, district)
    return {"district": district, "items": items, "objects": objects,
            "roster": bundled_teams(district),
            "catalogue": load_catalog(bundled_catalog_path(), district),
            "travel": EstimateTravelTimes(district.travel_estimate)}


def _plan(data, start, end, n=60, roster=None, **opts):
    """Plan the first ``n`` objects of the zone (by id) over ``[start, end)``."""
    zone = zone_demand(data["objects"], data["items"], data["district"], ZONE, start, end)
    idx = sorted(zone.object_index.tolist(), key=lambda i: data["objects"].objects[i].id)[:n]
    dem = demand(data["objects"], data["items"], idx, start, end, zone.area)
    options = CalendarOptions(**{"time_limit_s": 1.0, **opts})
    return dem, plan_calendar(dem, roster or data["roster"], data["catalogue"], data["travel"],
                              options)


@pytest.fixture(scope="module")
def quarter(data):
    return _plan(data, date(2025, 1, 1), date(2025, 4, 1), n=60)


def test_due_windows_match_required_visits(data):
    start, end = date(2024, 11, 17), date(2025, 8, 3)
    for obj in data["objects"].objects[:150]:
        for item in data["items"].for_type(obj.object_type):
            windows = due_windows(item.rates[obj.risk_grade], due_offset(obj.id), start,
                                  end)
            assert len(windows) == required_visits(item, obj, start, end)
            for due, a, b in windows:
                assert start <= a == due < b <= end


def test_every_required_check_is_placed_once_or_explained(quarter):
    dem, plan = quarter
    needed = Counter()
    for i, obj in enumerate(dem.objects):
        for req in dem.requirements(i):
            needed[(obj.id, req.item.code)] += req.visits
    got = Counter()
    for v in plan.visits:
        for c in v.checks:
            got[(v.object_id, c.item)] += 1
    for u in plan.unplaced:
        got[(u.object_id, u.item)] += 1
        assert u.reason
    assert got == needed
    assert plan.problems() == []


def test_checks_fall_in_their_due_window_and_respect_spacing(quarter):
    dem, plan = quarter
    spacing = {it.code: it.min_spacing_days for it in dem.items}
    days: dict[tuple[str, str], list[date]] = {}
    for v in plan.visits:
        for c in v.checks:
            assert c.start <= v.day < c.end
            days.setdefault((v.object_id, c.item), []).append(v.day)
    monthly = 0
    for (_, item), ds in days.items():
        ds.sort()
        for a, b in pairwise(ds):
            assert (b - a).days >= spacing[item]
            monthly += 1
    assert monthly > 50  # monthly items really were spaced across the quarter


def test_team_capacity_is_never_exceeded(quarter):
    _, plan = quarter
    booked = Counter()
    for v in plan.visits:
        for team, minutes in v.team_minutes.items():
            booked[(team, v.day)] += minutes
    cap = {(w.team, w.day): w.capacity_min for w in plan.workload}
    assert booked and all(m <= cap[k] for k, m in booked.items())


def test_joint_visit_needs_every_team_available_that_day(data):
    # 县市场监管局's brigades are away on every Wednesday of January: no joint visit with
    # them may fall on a Wednesday, and their checks still get done on other days.
    weds = [date(2025, 1, 1) + timedelta(days=k) for k in range(31)
            if (date(2025, 1, 1) + timedelta(days=k)).weekday() == 2]
    _, plan = _plan(data, date(2025, 1, 1), date(2025, 2, 1), n=80,
                    unavailable={"scjg": weds})
    joint = [v for v in plan.visits if v.joint]
    assert joint
    avail = plan.availability()
    for v in joint:
        assert all(v.day in avail[t] for t in v.teams)
    scjg = [v for v in plan.visits if "dept:scjg" in v.teams]
    assert scjg and all(v.day not in weds for v in scjg)
    assert plan.problems() == []


def test_anti_repeat_holds_for_whistle_and_not_for_the_baseline(quarter):
    _, plan = quarter
    assert plan.anti_repeat_violations() == []
    assert plan.metrics["anti_repeat_violations"]["whistle"] == 0
    assert plan.metrics["anti_repeat_violations"]["baseline"] > 0
    by_obj: dict[str, list[date]] = {}
    for v in plan.visits:
        if v.combinable:
            by_obj.setdefault(v.object_id, []).append(v.day)
    for ds in by_obj.values():
        ds.sort()
        assert all((b - a).days >= 7 for a, b in pairwise(ds))


def test_joint_plan_halves_visits_against_departments_alone(quarter):
    _, plan = quarter
    m = plan.metrics
    assert m["visits"]["whistle"] <= 0.5 * m["visits"]["baseline"]
    assert m["reduction"] >= 0.5
    assert m["visits"]["whistle"] >= m["visits_lower_bound"]
    assert m["joint_visits"] > 0
    s = plan.solver
    assert s.status in ("OPTIMAL", "FEASIBLE")
    assert s.best_bound <= s.objective and 0 <= s.gap < 1


def test_department_without_certified_officer_is_listed_with_the_reason(data):
    # In the sample, 县应急管理局's only officer's certificate ran out on 2024-03-31.
    _, plan = _plan(data, date(2025, 1, 1), date(2025, 2, 1), n=60)
    yjj = [u for u in plan.unplaced if u.team == "dept:yjj"]
    assert yjj
    assert all(u.kind == "no_certified_officer" and "县应急管理局" in u.reason for u in yjj)
    assert plan.visits  # the rest of the plan is still made


def test_expired_certificates_take_a_department_off_the_plan(data):
    roster = data["roster"]
    teams = []
    for t in roster.teams:
        if t.department == "scjg":
            members = tuple(replace(m, certificate=Certificate(m.certificate.number,
                                                               date(2019, 1, 1),
                                                               date(2024, 12, 31)))
                            if m.certificate else m for m in t.members)
            t = replace(t, members=members)
        teams.append(t)
    expired = TeamRoster(roster.district, roster.version, tuple(teams))
    _, plan = _plan(data, date(2025, 1, 1), date(2025, 2, 1), n=60, roster=expired)
    scjg = [u for u in plan.unplaced if u.team == "dept:scjg"]
    assert scjg and {u.kind for u in scjg} == {"no_certified_officer"}
    assert plan.visits and all("dept:scjg" not in v.teams for v in plan.visits)


def test_capacity_shortfall_names_the_team_and_the_minutes(data):
    # One-hour shifts leave the township team too little time for 200 objects' January.
    _, plan = _plan(data, date(2025, 1, 1), date(2025, 2, 1), n=200, shift_min=60)
    short = [u for u in plan.unplaced if u.kind == "capacity"]
    assert short
    assert any("exceeded by" in u.reason and "min" in u.reason for u in short)
    over = [r for r in plan.metrics["capacity_check"] if r["over_min"] > 0]
    assert any(r["team"] == "CS01-zfd" for r in over)
    assert plan.problems() == []


def test_holidays_are_never_used_and_makeup_workdays_are(data):
    # National Day 2025: 10-01..10-08 off; Saturday 10-11 is a make-up working day. Keep every
    # team away on all other October working days, so 10-11 is the only day left.
    start, end = date(2025, 10, 1), date(2025, 11, 1)
    others = [start + timedelta(days=k) for k in range(31)
              if is_working_day(start + timedelta(days=k))
              and start + timedelta(days=k) != date(2025, 10, 11)]
    codes = {"CS01-zfd", "scjg", "sthj", "zhzf", "zrzy", "zjj", "jtj", "wgl", "nyj", "slj",
             "yjj"}
    _, plan = _plan(data, start, end, n=40, unavailable={c: others for c in codes})
    assert date(2025, 10, 11) in plan.working_days
    assert not any(date(2025, 10, d) in plan.working_days for d in range(1, 9))
    days = {v.day for v in plan.visits}
    assert days == {date(2025, 10, 11)}
    assert plan.problems() == []


def test_bad_unavailable_key_is_refused_by_name(data):
    with pytest.raises(CalendarInputError, match="nosuchdept"):
        _plan(data, date(2025, 1, 1), date(2025, 2, 1), n=5,
              unavailable={"nosuchdept": [date(2025, 1, 2)]})
    with pytest.raises(CalendarInputError, match="anti_repeat_days"):
        _plan(data, date(2025, 1, 1), date(2025, 2, 1), n=5, anti_repeat_days=-1)


def test_plan_is_json_ready(quarter):
    _, plan = quarter
    doc = json.loads(json.dumps(plan.as_dict(), ensure_ascii=False))
    assert doc["metrics"]["visits"]["whistle"] == len(plan.visits)
    assert doc["travel"]["eta_source"] == "estimate"
    assert sum(len(d["visits"]) for d in doc["days"]) == len(plan.visits)
    assert doc["solver"]["status"] in ("OPTIMAL", "FEASIBLE")


def test_public_exports_carry_no_personal_data(quarter, data, tmp_path):
    _, plan = quarter
    text = public_csv_text(plan)
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == len(plan.visits) + 1
    assert rows[0][:3] == ["日期", "星期", "检查对象"]
    people = [m for t in data["roster"].teams for m in t.members]
    for m in people:
        assert m.name not in text and m.id not in text
        if m.certificate:
            assert m.certificate.number not in text
    csv_path = write_public_csv(plan, tmp_path / "plan.csv")
    assert csv_path.read_bytes().startswith("\ufeff".encode())
    from openpyxl import load_workbook

    wb = load_workbook(write_public_xlsx(plan, tmp_path / "plan.xlsx"))
    sheet = wb["检查计划"]
    assert sheet.max_row == len(plan.visits) + 2
    cells = " ".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value)
    assert not any(m.name in cells for m in people)


def _night_prone(data, start, end, n=24, **opts):
    """Objects of the zone whose types have night items (sites, venues, quarries)."""
    zone = zone_demand(data["objects"], data["items"], data["district"], ZONE, start, end)
    kinds = {"construction_site", "entertainment", "mine_quarry", "restaurant"}
    idx = sorted((i for i in zone.object_index.tolist()
                  if data["objects"].objects[i].object_type in kinds),
                 key=lambda i: data["objects"].objects[i].id)[:n]
    dem = demand(data["objects"], data["items"], idx, start, end, zone.area)
    options = CalendarOptions(**{"time_limit_s": 1.0, **opts})
    return dem, plan_calendar(dem, data["roster"], data["catalogue"], data["travel"], options)


def test_night_checks_book_the_night_duty_not_the_day(data):
    by_code = data["items"].by_code
    _, plan = _night_prone(data, date(2025, 1, 1), date(2025, 4, 1))
    assert plan.problems() == []
    night = [v for v in plan.visits if v.duty == "night"]
    assert night, "the sample's night items (渣土夜查, 夜间施工噪声, 夜间专项) must appear"
    objs = data["objects"].by_id

    def hours(v, c):  # the item's window replaces the opening hours
        o = objs[v.object_id]
        return by_code[c.item].visit_window or (o.open_min, o.close_min)

    for v in night:
        for c in v.checks:
            lo, hi = hours(v, c)
            assert min(hi, 1050) - max(lo, 510) < by_code[c.item].duration_min
    assert any(by_code[v.checks[0].item].visit_window for v in night)
    # A venue open only at night still gets its combinable checks in one joint night visit.
    assert any(v.combinable and len(v.checks) > 1 for v in night)
    for v in plan.visits:
        if v.duty == "day":
            for c in v.checks:
                lo, hi = hours(v, c)
                assert min(hi, 1050) - max(lo, 510) >= by_code[c.item].duration_min
    days = plan.team_days()
    booked: Counter = Counter()
    for v in plan.visits:
        for team, m in v.team_minutes.items():
            booked[(team, v.day, v.duty)] += m
    for (team, d), w in days.items():
        assert w.booked_min == booked[(team, d, "day")]
        assert w.night_booked_min == booked[(team, d, "night")] <= w.night_capacity_min
    assert all(v["duty"] in ("day", "night") for d in plan.as_dict()["days"]
               for v in d["visits"])
    # Without night crews the same checks are not placed, and the reason says why.
    _, none = _night_prone(data, date(2025, 1, 1), date(2025, 4, 1), night_crews=0)
    assert none.problems() == [] and not [v for v in none.visits if v.duty == "night"]
    missing = [u for u in none.unplaced if u.kind == "no_night_duty"]
    assert len(missing) == sum(len(v.checks) for v in night)
    assert sum(len(v.checks) for v in none.visits) == sum(
        len(v.checks) for v in plan.visits if v.duty == "day")
    assert "night_crews 0" in missing[0].reason
