"""双随机一公开: the random draw of objects and inspector pairs (pure, no database).

Small hand-made inputs check the rules one at a time; the bundled (sample, synthetic) Changshan
objects and teams check that a real zone draws from the right officers.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from datetime import date

import pytest

from dispatch.teams import bundled_teams, catalogue_departments
from dispatch.teams.loader import TeamRoster
from geo.boundaries import District
from planner.draw import (
    PUBLIC_COLUMNS,
    DrawError,
    DrawInputs,
    DrawObject,
    DrawOfficer,
    Exclusion,
    Pairing,
    PreviousPairing,
    default_load_cap,
    draw,
    make_record,
    prepare_draw,
    public_csv,
    public_rows,
    quarter_end,
    selection_count,
    verify_draw,
    with_previous,
)
from planner.items import ItemList, load_items
from planner.objects import ObjectSet, load_objects

AT = date(2025, 6, 1)


def obj(i: int, object_type: str = "restaurant") -> DrawObject:
    return DrawObject(f"CS01-{i:04d}", f"示例对象{i}", object_type, object_type, "CS01", "天马街道")


def officer(i: int) -> DrawOfficer:
    return DrawOfficer(f"T-{i:02d}", f"示例人员{i}", "T", "示例执法队", f"3308222024{i:04d}",
                       date(2024, 1, 1), date(2029, 12, 31))


def inputs(n_objects: int = 40, n_officers: int = 6, **kw) -> DrawInputs:
    base = dict(district="changshan", zone="zone-CS01", zone_name="天马片区", department=None,
                unit="示例执法队", drawn_on=AT, window_end=date(2025, 6, 30), share=0.25,
                seed=20250601, objects=tuple(obj(i) for i in range(n_objects)),
                officers=tuple(officer(i) for i in range(n_officers)))
    base.update(kw)
    return DrawInputs(**base)


def officers_of(result, object_id: str) -> tuple[str, ...]:
    return result.by_object[object_id].officers


# -- bundled sample data ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def items() -> ItemList:
    return load_items()


@pytest.fixture(scope="module")
def objects(items: ItemList, changshan: District) -> ObjectSet:
    return load_objects(None, items, changshan)


@pytest.fixture(scope="module")
def departments() -> dict[str, str]:
    return catalogue_departments()


@pytest.fixture(scope="module")
def roster(changshan: District, departments: dict[str, str]) -> TeamRoster:
    return bundled_teams(changshan, departments)


# -- reproducible -------------------------------------------------------------------------------


def test_same_seed_same_draw() -> None:
    a = inputs(recusals=(("T-01", "CS01-0003"), ("T-02", "CS01-0007")))
    shuffled = dataclasses.replace(a, objects=a.objects[::-1], officers=a.officers[::-1],
                                   recusals=a.recusals[::-1])
    first = draw(a)
    assert draw(a) == first
    assert draw(shuffled) == first  # input order is canonicalised away
    assert shuffled.fingerprint == a.fingerprint
    other = draw(dataclasses.replace(a, seed=a.seed + 1))
    assert other.selected != first.selected


def test_fingerprint_covers_candidates_and_exclusions() -> None:
    a = inputs()
    assert len(a.fingerprint) == 64
    assert inputs(n_officers=5).fingerprint != a.fingerprint
    assert dataclasses.replace(a, recusals=(("T-01", "CS01-0001"),)).fingerprint != a.fingerprint
    excluded = dataclasses.replace(a, exclusions=(Exclusion("T-01", "CS01-0001", "input"),))
    assert excluded.fingerprint != a.fingerprint
    assert dataclasses.replace(a, seed=1).fingerprint == a.fingerprint  # the seed is separate


def test_record_round_trips_through_its_dict() -> None:
    rec = make_record(inputs(recusals=(("T-01", "CS01-0003"),),
                             exclusions=(Exclusion("T-02", "CS01-0004", "draw 3"),)), "科员甲")
    again = DrawInputs.from_dict(rec.inputs.as_dict())
    assert again == rec.inputs
    assert again.fingerprint == rec.fingerprint


# -- the rules ----------------------------------------------------------------------------------


def test_recused_officer_never_drawn_for_that_object() -> None:
    recused = {f"CS01-{i:04d}" for i in range(10)}
    drawn_elsewhere = False
    for seed in range(40):
        res = draw(inputs(n_objects=20, n_officers=4, share=1.0, seed=seed,
                          recusals=tuple(("T-00", o) for o in recused)))
        assert not res.unpaired
        for p in res.pairings:
            if p.object_id in recused:
                assert "T-00" not in p.officers
            drawn_elsewhere |= "T-00" in p.officers
    assert drawn_elsewhere  # the recusal is per object, not a ban


def test_recusals_accept_pairs_or_officer_to_objects(changshan, objects, items, roster) -> None:
    ids = [o for o in objects.by_id if o.startswith("CS01-")][:3]
    as_pairs = prepare_draw(changshan, "天马片区", objects, items, roster, at=AT, seed=1,
                            share=0.1, recusals=[("CS01-zfd-01", i) for i in ids])
    as_map = prepare_draw(changshan, "天马片区", objects, items, roster, at=AT, seed=1,
                          share=0.1, recusals={"CS01-zfd-01": ids})
    assert as_pairs.recusals == as_map.recusals == tuple(("CS01-zfd-01", i) for i in ids)


def test_last_inspector_excluded() -> None:
    base = inputs(n_objects=12, n_officers=5, share=1.0)
    previous = {o.id: PreviousPairing(3, ("T-00", "T-01")) for o in base.objects[:6]}
    previous["CS01-0011"] = PreviousPairing(2, ("T-04", "T-99"))  # T-99 is not in the pool
    withprev = with_previous(base, previous)
    assert Exclusion("T-00", "CS01-0000", "draw 3") in withprev.exclusions
    assert all(e.officer_id != "T-99" for e in withprev.exclusions)
    for seed in range(30):
        res = draw(dataclasses.replace(withprev, seed=seed))
        assert not res.unpaired
        for oid, prev in previous.items():
            assert not set(officers_of(res, oid)) & set(prev.officers)


def test_last_inspections_input_excludes_them(changshan, objects, items, roster) -> None:
    target = sorted(o for o in objects.by_id if o.startswith("CS01-"))[:40]
    inp = prepare_draw(changshan, "天马片区", objects, items, roster, at=AT, seed=3,
                       share=1.0, object_types=None,
                       last_inspections={o: ["CS01-zfd-01", "CS01-zfd-02"] for o in target})
    assert {e.source for e in inp.exclusions} == {"input"}
    res = draw(inp)
    for oid in target:
        assert not {"CS01-zfd-01", "CS01-zfd-02"} & set(officers_of(res, oid))


def test_two_distinct_certified_officers_per_object(changshan, objects, items, roster) -> None:
    inp = prepare_draw(changshan, "辉埠片区", objects, items, roster, at=AT, seed=11, share=0.2)
    team = roster.team("CS04-zfd")  # the hub team serving 辉埠、何家、大桥头
    pool = {m.id for m in team.certified_on(AT) if m.certified_on(inp.window_end)}
    assert {o.id for o in inp.officers} == pool
    res = draw(inp)
    assert len(res.pairings) == len(res.selected) > 0
    for p in res.pairings:
        assert len(set(p.officers)) == 2
        assert set(p.officers) <= pool
    in_zone = {o.id for o in inp.objects}
    assert in_zone == {o.id for o in objects.objects if o.township in ("CS04", "CS10", "CS12")}


def test_expired_certificate_not_drawn(changshan, objects, items, roster) -> None:
    # 王健 (CS01-zfd-03)'s certificate runs to 2025-06-30.
    after = prepare_draw(changshan, "天马片区", objects, items, roster, at=date(2025, 7, 1),
                         seed=5, share=0.5)
    assert "CS01-zfd-03" not in {o.id for o in after.officers}
    assert all("CS01-zfd-03" not in p.officers for p in draw(after).pairings)
    # Valid on the draw date but lapsing inside the inspection window: not drawn either.
    lapsing = prepare_draw(changshan, "天马片区", objects, items, roster, at=AT,
                           until=date(2025, 7, 15), seed=5, share=0.1)
    assert "CS01-zfd-03" not in {o.id for o in lapsing.officers}
    before = prepare_draw(changshan, "天马片区", objects, items, roster, at=AT, seed=5,
                          share=0.1)
    assert "CS01-zfd-03" in {o.id for o in before.officers}
    # Not yet valid (许刚, 紫港, from 2026-12-01), and auxiliaries / legal reviewers never.
    zigang = prepare_draw(changshan, "紫港片区", objects, items, roster, at=AT, seed=5,
                          share=0.1)
    drawn = {o.id for o in zigang.officers}
    assert "CS02-zfd-07" not in drawn
    team = roster.team("CS02-zfd")
    assert drawn <= {m.id for m in team.officers}


def test_department_with_fewer_than_two_certified_officers_is_refused(
        changshan, objects, items, roster, departments) -> None:
    with pytest.raises(DrawError) as exc:
        prepare_draw(changshan, "天马片区", objects, items, roster, at=AT, seed=1, share=0.1,
                     department="yjj", departments=departments)
    assert exc.value.field == "department"
    assert "yjj" in str(exc.value) and departments["yjj"] in str(exc.value)
    assert "0 officer(s)" in str(exc.value)


def test_department_draws_its_own_brigade_and_its_object_types(
        changshan, objects, items, roster) -> None:
    inp = prepare_draw(changshan, "天马片区", objects, items, roster, at=AT, seed=2, share=0.1,
                       department="zjj")
    assert {o.team_id for o in inp.officers} == {"dept-zjj"}
    zjj_types = {t for i in items.items if i.department == "zjj" for t in i.object_types}
    assert {o.object_type for o in inp.objects} <= zjj_types
    assert len(inp.objects) == sum(1 for o in objects.objects
                                   if o.township == "CS01" and o.object_type in zjj_types)


def test_share_of_objects_selected() -> None:
    assert selection_count(0.1, 30) == 3  # not 4: 0.1 × 30 is 3.0000000000000004 in binary
    assert selection_count(0.1, 31) == 4
    assert selection_count(1.0, 7) == 7
    res = draw(inputs(n_objects=30, share=0.1))
    assert len(res.selected) == 3 and len(set(res.selected)) == 3
    mixed = tuple(obj(i, "restaurant" if i < 25 else "factory") for i in range(30))
    by_type = draw(inputs(objects=mixed, share=0.1, by_type=True))
    types = {o.id: o.object_type for o in mixed}
    drawn = [types[o] for o in by_type.selected]
    assert drawn.count("restaurant") == math.ceil(0.1 * 25) and drawn.count("factory") == 1


def test_load_cap_is_respected() -> None:
    res = draw(inputs(n_objects=60, n_officers=5, share=0.5))
    assert res.load_cap == default_load_cap(30, 5) == 13
    assert max(res.loads.values()) <= res.load_cap
    capped = draw(inputs(n_objects=60, n_officers=5, share=0.5, load_cap=12))
    assert max(capped.loads.values()) <= 12 and not capped.unpaired


def test_load_cap_never_strands_an_object_a_fair_assignment_could_serve() -> None:
    # Two objects only C and D may inspect; with a cap of 2 they must both go to C and D and
    # the other two to A and B. Drawing C or D for an unrestricted object first would strand
    # a restricted one.
    objs = tuple(obj(i) for i in range(4))
    restricted = ("CS01-0000", "CS01-0001")
    recusals = tuple((o, r) for o in ("T-00", "T-01") for r in restricted)
    for seed in range(30):
        res = draw(inputs(objects=objs, n_officers=4, share=1.0, load_cap=2, seed=seed,
                          recusals=recusals))
        assert not res.unpaired, res.unpaired
        for r in restricted:
            assert officers_of(res, r) == ("T-02", "T-03")


def test_object_without_two_eligible_officers_is_reported() -> None:
    inp = inputs(n_objects=5, n_officers=3, share=1.0,
                 recusals=(("T-00", "CS01-0002"),),
                 exclusions=(Exclusion("T-01", "CS01-0002", "draw 7"),))
    res = draw(inp)
    assert "CS01-0002" in res.selected  # never silently dropped
    assert "CS01-0002" not in res.by_object
    (u,) = res.unpaired
    assert u.object_id == "CS01-0002" and u.reason == "no_two_eligible"
    assert "only 1 of 3" in u.message and "1 recused" in u.message
    assert "1 inspected it last time" in u.message
    assert len(res.pairings) == 4
    row = next(r for r in public_rows(make_record(inp, "科员甲", res))
               if r["检查对象编号"] == "CS01-0002")
    assert row["检查人员1"] == "" and row["备注"].startswith("未能配对")


def test_tampered_record_fails_verification() -> None:
    rec = make_record(inputs(), "科员甲")
    assert verify_draw(rec).ok
    p = rec.result.pairings[0]
    spare = next(o.id for o in rec.inputs.officers if o.id not in p.officers)
    forged = dataclasses.replace(rec.result, pairings=(
        Pairing(p.object_id, tuple(sorted((p.officers[0], spare)))), *rec.result.pairings[1:]))
    check = verify_draw(dataclasses.replace(rec, result=forged))
    assert not check.ok and p.object_id in check.summary()
    # Dropping a recusal from the record changes the fingerprint.
    recused = make_record(inputs(recusals=(("T-01", "CS01-0001"),)), "科员甲")
    edited = dataclasses.replace(recused, inputs=dataclasses.replace(recused.inputs,
                                                                     recusals=()))
    assert any("fingerprint" in p for p in verify_draw(edited).problems)
    assert not verify_draw(dataclasses.replace(rec, algorithm="whistle-draw/0")).ok


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "field"), [
    ({"share": 0.0}, "share"), ({"share": 1.5}, "share"), ({"seed": -1}, "seed"),
    ({"seed": 2**63}, "seed"), ({"load_cap": 0}, "load_cap"),
    ({"window_end": date(2025, 5, 1)}, "window_end"), ({"objects": ()}, "objects"),
    ({"officers": (officer(1),)}, "officers"),
    ({"officers": (officer(1), officer(1))}, "officers"),
])
def test_bad_draw_input_names_the_field(change, field) -> None:
    with pytest.raises(DrawError) as exc:
        draw(inputs(**change))
    assert exc.value.field == field


def test_unknown_ids_in_recusals_are_refused(changshan, objects, items, roster) -> None:
    with pytest.raises(DrawError, match="recusals: officer nobody"):
        prepare_draw(changshan, "天马片区", objects, items, roster, at=AT, seed=1, share=0.1,
                     recusals=[("nobody", "CS01-0001")])
    with pytest.raises(DrawError, match="last_inspections: object CS99-0001"):
        prepare_draw(changshan, "天马片区", objects, items, roster, at=AT, seed=1, share=0.1,
                     last_inspections={"CS99-0001": ["CS01-zfd-01"]})
    with pytest.raises(DrawError, match="zone: no zone 'nowhere'"):
        prepare_draw(changshan, "nowhere", objects, items, roster, at=AT, seed=1, share=0.1)
    with pytest.raises(DrawError, match="department: 'xyz'"):
        prepare_draw(changshan, "天马片区", objects, items, roster, at=AT, seed=1, share=0.1,
                     department="xyz")


def test_window_defaults_to_the_end_of_the_quarter() -> None:
    assert quarter_end(date(2025, 6, 1)) == date(2025, 6, 30)
    assert quarter_end(date(2025, 11, 3)) == date(2025, 12, 31)
    assert quarter_end(date(2024, 1, 31)) == date(2024, 3, 31)


# -- the published version ----------------------------------------------------------------------


def test_published_version_holds_names_and_certificates_not_internal_ids(
        changshan, objects, items, roster) -> None:
    inp = prepare_draw(changshan, "金川片区", objects, items, roster, at=AT, seed=9, share=0.1)
    rec = make_record(inp, "科员甲")
    text = public_csv(rec)
    body = [line for line in text.splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(body))))
    assert tuple(rows[0]) == PUBLIC_COLUMNS
    assert [r["检查对象编号"] for r in rows] == list(rec.result.selected)
    officers = {o.id: o for o in inp.officers}
    for r, p in zip(rows, rec.result.pairings, strict=True):
        names = {officers[i].name for i in p.officers}
        certs = {officers[i].certificate for i in p.officers}
        assert {r["检查人员1"], r["检查人员2"]} == names
        assert {r["执法证号1"], r["执法证号2"]} == certs
        assert r["所属乡镇（街道）"] == "金川街道"
        assert r["检查期限起"] == "2025-06-01" and r["检查期限止"] == "2025-06-30"
    for o in inp.officers:  # internal ids and team ids stay out
        assert o.id not in text
    assert "CS03-zfd" not in text and rec.fingerprint in text
