"""Random draws in storage: every backend behaves the same (SQLite and PostGIS).

Each test taking ``store`` runs once per backend (see conftest.py). Draw inputs are small
hand-made samples; the CLI test uses the bundled sample teams and synthetic objects.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from typer.testing import CliRunner

from dispatch.tickets.service import verify_audit
from geo.store import Store, open_store
from planner.draw import (
    PUBLIC_COLUMNS,
    DrawError,
    DrawInputs,
    DrawObject,
    DrawOfficer,
    verify_draw,
)
from planner.draw_store import (
    PLANNER_MIGRATIONS,
    DrawNotFound,
    get_draw,
    list_draws,
    preview_draw,
    previous_pairings,
    record_draw,
    verify_stored_draw,
)
from web.commands.draw import app as draw_app

AT = date(2025, 6, 1)


def inputs(n_objects: int = 12, n_officers: int = 5, **kw) -> DrawInputs:
    base = dict(
        district="changshan", zone="zone-CS01", zone_name="天马片区", department=None,
        unit="示例执法队", drawn_on=AT, window_end=date(2025, 6, 30), share=1.0, seed=7,
        objects=tuple(DrawObject(f"CS01-{i:04d}", f"示例对象{i}", "restaurant", "餐饮店",
                                 "CS01", "天马街道") for i in range(n_objects)),
        officers=tuple(DrawOfficer(f"T-{i:02d}", f"示例人员{i}", "T", "示例执法队",
                                   f"3308222024{i:04d}", date(2024, 1, 1), date(2029, 12, 31))
                       for i in range(n_officers)))
    base.update(kw)
    return DrawInputs(**base)


def count(store: Store, table: str) -> int:
    with store.transaction() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        return int(cur.fetchone()[0])


@contextmanager
def triggers_off(store: Store) -> Iterator[object]:
    """A cursor on which the append-only triggers are gone, as only a DBA could do."""
    with store.transaction() as cur:
        if store.dialect == "sqlite":
            cur.execute("DROP TRIGGER planner_draw_no_update")
        else:
            cur.execute("ALTER TABLE planner_draw DISABLE TRIGGER USER")
        yield cur
        if store.dialect != "sqlite":
            cur.execute("ALTER TABLE planner_draw ENABLE TRIGGER USER")


def test_migration_is_registered_as_the_planner_component(store: Store) -> None:
    assert store.schema_versions()["planner"] == len(PLANNER_MIGRATIONS)


def test_draw_is_recorded_and_read_back_identically(store: Store) -> None:
    rec = record_draw(store, inputs(recusals=(("T-00", "CS01-0001"),)), "科员甲")
    assert rec.id == 1 and rec.recorded_at is not None
    back = get_draw(store, rec.id)
    assert back == rec
    assert back.record_hash == rec.record_hash
    assert verify_draw(back).ok
    assert verify_stored_draw(store, rec.id).ok
    assert count(store, "planner_draw_assignment") == 2 * len(rec.result.pairings)
    # The draw's entry sits in the shared audit chain without upsetting it.
    report = verify_audit(store)
    assert report.ok and report.entries == 1
    with pytest.raises(DrawNotFound, match="no draw 99"):
        get_draw(store, 99)


def test_stored_draws_are_append_only(store: Store) -> None:
    record_draw(store, inputs(), "科员甲")
    for sql in ("UPDATE planner_draw SET seed = 8", "DELETE FROM planner_draw",
                "UPDATE planner_draw_assignment SET officer_id = 'T-04'",
                "DELETE FROM planner_draw_assignment"):
        with pytest.raises(store.driver_errors, match="append-only"), \
                store.transaction() as cur:
            cur.execute(sql)
    assert count(store, "planner_draw") == 1


def test_last_inspector_excluded(store: Store) -> None:
    first = record_draw(store, inputs(), "科员甲")
    assert len(first.result.pairings) == 12
    second = record_draw(store, inputs(seed=8), "科员甲")
    assert not second.result.unpaired
    before = first.result.by_object
    for p in second.result.pairings:
        assert not set(p.officers) & set(before[p.object_id].officers)
    assert {e.source for e in second.inputs.exclusions} == {"draw 1"}
    # The third draw looks at the second, the latest one that paired each object.
    prev = previous_pairings(store, "changshan", ["CS01-0000"], AT)
    assert prev["CS01-0000"].draw_id == second.id
    assert prev["CS01-0000"].officers == second.result.by_object["CS01-0000"].officers
    # A draw dated before both sees neither.
    assert previous_pairings(store, "changshan", ["CS01-0000"], date(2025, 5, 31)) == {}
    early = preview_draw(store, inputs(drawn_on=date(2025, 5, 1)), "科员甲")
    assert early.id is None and early.inputs.exclusions == ()


def test_tampered_record_fails_verification(store: Store) -> None:
    rec = record_draw(store, inputs(), "科员甲")
    p = rec.result.pairings[0]
    spare = next(o.id for o in rec.inputs.officers if o.id not in p.officers)
    forged = rec.result.as_dict()
    forged["pairings"][0]["officers"] = sorted([p.officers[0], spare])
    with triggers_off(store) as cur:
        cur.execute("UPDATE planner_draw SET result = ? WHERE id = ?".replace(
            "?", store.placeholder), (json.dumps(forged, ensure_ascii=False), rec.id))
    check = verify_stored_draw(store, rec.id)
    assert not check.ok
    text = check.summary()
    assert p.object_id in text  # the re-run disagrees on that object
    assert "audit chain entry" in text  # and the chain pins the original content


def test_listing_draws_by_zone_department_and_date(store: Store) -> None:
    a = record_draw(store, inputs(), "科员甲")
    b = record_draw(store, inputs(zone="zone-CS02", zone_name="紫港片区",
                                  drawn_on=date(2025, 7, 1), window_end=date(2025, 9, 30)),
                    "科员乙")
    c = record_draw(store, inputs(department="scjg", unit="县市场监管局执法稽查大队",
                                  drawn_on=date(2025, 8, 1), window_end=date(2025, 9, 30)),
                    "科员丙")
    assert [d.id for d in list_draws(store)] == [a.id, b.id, c.id]
    assert [d.id for d in list_draws(store, zone="zone-CS01")] == [a.id, c.id]
    assert [d.id for d in list_draws(store, department="scjg")] == [c.id]
    assert [d.id for d in list_draws(store, department="township")] == [a.id, b.id]
    assert [d.id for d in list_draws(store, since=date(2025, 7, 1),
                                     until=date(2025, 7, 31))] == [b.id]
    row = list_draws(store, zone="zone-CS02")[0]
    assert (row.drawn_on, row.selected, row.paired, row.unpaired, row.actor) == (
        date(2025, 7, 1), 12, 12, 0, "科员乙")
    assert row.fingerprint == b.fingerprint and row.record_hash == b.record_hash


def test_draw_that_cannot_be_made_stores_nothing(store: Store) -> None:
    with pytest.raises(DrawError, match="officers"):
        record_draw(store, inputs(n_officers=1), "科员甲")
    with pytest.raises(DrawError, match="actor"):
        record_draw(store, inputs(), " ")
    assert count(store, "planner_draw") == 0
    assert count(store, "dispatch_audit") == 0


def test_unpaired_objects_are_stored_with_their_reason(store: Store) -> None:
    inp = inputs(n_officers=3, recusals=(("T-00", "CS01-0003"), ("T-01", "CS01-0003")))
    rec = record_draw(store, inp, "科员甲")
    (u,) = get_draw(store, rec.id).result.unpaired
    assert u.object_id == "CS01-0003" and u.reason == "no_two_eligible"
    assert list_draws(store)[0].unpaired == 1
    assert verify_stored_draw(store, rec.id).ok


def test_a_second_connection_sees_and_extends_the_draws(store: Store) -> None:
    with open_store(store.url) as again:
        rec = record_draw(again, dataclasses.replace(inputs(), seed=99), "科员甲")
    assert get_draw(store, rec.id).inputs.seed == 99


# -- the command line ---------------------------------------------------------------------------


def test_cli_run_show_publish(store: Store, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WHISTLE_DATABASE_URL", store.url)
    runner = CliRunner()
    res = runner.invoke(draw_app, ["run", "--zone", "金川片区", "--share", "0.05", "--seed",
                                   "42", "--at", "2025-06-01", "--actor", "科员甲", "--json"])
    assert res.exit_code == 0, res.output
    again = runner.invoke(draw_app, ["run", "--zone", "金川片区", "--share", "0.05", "--seed",
                                     "42", "--at", "2025-06-01", "--actor", "科员甲",
                                     "--dry-run", "--json"])
    assert again.exit_code == 0, again.output
    assert len(list_draws(store)) == 1  # the dry run recorded nothing
    rec = get_draw(store, 1)
    assert rec.inputs.zone == "zone-CS03" and len(rec.result.selected) == 12

    shown = runner.invoke(draw_app, ["show", "1"])
    assert shown.exit_code == 0, shown.output
    assert "verified" in shown.output

    out = tmp_path / "draw-1.csv"
    pub = runner.invoke(draw_app, ["publish", "1", "--out", str(out)])
    assert pub.exit_code == 0, pub.output
    body = [ln for ln in out.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(body))))
    assert tuple(rows[0]) == PUBLIC_COLUMNS and len(rows) == 12
    assert all(r["执法证号1"] and r["执法证号2"] for r in rows)
    assert "CS03-zfd-" not in out.read_text(encoding="utf-8")

    listed = runner.invoke(draw_app, ["list", "--zone", "zone-CS03", "--json"])
    assert listed.exit_code == 0 and '"id": 1' in listed.output


def test_cli_refuses_a_department_without_two_certified_officers(store: Store, monkeypatch
                                                                   ) -> None:
    monkeypatch.setenv("WHISTLE_DATABASE_URL", store.url)
    res = CliRunner().invoke(draw_app, ["run", "--zone", "天马片区", "--department", "yjj",
                                        "--seed", "1", "--at", "2025-06-01", "--actor", "科员甲"])
    assert res.exit_code == 2
    assert "department: yjj" in res.output and "Traceback" not in res.output
    assert list_draws(store) == []
