"""Competence: who handles a case, and a reason chain a dispatcher can read."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import shapely

from dispatch.catalog import (
    CaseFacts,
    Catalogue,
    Competence,
    CompetenceError,
    bundled_catalog_path,
    load_catalog,
)
from dispatch.catalog.competence import MAJOR_MEASURES
from dispatch.catalog.loader import parse_catalog
from geo.boundaries import Area, District, Township


@pytest.fixture(scope="module")
def comp(changshan: District) -> Competence:
    return Competence(load_catalog(bundled_catalog_path(), changshan))


def small(*records: dict[str, Any], areas: list[dict[str, str]] | None = None) -> Competence:
    """A four-township district: a street, a hub town, the township it radiates to, and
    张村镇, which takes the cases of the 里口山-style management area."""
    box = lambda i: shapely.box(0.1 * i, 0, 0.1 * i + 0.1, 0.1)  # noqa: E731
    district = District(
        "demo", "示例区", 32650,
        (Township("T1", "甲街道", "街道", "urban_street", box(0)),
         Township("T2", "乙镇", "镇", "hub_town", box(1)),
         Township("T3", "丙乡", "乡", "rural_township", box(2)),
         Township("ZC", "张村镇", "镇", "hub_town", box(3))),
        clusters=(Area("c-T2", "乙组团", "cluster", ("T2", "T3"), hub="T2"),))
    doc = {
        "district": "demo", "version": "t1",
        "platform_office": {"code": "PO", "name": "区级综合执法平台办公室",
                            "name_en": "district enforcement platform office"},
        "departments": [{"code": "zf", "name": "区综合行政执法局"},
                        {"code": "jt", "name": "区交通运输局"}],
        "matters": [
            {"code": "M1", "name": "对在城市道路两侧和公共场地堆放物料的处罚",
             "domain": "城市市容和环境卫生", "department": "zf"},
            {"code": "M2", "name": "对在公路建筑控制区内修建建筑物的处罚",
             "domain": "交通运输", "department": "jt"},
            {"code": "M3", "name": "对楼道内电动自行车充电的处置", "domain": "市政公用",
             "department": None},
        ],
        "management_areas": areas or [],
        "records": list(records),
    }
    return Competence(Catalogue(parse_catalog(doc, district), district))


def grant(gid: str, effective: str, target: dict[str, str], matters: list[str] | None = None,
          recorded: str = "2021-01-01", **extra: Any) -> dict[str, Any]:
    return {"id": gid, "type": "grant", "recorded_at": recorded, "matters": matters or ["M1"],
            "target": target, "effective_from": effective, **extra}


def entrust(gid: str, township: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return grant(gid, start, {"township": township}, ["M2"], mode="entrusted",
                 agreement={"department": "jt", "number": "委托〔2023〕1号",
                            "basis": "行政处罚法第二十条", "scope": "公路建筑控制区违法建设",
                            "term_start": start, "term_end": end,
                            "duties": "以委托部门名义实施，不得再委托"},
                 **extra)


# -- inside the list: the township ----------------------------------------------------------


def test_granted_matter_in_force_goes_to_the_township_team(comp):
    d = comp.decide("SR001", "天马街道", datetime(2024, 5, 6, 9, 30))
    assert (d.kind, d.holder, d.holder_name) == ("township", "CS01", "天马街道综合行政执法队")
    assert d.case_in_name_of == "CS01" and d.case_in_name_of_name == "天马街道办事处"
    assert d.reason_codes == ("grant.in_force",)
    assert not d.transfer and not d.dispute and d.grant == "G2021-STREET"


def test_hub_town_uses_its_own_team(comp):
    d = comp.decide("SR001", "CS04", date(2024, 5, 6))
    assert (d.kind, d.holder, d.acting_for) == ("township", "CS04", None)
    assert d.case_in_name_of_name == "辉埠镇人民政府"


def test_radiated_township_handled_by_hub_team(comp):
    d = comp.decide("SR001", "何家乡", date(2024, 5, 6))
    assert d.kind == "hub_team"
    assert (d.holder, d.holder_name) == ("CS04", "辉埠镇综合行政执法队")
    assert (d.acting_for, d.acting_for_name) == ("CS10", "何家乡")
    assert (d.case_in_name_of, d.case_in_name_of_name) == ("CS10", "何家乡人民政府")
    assert d.reason_codes == ("grant.in_force", "cluster.radiated")
    assert "辉埠镇综合行政执法队代何家乡办理，以何家乡人民政府名义" in d.summary("zh")


def test_every_radiated_township_goes_to_its_own_clusters_hub(comp, changshan):
    for cluster in changshan.clusters:
        for member in cluster.members:
            d = comp.decide("SR001", member, date(2024, 5, 6))
            if member == cluster.hub:
                assert d.kind == "township" and d.holder == member
            else:
                assert d.kind == "hub_team" and d.holder == cluster.hub
                assert d.case_in_name_of == member


# -- outside the list: the department -------------------------------------------------------


def test_matter_not_granted_goes_to_owning_department(comp):
    d = comp.decide("TD001", "CS01", date(2024, 5, 6))
    assert (d.kind, d.holder, d.holder_name) == ("department", "zrzy", "县自然资源和规划局")
    assert d.case_in_name_of == "zrzy"
    assert d.reason_codes == ("grant.not_granted",)


def test_in_transition_the_department_stays_responsible(comp):
    d = comp.decide("SR001", "CS01", date(2021, 7, 31))
    assert d.kind == "department" and d.holder == "zhzf"
    (r,) = d.reasons
    assert r.code == "grant.in_transition" and r.on == date(2021, 8, 1)
    assert "2021-08-01前为过渡期" in r.zh and "transition until 2021-08-01" in r.en
    assert comp.decide("SR001", "CS01", date(2021, 8, 1)).kind == "township"


def test_default_transition_is_three_months():
    c = small(grant("G1", "2024-05-15", {"township": "T1"}))
    assert c.decide("M1", "T1", date(2024, 8, 14)).kind == "department"
    assert c.decide("M1", "T1", date(2024, 8, 15)).kind == "township"


def test_case_opened_in_transition_stays_with_department_after_it_ends():
    c = small(grant("G1", "2024-05-15", {"township": "T1"}, recorded="2024-05-01"))
    incident = datetime(2024, 7, 1, 10, 0)  # inside the transition
    later = c.catalogue.as_known_at(datetime(2025, 1, 1))  # decided long after it ended
    d = Competence(later).decide("M1", "T1", incident)
    assert d.kind == "department" and d.holder == "zf"
    assert d.reasons[-1].code == "grant.in_transition"
    assert "期满未办结事项仍由区综合行政执法局负责" in d.reasons[-1].zh
    # the same matter arising after the transition is the township's
    assert Competence(later).decide("M1", "T1", datetime(2024, 8, 15)).kind == "township"


def test_recalled_matter_goes_to_department_with_recall_date(comp):
    d = comp.decide("AQ005", "辉埠镇", date(2023, 7, 1))
    assert d.kind == "department" and d.holder == "yjj"
    (r,) = d.reasons
    assert r.code == "grant.recalled" and r.on == date(2023, 7, 1) and "R2023-HUB" in r.zh
    assert comp.decide("AQ005", "辉埠镇", date(2023, 6, 30)).kind == "township"


def test_regranted_matter_is_in_transition_again(comp):
    d = comp.decide("AQ004", "CS04", date(2024, 8, 1))
    assert d.kind == "department" and d.reasons[-1].code == "grant.in_transition"
    assert d.reasons[-1].on == date(2024, 10, 1)
    d = comp.decide("AQ004", "CS04", date(2024, 10, 1))
    assert d.kind == "township" and d.grant == "G2024-HB"
    assert comp.decide("AQ004", "CS05", date(2024, 10, 1)).kind == "department"


# -- major penalties ------------------------------------------------------------------------


def test_fine_over_50k_stays_with_department(comp):
    d = comp.decide("HJ003", "CS01", date(2024, 5, 6), CaseFacts(fine_yuan=60_000))
    assert d.kind == "department" and d.holder == "sthj"
    assert d.reason_codes == ("grant.in_force", "penalty.major")
    assert "罚款60,000元（5万元以上）" in d.reasons[-1].zh
    assert not d.transfer


def test_fine_of_exactly_50k_is_major_and_below_is_not(comp):
    at = date(2024, 5, 6)
    assert comp.decide("HJ003", "CS01", at, CaseFacts(fine_yuan=50_000)).kind == "department"
    assert comp.decide("HJ003", "CS01", at, CaseFacts(fine_yuan=49_999)).kind == "township"


@pytest.mark.parametrize("measure", sorted(MAJOR_MEASURES))
def test_each_major_measure_stays_with_department(comp, measure):
    d = comp.decide("HJ003", "CS01", date(2024, 5, 6), CaseFacts(measures={measure}))
    assert d.kind == "department" and d.reasons[-1].code == "penalty.major"
    assert MAJOR_MEASURES[measure][0] in d.reasons[-1].zh


def test_township_holding_a_major_case_transfers_it(comp):
    facts = CaseFacts(measures={"suspend_business"}, held_by="CS04")
    d = comp.decide("HJ003", "何家乡", date(2024, 5, 6), facts)
    assert d.kind == "department" and d.transfer
    assert d.reason_codes == ("grant.not_granted", "case.transfer")  # HJ003 not rural
    d = comp.decide("HJ003", "CS04", date(2024, 5, 6), facts)
    assert d.reason_codes == ("grant.in_force", "penalty.major", "case.transfer")
    assert d.summary("zh").endswith("（移送）") and d.summary("en").endswith("(transfer)")


def test_case_facts_are_validated():
    with pytest.raises(ValueError, match="measures: unknown jail"):
        CaseFacts(measures={"jail"})
    with pytest.raises(ValueError, match="fine_yuan: -1 is negative"):
        CaseFacts(fine_yuan=-1)


# -- entrusted matters ----------------------------------------------------------------------


def test_entrusted_matter_in_force_only_within_agreement_term():
    c = small(entrust("E1", "T1", "2023-03-01", "2024-02-29"))
    d = c.decide("M2", "T1", date(2023, 3, 1))
    assert (d.kind, d.holder) == ("township", "T1")
    assert (d.case_in_name_of, d.case_in_name_of_name) == ("jt", "区交通运输局")
    assert d.reason_codes == ("grant.entrusted",) and d.reasons[0].on == date(2024, 2, 29)
    assert c.decide("M2", "T1", date(2024, 2, 29)).kind == "township"
    before = c.decide("M2", "T1", date(2023, 2, 28))
    assert before.kind == "department" and before.reason_codes == ("grant.not_granted",)
    after = c.decide("M2", "T1", date(2024, 3, 1))
    assert after.kind == "department" and after.reason_codes == ("grant.expired",)


def test_entrusted_matter_in_radiated_township_keeps_departments_name(comp):
    d = comp.decide("WL004", "新昌乡", date(2024, 6, 1))
    assert (d.kind, d.holder, d.acting_for) == ("hub_team", "CS07", "CS14")
    assert d.case_in_name_of == "wgl"
    assert comp.decide("WL004", "新昌乡", date(2026, 5, 1)).reason_codes == ("grant.expired",)


def test_renewed_agreement_continues_without_gap(comp):
    assert comp.decide("JT003", "CS05", date(2025, 2, 28)).grant == "E2023-QC-JT"
    assert comp.decide("JT003", "CS05", date(2025, 3, 1)).grant == "E2025-QC-JT"


# -- patrol unit and case township differ ---------------------------------------------------


def test_management_area_patrol_by_one_case_by_the_other():
    c = small(grant("G1", "2024-05-05", {"class": "hub_town"}, transition_months=0),
              areas=[{"code": "LKS", "name": "里口山", "patrol_unit": "LKS-C",
                      "patrol_unit_name": "里口山管理服务中心", "case_township": "张村镇"}])
    d = c.decide("M1", "里口山", date(2024, 6, 1))
    assert (d.kind, d.holder, d.township) == ("township", "ZC", "ZC")
    assert (d.patrol_unit, d.patrol_unit_name) == ("LKS-C", "里口山管理服务中心")
    assert d.reason_codes == ("area.patrol_split", "grant.in_force")
    assert "立案查处移交张村镇" in d.reasons[0].zh
    # outside the list the department takes the case, the centre still patrols
    d = c.decide("M2", "LKS", date(2024, 6, 1))
    assert d.kind == "department" and d.patrol_unit == "LKS-C"


def test_management_area_must_name_a_real_case_township():
    with pytest.raises(ValueError, match="case_township: '里口山镇' is not a township"):
        small(areas=[{"code": "LKS", "name": "里口山", "patrol_unit": "P",
                      "patrol_unit_name": "中心", "case_township": "里口山镇"}])


# -- no guess: the platform office ----------------------------------------------------------


def test_unknown_matter_goes_to_platform_office_as_dispute(comp):
    d = comp.decide("ZZ999", "CS01", date(2024, 5, 6))
    assert (d.kind, d.holder) == ("platform_office", "CS-ZFTC") and d.dispute
    assert d.reason_codes == ("matter.unknown", "route.platform_office")


def test_matter_without_owning_department_goes_to_platform_office(comp):
    d = comp.decide("SZ008", "CS01", date(2024, 5, 6))
    assert d.kind == "platform_office" and d.dispute
    assert d.reason_codes == ("matter.no_department", "route.platform_office")


def test_conflicting_grants_are_a_dispute_not_a_guess():
    agreement = {"department": "zf", "basis": "b", "scope": "s", "duties": "d",
                 "term_start": "2023-01-01", "term_end": "2025-12-31"}
    c = small(grant("G1", "2022-01-01", {"class": "hub_town"}, transition_months=0),
              grant("E1", "2023-01-01", {"township": "T2"}, mode="entrusted",
                    agreement=agreement))
    d = c.decide("M1", "T2", date(2023, 6, 1))
    assert (d.kind, d.holder, d.dispute) == ("platform_office", "PO", True)
    assert d.reason_codes == ("grant.conflict", "route.platform_office")
    assert "G1" in d.reasons[0].zh and "E1" in d.reasons[0].zh


def test_same_subject_under_two_grants_is_not_a_conflict():
    c = small(grant("G1", "2022-01-01", {"class": "hub_town"}, transition_months=0),
              grant("G2", "2023-01-01", {"township": "T2"}, transition_months=0))
    d = c.decide("M1", "T2", date(2023, 6, 1))
    assert d.kind == "township" and not d.dispute and d.grant == "G2"  # the named one


def test_unknown_place_is_an_error_not_a_dispute(comp):
    with pytest.raises(CompetenceError, match="'CS99' is neither a township"):
        comp.decide("SR001", "CS99", date(2024, 5, 6))


# -- the decision object --------------------------------------------------------------------


def test_decision_is_frozen_and_names_the_catalogue_state_used(comp):
    d = comp.decide("SR001", "CS01", date(2024, 5, 6))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.holder = "CS02"  # type: ignore[misc]
    assert d.catalogue_version == "changshan-sample-1@E2025-QC-JT"
    assert d.catalogue_date == date(2024, 5, 6)
    earlier = Competence(comp.catalogue.as_known_at(date(2022, 1, 1)))
    assert earlier.decide("SR001", "CS01", date(2024, 5, 6)).catalogue_version \
        == "changshan-sample-1@E2022-TM-SW"


def test_reasons_are_bilingual_structured_steps(comp):
    d = comp.decide("SR001", "何家乡", date(2024, 5, 6))
    for r in d.reasons:
        assert r.code and r.zh and r.en and r.source
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in r.code)
    assert d.explain("en").splitlines()[0].startswith("handled by 辉埠镇综合行政执法队 acting for")
    zh = d.explain("zh").splitlines()
    assert zh[1].startswith("1. 事项SR001") and zh[2].startswith("2. 何家乡属辉埠镇")
    assert d.as_dict()["reasons"][1]["code"] == "cluster.radiated"


def test_incident_time_is_read_on_the_local_day(comp):
    # 2021-07-31 17:00 UTC is 2021-08-01 01:00 in Changshan: the transition has ended.
    utc = datetime(2021, 7, 31, 17, 0, tzinfo=UTC)
    assert comp.decide("SR001", "CS01", utc).kind == "township"
    assert comp.decide("SR001", "CS01", utc - timedelta(hours=2)).kind == "department"


def test_case_held_by_the_department_is_no_transfer(comp):
    d = comp.decide("HJ003", "CS01", date(2024, 5, 6), CaseFacts(fine_yuan=80_000,
                                                                  held_by="sthj"))
    assert d.kind == "department" and not d.transfer
    with pytest.raises(CompetenceError, match="held_by: 'nobody' is neither"):
        comp.decide("HJ003", "CS01", date(2024, 5, 6), CaseFacts(held_by="nobody"))
