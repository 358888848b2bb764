"""The power catalogue: a validated, append-only log replayed into what is in force by date."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
import typer
from typer.testing import CliRunner

from dispatch.catalog import CatalogError, Catalogue, bundled_catalog_path, load_catalog
from dispatch.catalog.loader import parse_catalog, read_document
from dispatch.catalog.models import DOMAINS, GrantRecord
from geo.boundaries import Area, District, Township
from web.commands import catalog as catalog_cmd

# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(changshan: District) -> Catalogue:
    return load_catalog(bundled_catalog_path(), changshan)


def tiny_district() -> District:
    """Three townships in a row: a street, a hub town and the township it radiates to."""
    ts = (Township("T1", "甲街道", "街道", "urban_street", shapely.box(0, 0, 0.1, 0.1)),
          Township("T2", "乙镇", "镇", "hub_town", shapely.box(0.1, 0, 0.2, 0.1)),
          Township("T3", "丙乡", "乡", "rural_township", shapely.box(0.2, 0, 0.3, 0.1)))
    return District("demo", "示例区", 32650, ts,
                    clusters=(Area("c-T2", "乙组团", "cluster", ("T2", "T3"), hub="T2"),))


def tiny_doc(*records: dict[str, Any]) -> dict[str, Any]:
    return {
        "district": "demo", "version": "t1",
        "departments": [{"code": "zf", "name": "区综合行政执法局"},
                        {"code": "sj", "name": "区市场监管局"}],
        "matters": [
            {"code": "M1", "name": "对在城市道路两侧和公共场地堆放物料的处罚",
             "domain": "城市市容和环境卫生", "department": "zf"},
            {"code": "M2", "name": "对经营者未按规定明码标价的处罚",
             "domain": "工商行政管理", "department": "sj"},
        ],
        "records": list(records),
    }


def grant(gid: str, recorded: str, effective: str, target: dict[str, str],
          matters: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": gid, "type": "grant", "recorded_at": recorded, "matters": matters or ["M1"],
            "target": target, "effective_from": effective, **extra}


def recall(rid: str, recorded: str, gid: str, effective: str, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "type": "recall", "recorded_at": recorded, "grant": gid,
            "effective": effective, **extra}


def problems_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(CatalogError) as err:
        parse_catalog(doc, tiny_district())
    return [str(p) for p in err.value.problems]


# -- the sample -----------------------------------------------------------------------------


def test_sample_is_labelled_as_sample_data():
    doc = read_document(bundled_catalog_path())
    assert next(iter(doc)) == "_note"
    assert "SAMPLE" in doc["_note"] and "NOT THE OFFICIAL LIST" in doc["_note"]
    readme = (bundled_catalog_path().parent / "README.md").read_text(encoding="utf-8")
    assert "SAMPLE DATA, not the official list" in readme


def test_sample_covers_the_23_changshan_domains_with_over_100_matters(sample):
    domains = {m.domain for m in sample.matters.values()}
    assert domains == set(DOMAINS) and len(DOMAINS) == 23
    assert len(sample.matters) >= 100
    # every domain has at least one matter a township holds somewhere
    held = {sample.matters[ln.matter].domain for ln in sample.in_force(date(2024, 6, 1))}
    assert held == set(DOMAINS)


def test_sample_grants_start_at_the_2021_reform_with_townships_in_charge_from_august(sample):
    first = sample.log.records[0]
    assert isinstance(first, GrantRecord) and first.effective_from == date(2021, 6, 1)
    assert not sample.in_force(date(2021, 7, 31))
    in_aug = sample.in_force(date(2021, 8, 1))
    assert {ln.target.value for ln in in_aug} == {"urban_street", "hub_town"}


def test_sample_exercises_recalls_corrections_and_entrustment(sample):
    kinds = {r.kind for r in sample.log.records}
    assert kinds == {"grant", "recall", "correction"}
    assert any(ln.mode == "entrusted" for ln in sample.lines)
    assert any(ln.recalled_on for ln in sample.lines)
    assert any(m.department is None for m in sample.matters.values())


def test_in_force_at_date_and_township(sample):
    day = date(2024, 8, 15)
    street = {ln.matter for ln in sample.in_force(day, "CS01")}
    radiated = {ln.matter for ln in sample.in_force(day, "CS10")}
    assert "SR001" in street and "SR001" in radiated
    assert "GH001" not in street  # recalled from the streets on 2024-01-01
    assert "LZ001" not in radiated  # recalled from rural townships on 2024-03-01
    assert "AQ004" not in {ln.matter for ln in sample.in_force(day, "CS04")}  # in transition
    assert "AQ004" in {ln.matter for ln in sample.in_force(date(2024, 10, 1), "CS04")}


def test_index_matches_direct_replay_on_every_boundary_day(sample):
    """The per-(matter, township) index gives what evaluating every line directly gives."""
    days = sorted({b + timedelta(days=k) for ln in sample.lines
                   for b in (ln.start, ln.takeover, ln.end) if b for k in (-1, 0)})
    for code in ("CS01", "CS04", "CS05", "CS10", "CS14"):
        for matter in sample.matters:
            lines = [ln for ln in sample.lines if ln.matter == matter
                     and code in sample.townships_of(ln.target)]
            for day in days[::7]:
                want = {(ln.grant, ln.phase_at(day)) for ln in lines
                        if ln.phase_at(day) != "before"}
                got = {(ln.grant, ph) for ln, ph in sample.states_at(matter, code, day)}
                assert got == want, (matter, code, day)


# -- history is append-only -----------------------------------------------------------------


def test_recall_adds_record_history_kept():
    doc = tiny_doc(grant("G1", "2021-05-20", "2021-06-01", {"class": "urban_street"}),
                   recall("R1", "2023-06-01", "G1", "2023-07-01"))
    before = copy.deepcopy(doc)
    cat = Catalogue(parse_catalog(doc, tiny_district()), tiny_district())
    assert doc == before  # nothing rewritten
    (line,) = cat.lines
    assert line.effective_from == date(2021, 6, 1) and line.recalled_on == date(2023, 7, 1)
    assert line.history == ("G1", "R1")
    assert [r.id for r in cat.history("M1")] == ["G1", "R1"]
    # the grant record itself still says what it said
    g1 = cat.log.records[0]
    assert isinstance(g1, GrantRecord) and g1.effective_from == date(2021, 6, 1)
    assert [ln.matter for ln in cat.in_force(date(2023, 6, 30), "T1")] == ["M1"]
    assert cat.in_force(date(2023, 7, 1), "T1") == []


def test_as_known_at_replays_only_what_was_recorded_by_then():
    doc = tiny_doc(grant("G1", "2021-05-20", "2021-06-01", {"class": "urban_street"}),
                   recall("R1", "2023-06-01T09:00", "G1", "2023-07-01"))
    cat = Catalogue(parse_catalog(doc, tiny_district()), tiny_district())
    earlier = cat.as_known_at(datetime(2023, 5, 31))
    assert earlier.lines[0].recalled_on is None
    assert earlier.version == "t1@G1" and cat.version == "t1@R1"
    assert [ln.matter for ln in earlier.in_force(date(2023, 8, 1), "T1")] == ["M1"]


def test_correction_counts_only_once_recorded(sample):
    # The 2022 rural grant was recorded as effective 2022-01-10, corrected on 2022-01-04.
    before = sample.as_known_at(datetime(2022, 1, 3))
    after = sample.as_known_at(datetime(2022, 1, 5))
    line = next(ln for ln in before.lines if ln.grant == "G2022-RURAL")
    fixed = next(ln for ln in after.lines if ln.grant == "G2022-RURAL")
    assert line.effective_from == date(2022, 1, 10)
    assert fixed.effective_from == date(2022, 1, 1) and "C2022-01" in fixed.history


def test_void_correction_removes_a_grant_recorded_in_error(sample):
    known_then = sample.as_known_at(datetime(2023, 2, 15))
    assert any(ln.grant == "G2023-JC" for ln in known_then.lines)
    assert not any(ln.grant == "G2023-JC" for ln in sample.lines)
    assert [r.id for r in sample.history("JT004")] == ["G2023-JC", "C2023-01"]


def test_regrant_after_recall_is_not_an_overlap():
    doc = tiny_doc(grant("G1", "2021-05-20", "2021-06-01", {"township": "T1"}),
                   recall("R1", "2022-06-01", "G1", "2022-07-01"),
                   grant("G2", "2023-06-01", "2023-07-01", {"township": "T1"}))
    cat = Catalogue(parse_catalog(doc, tiny_district()), tiny_district())
    assert [ln.grant for ln in cat.in_force(date(2024, 1, 1), "T1")] == ["G2"]


# -- validation -----------------------------------------------------------------------------


def test_unknown_references_are_all_listed_with_record_and_field():
    doc = tiny_doc(grant("G1", "2021-05-20", "2021-06-01", {"township": "T9"}),
                   grant("G2", "2021-05-20", "2021-06-01", {"class": "capital"}),
                   grant("G3", "2021-05-20", "2021-06-01", {"class": "hub_town"}, ["M9"]))
    doc["matters"].append({"code": "M3", "name": "x", "domain": "城市市容和环境卫生",
                           "department": "nope"})
    found = problems_of(doc)
    assert "matter M3.department: unknown department 'nope'" in found
    assert "G1.target: 'T9' is not a township of district demo" in found
    assert any(p.startswith("G2.target: unknown town class 'capital'") for p in found)
    assert "G3.matters: unknown matter 'M9'" in found
    assert len(found) == 4


def test_unknown_domain_is_refused():
    doc = tiny_doc()
    doc["matters"][0]["domain"] = "城管"
    assert any(p.startswith("matter M1.domain: '城管' is not one of") for p in problems_of(doc))


def test_overlapping_grants_refused():
    doc = tiny_doc(grant("G1", "2021-05-20", "2021-06-01", {"class": "hub_town"}),
                   grant("G2", "2022-01-01", "2022-03-01", {"class": "hub_town"}))
    (msg,) = problems_of(doc)
    assert msg.startswith("G2.effective_from: matter M1 for class:hub_town overlaps grant G1")


def test_grants_to_class_and_named_township_may_coexist():
    doc = tiny_doc(grant("G1", "2021-05-20", "2021-06-01", {"class": "hub_town"}),
                   grant("G2", "2022-01-01", "2022-03-01", {"township": "乙镇"}))
    cat = Catalogue(parse_catalog(doc, tiny_district()), tiny_district())
    assert {ln.target.value for ln in cat.lines} == {"hub_town", "T2"}  # name → code


def test_recall_before_grant_refused():
    doc = tiny_doc(grant("G1", "2021-05-20", "2021-06-01", {"class": "hub_town"}),
                   recall("R1", "2021-05-25", "G1", "2021-05-30"))
    (msg,) = problems_of(doc)
    assert msg.startswith("R1.effective: recall of matter M1 takes effect 2021-05-30, before")


def test_recall_of_a_matter_twice_or_outside_the_grant_refused():
    doc = tiny_doc(grant("G1", "2021-05-20", "2021-06-01", {"class": "hub_town"}),
                   recall("R1", "2022-01-01", "G1", "2022-02-01"),
                   recall("R2", "2022-03-01", "G1", "2022-04-01"),
                   recall("R3", "2022-03-01", "G1", "2022-04-01", matters=["M2"]))
    found = problems_of(doc)
    assert "R3.matters: 'M2' is not a matter of grant G1" in found
    assert len(found) == 1  # R2 is only judged on replay, once the structure is sound
    del doc["records"][3]
    assert problems_of(doc)[0].startswith("R2.matters: matter M1 of grant G1 is already "
                                          "recalled by R1")


def test_entrusted_grant_without_agreement_refused():
    doc = tiny_doc(grant("E1", "2022-01-01", "2022-02-01", {"township": "T1"},
                         mode="entrusted"))
    (msg,) = problems_of(doc)
    assert msg.startswith("E1.agreement: an entrusted (委托) grant needs an agreement")


def test_entrusted_agreement_checks_term_and_entrusting_department():
    agreement = {"department": "sj", "basis": "b", "scope": "s", "duties": "d",
                 "term_start": "2022-02-01", "term_end": "2022-01-01"}
    doc = tiny_doc(grant("E1", "2022-01-01", "2022-02-01", {"township": "T1"},
                         mode="entrusted", agreement=agreement))
    assert problems_of(doc) == ["E1.agreement.term_end: 2022-01-01 is before term_start "
                                "2022-02-01"]
    agreement["term_end"] = "2023-01-31"
    assert problems_of(doc) == ["E1.matters: M1 is owned by zf, so sj cannot entrust it"]


def test_agreement_on_a_granted_matter_refused():
    doc = tiny_doc(grant("G1", "2022-01-01", "2022-02-01", {"township": "T1"},
                         agreement={"department": "zf"}))
    assert problems_of(doc)[0].startswith("G1.agreement: only an entrusted (委托) grant")


def test_transition_months_negative_refused():
    doc = tiny_doc(grant("G1", "2022-01-01", "2022-02-01", {"township": "T1"},
                         transition_months=-1))
    assert problems_of(doc) == ["G1.transition_months: -1 is not a whole number of months "
                                ">= 0"]


def test_records_must_be_appended_in_recording_order():
    doc = tiny_doc(grant("G1", "2022-01-01", "2022-02-01", {"township": "T1"}),
                   grant("G2", "2021-01-01", "2021-02-01", {"township": "T2"}))
    assert problems_of(doc)[0].startswith("G2.recorded_at: 2021-01-01 00:00:00 is earlier "
                                          "than the record before it")


def test_correction_may_only_touch_allowed_fields_and_needs_a_reason():
    doc = tiny_doc(grant("G1", "2022-01-01", "2022-02-01", {"township": "T1"}),
                   {"id": "C1", "type": "correction", "recorded_at": "2022-01-02",
                    "corrects": "G1", "set": {"matters": ["M2"]}})
    found = problems_of(doc)
    assert "C1.reason: missing" in found
    assert any(p.startswith("C1.set.matters: cannot correct 'matters' of a grant")
               for p in found)


def test_bad_dates_and_duplicate_ids_are_named():
    doc = tiny_doc(grant("G1", "2022-01-01", "2022-02-30", {"township": "T1"}),
                   grant("G1", "2022-01-01", "2022-02-01", {"township": "T2"}))
    found = problems_of(doc)
    assert "G1.effective_from: '2022-02-30' is not a date (YYYY-MM-DD)" in found
    assert "G1.id: duplicate record id (records[1])" in found


def test_error_message_lists_every_problem():
    doc = tiny_doc(grant("G1", "2022-01-01", "2022-02-01", {"township": "T9"},
                         transition_months=-3))
    with pytest.raises(CatalogError) as err:
        parse_catalog(doc, tiny_district())
    text = str(err.value)
    assert text.startswith("2 problem(s) in the power catalogue:")
    assert "G1.target" in text and "G1.transition_months" in text


# -- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, monkeypatch) -> typer.Typer:
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", f"sqlite:///{tmp_path / 'whistle.db'}")
    app = typer.Typer()
    app.add_typer(catalog_cmd.app, name="catalog")
    return app


def test_cli_show_lists_holders_with_reasons(cli):
    res = CliRunner().invoke(cli, ["catalog", "show", "--at", "2024-08-15", "--township",
                                   "辉埠镇", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["township"] == {"code": "CS04", "name": "辉埠镇"}
    by = {m["matter"]: m for m in out["matters"]}
    assert len(by) >= 100
    assert by["SR001"]["kind"] == "township"
    assert by["AQ004"]["kind"] == "department"
    assert by["AQ004"]["reasons"][-1]["code"] == "grant.in_transition"
    assert by["AQ004"]["reasons"][-1]["on"] == "2024-10-01"
    assert by["AQ005"]["reasons"][-1]["code"] == "grant.recalled"
    assert by["AQ005"]["reasons"][-1]["on"] == "2023-07-01"
    assert by["AQ001"]["reasons"][-1]["code"] == "grant.not_granted"
    assert sum(out["counts"].values()) == len(by)


def test_cli_show_radiated_township_table(cli):
    res = CliRunner().invoke(cli, ["catalog", "show", "--at", "2024-08-15", "--township",
                                   "CS10", "--domain", "城市市容和环境卫生", "--held-only"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "辉埠镇综合行政执法队 (代何家乡)" in res.stdout
    assert "何家乡人民政府" in res.stdout and "SR001" in res.stdout
    assert "SR002" not in res.stdout  # not granted to rural townships


def test_cli_known_at_reproduces_the_earlier_catalogue(cli):
    args = ["catalog", "show", "--at", "2023-03-15", "--township", "金川街道", "--json"]
    then = json.loads(CliRunner().invoke(cli, [*args, "--known-at", "2023-02-15"]).stdout)
    now = json.loads(CliRunner().invoke(cli, args).stdout)
    pick = {m["matter"]: m for m in then["matters"]}["JT004"]
    assert pick["kind"] == "department" and pick["reasons"][-1]["code"] == "grant.in_transition"
    assert {m["matter"]: m for m in now["matters"]}["JT004"]["reasons"][-1]["code"] \
        == "grant.not_granted"
    assert then["catalogue_version"] == "changshan-sample-1@G2023-JC"


def test_cli_decide_explains_a_transfer(cli):
    res = CliRunner().invoke(cli, ["catalog", "decide", "HJ003", "--township", "辉埠镇",
                                   "--at", "2024-08-15T10:00", "--fine", "60000",
                                   "--held-by", "辉埠镇", "--lang", "en"],
                             env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "(transfer)" in res.stdout and "major penalty" in res.stdout


def test_cli_bad_input_is_one_line_on_stderr(cli):
    runner = CliRunner()
    res = runner.invoke(cli, ["catalog", "show", "--at", "2024-13-01", "--township", "CS01"])
    assert res.exit_code == 2 and "--at: '2024-13-01' is not a date" in res.stderr
    res = runner.invoke(cli, ["catalog", "show", "--at", "2024-01-01", "--township", "无此乡"])
    assert res.exit_code == 2 and "'无此乡' is neither a township" in res.stderr
    res = runner.invoke(cli, ["catalog", "decide", "SR001", "--township", "CS01", "--at",
                              "2024-01-01", "--measure", "fine_everyone"])
    assert res.exit_code == 2 and "measures: unknown fine_everyone" in res.stderr
    assert "Traceback" not in res.output


def test_cli_check_lists_problems_and_fails(cli, tmp_path: Path):
    doc = read_document(bundled_catalog_path())
    doc["records"].append({"id": "R-bad", "type": "recall", "recorded_at": "2030-01-01",
                           "grant": "G2021-HUB", "matters": ["SR001"],
                           "effective": "2020-01-01"})
    doc["matters"][0]["department"] = "县不存在局"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    res = CliRunner().invoke(cli, ["catalog", "check", str(path), "--json"])
    assert res.exit_code == 1
    problems = json.loads(res.stdout)
    assert {"record": "matter AQ001", "field": "department",
            "message": "unknown department '县不存在局'"} in problems
    ok = CliRunner().invoke(cli, ["catalog", "check", str(bundled_catalog_path())])
    assert ok.exit_code == 0 and "118 matters" in ok.stdout
