"""Teams and officers: the sample roster, the loader's refusals, live positions and the CLI."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import shapely
from typer.testing import CliRunner

from dispatch.teams import (
    Position,
    TeamError,
    TeamRegistry,
    UnknownTeamError,
    bundled_teams,
    bundled_teams_path,
    catalogue_departments,
    parse_teams,
)
from dispatch.teams.models import LEGAL_REVIEWER_SHARE
from geo.boundaries import District
from geo.locate import Locator
from web.commands.teams import app

NOW = datetime(2024, 5, 6, 10, 0)  # naive = local (Asia/Shanghai) time


@pytest.fixture(scope="module")
def locator(changshan: District) -> Locator:
    return Locator(changshan)


@pytest.fixture(scope="module")
def departments() -> dict[str, str]:
    return catalogue_departments()


@pytest.fixture(scope="module")
def roster(changshan, departments, locator):
    return bundled_teams(changshan, departments, locator)


@pytest.fixture(scope="module")
def sample_doc() -> dict[str, Any]:
    return json.loads(bundled_teams_path().read_text(encoding="utf-8"))


def problems(doc: dict[str, Any], district: District, departments, locator
             ) -> list[tuple[str, str, str]]:
    with pytest.raises(TeamError) as exc:
        parse_teams(doc, district, departments, locator)
    return [(p.record, p.field, p.message) for p in exc.value.problems]


def edited(doc: dict[str, Any], team_id: str, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    team = next(t for t in out["teams"] if t["id"] == team_id)
    team.update(changes)
    return out


def registry(changshan, roster, locator, **kw: Any) -> TeamRegistry:
    return TeamRegistry(roster, changshan, locator, clock=lambda: NOW, **kw)


# -- the sample roster --------------------------------------------------------------------


def test_sample_roster_is_labelled_sample(roster, sample_doc):
    assert "SAMPLE" in sample_doc["_note"] and "示例" in sample_doc["_note"]
    assert roster.note == sample_doc["_note"]
    readme = (bundled_teams_path().parent / "README.md").read_text(encoding="utf-8")
    assert "SAMPLE DATA" in readme


def test_sample_has_the_three_street_and_four_hub_teams(roster, changshan):
    streets = {changshan.township(t.township).name for t in roster.teams if t.kind == "township"}
    hubs = {changshan.township(t.township).name for t in roster.teams if t.kind == "hub"}
    assert streets == {"天马街道", "紫港街道", "金川街道"}
    assert hubs == {"辉埠镇", "球川镇", "青石镇", "芳村镇"}


def test_hub_team_serves_every_township_of_its_cluster(roster, changshan):
    for cluster in changshan.clusters:
        hub_team = next(t for t in roster.teams if t.kind == "hub" and t.township == cluster.hub)
        assert set(hub_team.serves) == set(cluster.members)
        assert hub_team.serves[0] == cluster.hub
        for member in cluster.members:
            if member != cluster.hub:
                assert f"hub:{cluster.hub}:{member}" in hub_team.authority_keys()


def test_department_teams_serve_catalogue_departments(roster, departments):
    brigades = {t.department for t in roster.teams if t.kind == "department"}
    assert {"scjg", "zrzy", "sthj", "zjj", "nyj", "jtj", "yjj"} <= brigades
    assert brigades <= set(departments)
    city = [t for t in roster.teams if t.kind == "city"]
    assert city and all(t.coordinated and t.level == "city" for t in city)
    assert all(t.department in departments for t in city)


def test_every_base_lies_in_the_teams_own_township(roster, changshan, locator):
    for t in roster.teams:
        k = int(locator.township_index([t.base_lon], [t.base_lat])[0])
        assert k >= 0, t.id
        where = changshan.townships[k].code
        assert where == t.base_township
        if t.kind in ("township", "hub"):
            assert where == t.township, t.id
        if t.kind == "department":
            assert changshan.townships[k].name == "天马街道", t.id  # the county seat


def test_sample_team_sizes_and_roles(roster):
    for t in roster.teams:
        assert 3 <= len(t.members) <= 15, t.id
        assert all(m.certificate is None for m in t.members_with("auxiliary"))
        assert all(m.certificate is not None for m in t.officers)


def test_legal_reviewers_are_at_least_five_percent_of_staff(roster):
    staff = sum(len(t.members) for t in roster.teams)
    reviewers = sum(len(t.members_with("legal_reviewer")) for t in roster.teams)
    assert reviewers / staff >= LEGAL_REVIEWER_SHARE
    for t in roster.teams:
        if t.kind in ("township", "hub"):
            assert len(t.members_with("legal_reviewer")) / len(t.members) >= LEGAL_REVIEWER_SHARE


def test_sample_has_expired_certificates_and_a_team_with_none_valid(roster):
    day = date(2024, 5, 6)
    expired = [m for t in roster.teams for m in t.officers if m.certificate.valid_to < day]
    assert expired
    yjj = roster.team("dept-yjj")
    assert len(yjj.officers) == 1 and yjj.certified_on(day) == ()
    assert yjj.officers[0].certificate.valid_to == date(2024, 3, 31)
    assert len(yjj.certified_on(date(2024, 3, 31))) == 1  # valid through its last day


def test_certificate_not_yet_valid_does_not_count(roster):
    zigang = roster.team("CS02-zfd")
    late = next(m for m in zigang.officers if m.certificate.valid_from == date(2026, 12, 1))
    assert late not in zigang.certified_on(date(2026, 11, 30))
    assert late in zigang.certified_on(date(2026, 12, 1))


# -- the loader refuses bad data, naming record and field ----------------------------------


def test_unknown_township_is_refused(sample_doc, changshan, departments, locator):
    doc = edited(sample_doc, "CS01-zfd", township="CS99")
    assert ("CS01-zfd", "township", "'CS99' is not a township of changshan") in \
        problems(doc, changshan, departments, locator)


def test_township_may_be_given_by_name(sample_doc, changshan, departments, locator):
    doc = edited(sample_doc, "CS01-zfd", township="天马街道")
    assert parse_teams(doc, changshan, departments, locator).team("CS01-zfd").township == "CS01"


def test_unknown_department_is_refused(sample_doc, changshan, departments, locator):
    doc = edited(sample_doc, "dept-scjg", department="gsj")
    found = problems(doc, changshan, departments, locator)
    assert [(r, f) for r, f, _ in found] == [("dept-scjg", "department")]
    assert "'gsj' is not a department" in found[0][2]


def test_hub_team_on_a_township_that_is_no_hub_is_refused(sample_doc, changshan, departments,
                                                          locator):
    doc = edited(sample_doc, "CS01-zfd", kind="hub")
    found = problems(doc, changshan, departments, locator)
    assert found[0][:2] == ("CS01-zfd", "township") and "not the hub" in found[0][2]


def test_base_outside_the_district_is_refused(sample_doc, changshan, departments, locator):
    doc = edited(sample_doc, "dept-scjg", base={"lon": 120.15, "lat": 30.28})  # Hangzhou
    found = problems(doc, changshan, departments, locator)
    assert found == [("dept-scjg", "base", "(120.15, 30.28) is outside 常山县 (changshan)")]


def test_township_team_based_in_another_township_is_refused(sample_doc, changshan, departments,
                                                            locator):
    doc = edited(sample_doc, "CS03-zfd", base={"lon": 118.512, "lat": 28.905})  # in 天马
    found = problems(doc, changshan, departments, locator)
    assert found[0][:2] == ("CS03-zfd", "base") and "天马街道" in found[0][2]


def test_base_that_is_not_a_coordinate_is_refused(sample_doc, changshan, departments, locator):
    doc = edited(sample_doc, "CS03-zfd", base={"lon": "118.5", "lat": 28.9})
    assert problems(doc, changshan, departments, locator)[0][:2] == ("CS03-zfd", "base.lon")


def test_duplicate_team_id_is_refused(sample_doc, changshan, departments, locator):
    doc = copy.deepcopy(sample_doc)
    twin = copy.deepcopy(doc["teams"][2])
    for i, m in enumerate(twin["members"]):
        m["id"] = f"twin-{i}"
        if m.get("certificate"):
            m["certificate"]["number"] = f"twin-cert-{i}"
    doc["teams"].append(twin)
    assert ("CS03-zfd", "id", "duplicate team id") in problems(doc, changshan, departments,
                                                               locator)


def test_duplicate_member_id_and_certificate_number_are_refused(sample_doc, changshan,
                                                                departments, locator):
    doc = copy.deepcopy(sample_doc)
    doc["teams"][1]["members"][0] = copy.deepcopy(doc["teams"][0]["members"][0])
    found = problems(doc, changshan, departments, locator)
    fields = {(r, f) for r, f, _ in found}
    assert ("CS01-zfd-01", "id") in fields
    assert ("CS01-zfd-01", "certificate.number") in fields


def test_certificate_ending_before_it_starts_is_refused(sample_doc, changshan, departments,
                                                       locator):
    doc = copy.deepcopy(sample_doc)
    cert = doc["teams"][0]["members"][0]["certificate"]
    cert.update(valid_from="2024-01-01", valid_to="2023-12-31")
    assert problems(doc, changshan, departments, locator) == [
        ("CS01-zfd-01", "certificate.valid_to", "2023-12-31 is before valid_from 2024-01-01")]


def test_officer_needs_a_certificate_and_auxiliary_holds_none(sample_doc, changshan,
                                                              departments, locator):
    doc = copy.deepcopy(sample_doc)
    members = doc["teams"][0]["members"]
    officer = next(m for m in members if m["role"] == "officer")
    aux = next(m for m in members if m["role"] == "auxiliary")
    del officer["certificate"]
    aux["certificate"] = {"number": "X1", "valid_from": "2024-01-01", "valid_to": "2025-01-01"}
    fields = {(r, f) for r, f, _ in problems(doc, changshan, departments, locator)}
    assert fields == {(officer["id"], "certificate"), (aux["id"], "certificate")}


def test_every_problem_is_listed_at_once(sample_doc, changshan, departments, locator):
    doc = edited(sample_doc, "CS01-zfd", township="CS99", duty="asleep")
    doc = edited(doc, "dept-scjg", department="gsj")
    with pytest.raises(TeamError) as exc:
        parse_teams(doc, changshan, departments, locator)
    fields = {(p.record, p.field) for p in exc.value.problems}
    assert fields == {("CS01-zfd", "township"), ("CS01-zfd", "duty"),
                      ("dept-scjg", "department")}
    assert "3 problem(s)" in str(exc.value)


def test_file_for_another_district_is_refused(sample_doc, changshan, departments, locator):
    doc = {**sample_doc, "district": "huancui"}
    assert ("teams", "district") in {(r, f) for r, f, _ in
                                      problems(doc, changshan, departments, locator)}


# -- live positions ------------------------------------------------------------------------


def test_position_update_is_kept_in_memory(changshan, roster, locator):
    reg = registry(changshan, roster, locator)
    pos = reg.update_position("CS04-zfd", 118.45, 28.97, NOW - timedelta(minutes=3))
    assert pos == Position(118.45, 28.97, NOW - timedelta(minutes=3))
    assert reg.position("CS04-zfd") == pos
    assert reg.state("CS04-zfd").position == pos
    assert reg.position("CS05-zfd") is None


def test_aware_times_are_stored_as_local_time(changshan, roster, locator):
    reg = registry(changshan, roster, locator)
    pos = reg.update_position("CS04-zfd", 118.45, 28.97, datetime(2024, 5, 6, 1, 0, tzinfo=UTC))
    assert pos.at == datetime(2024, 5, 6, 9, 0)


def test_position_of_unknown_team_is_refused(changshan, roster, locator):
    reg = registry(changshan, roster, locator)
    with pytest.raises(UnknownTeamError, match="team_id"):
        reg.update_position("nobody", 118.45, 28.97, NOW)


def test_position_that_is_not_a_coordinate_is_refused(changshan, roster, locator):
    reg = registry(changshan, roster, locator)
    with pytest.raises(TeamError) as exc:
        reg.update_position("CS04-zfd", float("nan"), 95.0, NOW)
    assert [p.field for p in exc.value.problems] == ["lon", "lat"]


def test_position_far_outside_the_district_is_refused(changshan, roster, locator):
    reg = registry(changshan, roster, locator)
    with pytest.raises(TeamError) as exc:
        reg.update_position("CS04-zfd", 120.15, 30.28, NOW)  # Hangzhou
    p = exc.value.problems[0]
    assert p.field == "lon/lat" and "km outside 常山县" in p.message
    assert reg.position("CS04-zfd") is None


def test_position_just_outside_the_district_is_accepted(changshan, roster, locator):
    reg = registry(changshan, roster, locator)
    minx = changshan.bounds[0]
    # Due west of the westernmost township vertex by ~500 m, still within tolerance.
    lon_w = minx - 0.005
    lat_w = next(y for x, y in _vertices(changshan) if x == minx)
    reg.update_position("CS05-zfd", lon_w, lat_w, NOW)
    assert reg.position("CS05-zfd").lon == lon_w


def _vertices(district: District) -> list[tuple[float, float]]:
    return [tuple(xy) for t in district.townships
            for xy in shapely.get_coordinates(t.geometry).tolist()]


def test_position_from_the_future_is_refused(changshan, roster, locator):
    reg = registry(changshan, roster, locator)
    with pytest.raises(TeamError) as exc:
        reg.update_position("CS04-zfd", 118.45, 28.97, NOW + timedelta(minutes=10))
    assert exc.value.problems[0].field == "at" and "future" in str(exc.value)
    reg.update_position("CS04-zfd", 118.45, 28.97, NOW + timedelta(seconds=30))  # clock skew


def test_position_older_than_the_last_one_is_refused(changshan, roster, locator):
    reg = registry(changshan, roster, locator)
    reg.update_position("CS04-zfd", 118.45, 28.97, NOW - timedelta(minutes=1))
    with pytest.raises(TeamError) as exc:
        reg.update_position("CS04-zfd", 118.46, 28.98, NOW - timedelta(minutes=5))
    assert exc.value.problems[0].field == "at" and "older than the last" in str(exc.value)
    assert reg.position("CS04-zfd").lon == 118.45


def test_persistence_hook_sees_each_position_and_a_failed_write_changes_nothing(
        changshan, roster, locator):
    written: list[tuple[str, Position]] = []
    fail = {"on": False}

    def hook(team_id: str, pos: Position) -> None:
        if fail["on"]:
            raise OSError("disk full")
        written.append((team_id, pos))

    reg = registry(changshan, roster, locator, on_position=hook)
    first = reg.update_position("CS04-zfd", 118.45, 28.97, NOW - timedelta(minutes=2))
    fail["on"] = True
    with pytest.raises(OSError):
        reg.update_position("CS04-zfd", 118.46, 28.98, NOW)
    assert written == [("CS04-zfd", first)]
    assert reg.position("CS04-zfd") == first


def test_duty_status_changes_and_bad_status_is_refused(changshan, roster, locator):
    reg = registry(changshan, roster, locator)
    assert reg.duty("dept-zjj") == "off_duty"  # as in the file
    reg.set_duty("dept-zjj", "on_duty")
    assert reg.duty("dept-zjj") == "on_duty"
    with pytest.raises(TeamError, match="duty"):
        reg.set_duty("dept-zjj", "lunch")
    assert reg.duty("dept-zjj") == "on_duty"


# -- CLI ------------------------------------------------------------------------------------


def test_cli_lists_teams_with_certified_officers_on_the_day():
    result = CliRunner().invoke(app, ["list", "--at", "2024-05-06", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert len(rows) == 20
    assert rows["dept-yjj"]["certified_officers"] == []
    assert rows["dept-yjj"]["officers_without_valid_certificate"][0]["valid_to"] == "2024-03-31"
    assert rows["CS04-zfd"]["base"]["township_name"] == "辉埠镇"
    assert [s["name"] for s in rows["CS04-zfd"]["serves"]] == ["辉埠镇", "何家乡", "大桥头乡"]
    assert rows["dept-zjj"]["duty"] == "off_duty"
    assert rows["city-scjg"]["coordinated"] is True
    earlier = json.loads(CliRunner().invoke(app, ["list", "--at", "2024-03-31", "--json"]).stdout)
    assert len(next(r for r in earlier if r["id"] == "dept-yjj")["certified_officers"]) == 1


def test_cli_table_and_bad_date():
    ok = CliRunner().invoke(app, ["list", "--at", "2024-05-06"])
    assert ok.exit_code == 0 and "legal reviewers" in ok.stdout
    bad = CliRunner().invoke(app, ["list", "--at", "someday"])
    assert bad.exit_code == 2 and "--at" in bad.output and "Traceback" not in bad.output


def test_cli_reports_a_bad_team_file_without_traceback(tmp_path, sample_doc):
    doc = edited(sample_doc, "CS01-zfd", township="CS99")
    path = tmp_path / "teams.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["list", "--teams", str(path)])
    assert result.exit_code == 2
    assert "CS01-zfd.township" in result.output and "Traceback" not in result.output
