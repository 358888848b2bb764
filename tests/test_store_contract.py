"""The storage contract: every backend stores and returns districts the same way.

Each test taking ``store`` runs once on SQLite and once on PostGIS (see conftest.py).
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from geo.boundaries import Area, District, Township, TravelEstimate
from geo.store import Store, StoreError, migrations, open_store
from geo.store.migrations import GEO_MIGRATIONS, Migration


def _small_district(code: str = "testshire", n: int = 3) -> District:
    """A made-up district of n unit-ish squares in a row, with a hole and a multipolygon."""
    towns = []
    for i in range(n):
        x = 118.0 + 0.1 * i
        geom: shapely.Geometry = box(x, 29.0, x + 0.1, 29.1)
        if i == 0:  # a township with an enclave cut out of it
            geom = Polygon(geom.exterior.coords, [box(x + 0.04, 29.04, x + 0.06, 29.06)
                                                  .exterior.coords[::-1]])
        if i == 1:  # a township in two parts
            geom = MultiPolygon([box(x, 29.0, x + 0.1, 29.1), box(x, 29.2, x + 0.05, 29.25)])
        towns.append(Township(code=f"T{i:02d}", name=f"第{i}镇", kind="镇",
                              town_class="hub_town" if i == 0 else "rural_township",
                              geometry=geom))
    codes = tuple(t.code for t in towns)
    return District(
        code=code, name="测试县", metric_epsg=32650, townships=tuple(towns),
        outline=None,
        zones=(Area("zone-a", "甲片区", "zone", codes),),
        clusters=(Area("cluster-a", "甲组团", "cluster", codes[:2], hub=codes[0], derived=True,
                       note="derived for the test"),),
        travel_estimate=TravelEstimate(circuity=1.25, speed_kmh=40.0),
        meta={"sample": "made-up test district", "z": [1, 2], "a": {"nested": True}},
    )


def _assert_identical(a: District, b: District) -> None:
    """Field by field, geometries coordinate for coordinate, then whole-object equality."""
    assert [t.code for t in a.townships] == [t.code for t in b.townships]
    for ta, tb in zip(a.townships, b.townships, strict=True):
        assert (ta.code, ta.name, ta.kind, ta.town_class) == (tb.code, tb.name, tb.kind,
                                                              tb.town_class)
        assert shapely.equals_identical(ta.geometry, tb.geometry), ta.code
        assert shapely.to_wkb(ta.geometry) == shapely.to_wkb(tb.geometry), ta.code
    if a.outline is None:
        assert b.outline is None
    else:
        assert shapely.equals_identical(a.outline, b.outline)
    assert a.zones == b.zones
    assert a.clusters == b.clusters
    assert a.travel_estimate == b.travel_estimate
    assert a.meta == b.meta
    assert list(a.meta) == list(b.meta)  # key order kept (legends list classes in order)
    assert a == b


# -- schema --------------------------------------------------------------------------------


def test_new_store_is_empty_and_at_the_current_schema_version(store: Store) -> None:
    assert store.list_districts() == []
    assert store.schema_versions()["geo"] == len(GEO_MIGRATIONS)


def test_migrate_again_changes_nothing(store: Store, changshan: District) -> None:
    store.save_district(changshan)
    before = store.schema_versions()
    store.migrate()
    with open_store(store.url) as again:  # open_store migrates too
        assert again.schema_versions() == before
        assert again.load_district("changshan") == changshan


def test_new_migration_step_runs_once_on_an_existing_database(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = Migration("extra", 1, "notes table",
                   sqlite=("CREATE TABLE extra_note (id INTEGER PRIMARY KEY, body TEXT)",),
                   postgis=("CREATE TABLE extra_note (id integer PRIMARY KEY, body text)",))
    v2 = Migration("extra", 2, "note author",
                   sqlite=("ALTER TABLE extra_note ADD COLUMN author TEXT",),
                   postgis=("ALTER TABLE extra_note ADD COLUMN author text",))
    monkeypatch.setitem(migrations._REGISTRY, "extra", (v1,))
    store.migrate()
    with store.transaction() as cur:
        cur.execute("INSERT INTO extra_note (id, body) VALUES (1, 'kept')")
    monkeypatch.setitem(migrations._REGISTRY, "extra", (v1, v2))
    store.migrate()
    store.migrate()
    versions = store.schema_versions()  # other layers may register components of their own
    assert (versions["geo"], versions["extra"]) == (len(GEO_MIGRATIONS), 2)
    with store.transaction() as cur:
        cur.execute("SELECT id, body, author FROM extra_note")
        assert [tuple(r) for r in cur.fetchall()] == [(1, "kept", None)]


def test_failing_migration_step_leaves_schema_unchanged(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = Migration("extra", 1, "broken", sqlite=("CREATE TABLE extra_ok (id INTEGER)",
                                                  "CREATE TABLE broken (",),
                    postgis=("CREATE TABLE extra_ok (id integer)", "CREATE TABLE broken ("))
    monkeypatch.setitem(migrations._REGISTRY, "extra", (bad,))
    with pytest.raises(StoreError, match=r"schema migration failed at extra v1 \(broken\)"):
        store.migrate()
    monkeypatch.delitem(migrations._REGISTRY, "extra")
    assert "extra" not in store.schema_versions()
    with store.transaction() as cur:  # the first statement of the step was rolled back too
        cur.execute("CREATE TABLE extra_ok (id integer)")


def test_database_newer_than_the_code_is_refused(store: Store) -> None:
    with store.transaction() as cur:
        cur.execute("INSERT INTO schema_version (component, version, name) "
                    "VALUES ('geo', 99, 'from the future')")
    with pytest.raises(StoreError, match="newer than this Whistle knows"):
        open_store(store.url)


def test_register_refuses_gaps_missing_backends_and_rewrites() -> None:
    sql = ("SELECT 1",)
    with pytest.raises(ValueError, match="expected 1"):
        migrations.register([Migration("gappy", 2, "x", sql, sql)])
    with pytest.raises(ValueError, match="both sqlite and postgis"):
        migrations.register([Migration("halfdone", 1, "x", sql, ())])
    with pytest.raises(ValueError, match="never change"):
        migrations.register([Migration("geo", 1, "rewritten", sql, sql)])
    migrations.register(GEO_MIGRATIONS)  # re-registering the shipped steps is harmless
    assert migrations.registered()["geo"] == GEO_MIGRATIONS


# -- round trip ----------------------------------------------------------------------------


def test_changshan_reads_back_identical(store: Store, changshan: District) -> None:
    store.save_district(changshan)
    assert store.list_districts() == ["changshan"]
    _assert_identical(changshan, store.load_district("changshan"))


def test_holes_multipolygons_and_missing_outline_read_back_identical(store: Store) -> None:
    d = _small_district()
    store.save_district(d)
    _assert_identical(d, store.load_district(d.code))


def test_district_survives_closing_and_reopening(store: Store, changshan: District) -> None:
    store.save_district(changshan)
    store.close()
    with open_store(store.url) as again:
        _assert_identical(changshan, again.load_district("changshan"))


def test_z_coordinates_are_dropped_on_both_backends(store: Store) -> None:
    d = _small_district()
    flat = d.townships[2].geometry
    raised = shapely.force_3d(flat, 7.0)
    d3 = dataclasses.replace(d, townships=(*d.townships[:2],
                                           dataclasses.replace(d.townships[2], geometry=raised)))
    store.save_district(d3)
    back = store.load_district(d.code).townships[2].geometry
    assert not back.has_z
    assert shapely.equals_identical(back, flat)


def test_districts_with_the_same_township_codes_are_independent(store: Store) -> None:
    a, b = _small_district("alpha"), _small_district("beta", n=2)
    b = dataclasses.replace(b, zones=(), clusters=())
    store.save_district(a)
    store.save_district(b)
    assert store.list_districts() == ["alpha", "beta"]
    assert store.load_district("alpha") == a
    assert store.load_district("beta") == b


# -- replace, delete, unknown ----------------------------------------------------------------


def test_save_replaces_every_part_of_a_district(store: Store, changshan: District) -> None:
    store.save_district(changshan)
    t = changshan.townships
    kept = (dataclasses.replace(t[1], name="改名街道", geometry=t[1].geometry.buffer(0.001)),
            t[0], *t[2:12])  # reordered, renamed, reshaped; the last two townships removed
    codes = {x.code for x in kept}
    zones = tuple(dataclasses.replace(z, members=tuple(m for m in z.members if m in codes))
                  for z in changshan.zones[:3])
    new = dataclasses.replace(
        changshan, name="常山县（新）", townships=kept, zones=zones,
        clusters=(Area("cluster-new", "新组团", "cluster", (t[0].code, t[1].code),
                       hub=t[1].code, note="replacement"),),
        outline=None, travel_estimate=TravelEstimate(1.4, 30.0), meta={"version": 2})
    store.save_district(new)
    assert store.list_districts() == ["changshan"]
    _assert_identical(new, store.load_district("changshan"))


def test_unknown_district_raises_key_error_naming_it(store: Store, changshan: District) -> None:
    store.save_district(changshan)
    with pytest.raises(KeyError, match=r"no district 'nowhere'.*stored: changshan"):
        store.load_district("nowhere")


def test_delete_removes_the_district_and_everything_under_it(store: Store) -> None:
    full, other = _small_district("alpha"), _small_district("beta")
    store.save_district(full)
    store.save_district(other)
    store.delete_district("alpha")
    assert store.list_districts() == ["beta"]
    with pytest.raises(KeyError):
        store.load_district("alpha")
    # Saving the code again with one township must not resurrect anything left behind.
    bare = dataclasses.replace(full, townships=full.townships[:1], zones=(), clusters=())
    store.save_district(bare)
    assert store.load_district("alpha") == bare
    assert store.load_district("beta") == other
    with pytest.raises(KeyError, match="no district 'gamma'"):
        store.delete_district("gamma")


# -- atomicity -----------------------------------------------------------------------------


def test_failure_mid_save_keeps_the_previous_district(store: Store, changshan: District) -> None:
    store.save_district(changshan)
    last = changshan.townships[-1]
    # Encodes fine; the database refuses the last township only after the district row and
    # the other townships of the replacement have been written.
    broken = dataclasses.replace(
        changshan, name="半途而废", meta={"half": True},
        townships=(*changshan.townships[:-1], dataclasses.replace(last, name=None)))
    with pytest.raises(StoreError, match="saving district 'changshan' failed"):
        store.save_district(broken)
    _assert_identical(changshan, store.load_district("changshan"))


def test_failure_at_the_last_step_keeps_the_previous_district(
    store: Store, changshan: District
) -> None:
    store.save_district(changshan)
    zone = changshan.zones[0]
    # Townships and areas are written, then a member pointing at no township fails.
    broken = dataclasses.replace(
        changshan, townships=changshan.townships[:-1],
        zones=(dataclasses.replace(zone, members=(*zone.members, "CS99")), *changshan.zones[1:]))
    with pytest.raises(StoreError, match="failed"):
        store.save_district(broken)
    _assert_identical(changshan, store.load_district("changshan"))
    store.save_district(changshan)  # the connection is usable after the rollback


def test_failed_first_save_stores_nothing(store: Store) -> None:
    d = _small_district()
    broken = dataclasses.replace(d, clusters=(dataclasses.replace(d.clusters[0], hub="T99"),))
    with pytest.raises(StoreError):
        store.save_district(broken)
    assert store.list_districts() == []


def test_unencodable_district_is_refused_before_writing(store: Store) -> None:
    d = _small_district()
    store.save_district(d)
    with pytest.raises(StoreError, match="cannot store it"):
        store.save_district(dataclasses.replace(d, meta={"bad": math.nan}))
    with pytest.raises(StoreError, match="expected a shapely geometry"):
        store.save_district(dataclasses.replace(
            d, townships=(dataclasses.replace(d.townships[0], geometry="POINT (1 2)"),)))
    assert store.load_district(d.code) == d


def test_duplicate_township_codes_are_refused_not_merged(store: Store) -> None:
    d = _small_district()
    store.save_district(d)
    twin = dataclasses.replace(d.townships[2], code=d.townships[1].code)
    with pytest.raises(StoreError, match="township code used more than once: T01"):
        store.save_district(dataclasses.replace(d, townships=(*d.townships[:2], twin)))
    assert store.load_district(d.code) == d


def test_concurrent_saves_from_threads_leave_one_whole_district(store: Store) -> None:
    versions = [_small_district("alpha", n=k) for k in (2, 3, 4, 5)]
    errors: list[BaseException] = []

    def save(d: District) -> None:
        try:
            for _ in range(5):
                store.save_district(d)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(d,)) for d in versions]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert store.load_district("alpha") in versions


# -- errors naming the database ------------------------------------------------------------


def test_unreachable_postgis_names_the_url_without_password() -> None:
    with pytest.raises(StoreError) as err:
        open_store("postgresql://enforcer:s3cret@127.0.0.1:1/whistle?connect_timeout=2")
    msg = str(err.value)
    assert "127.0.0.1:1" in msg and "cannot connect" in msg
    assert "s3cret" not in msg and "enforcer:***@" in msg


def test_sqlite_in_a_missing_folder_names_the_folder(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'whistle.db'}"
    with pytest.raises(StoreError, match=r"directory .*missing does not exist"):
        open_store(url)


def test_sqlite_file_that_is_not_a_database_is_refused(tmp_path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(StoreError, match=f"{re.escape(str(path))}.*not a database"):
        open_store(f"sqlite:///{path}")


@pytest.mark.parametrize("url", ["mysql://localhost/whistle", "sqlite://relative.db"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError, match="sqlite:///"):
        open_store(url)


# -- backend specifics ---------------------------------------------------------------------


def test_sqlite_file_runs_in_wal_mode_with_foreign_keys_on(sqlite_url: str) -> None:
    with open_store(sqlite_url) as s, s.transaction() as cur:
        assert cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cur.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_sqlite_in_memory_works_for_throwaway_use(changshan: District) -> None:
    with open_store("sqlite:///:memory:") as s:
        s.save_district(changshan)
        assert s.load_district("changshan") == changshan


def test_postgis_geometry_columns_are_4326_with_gist_indexes(postgis_url: str) -> None:
    with open_store(postgis_url) as s, s.transaction() as cur:
        cur.execute("SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns "
                    "WHERE f_table_schema = current_schema() ORDER BY 1")
        assert [tuple(r) for r in cur.fetchall()] == [("district", "outline", 4326, "GEOMETRY"),
                                                      ("township", "geom", 4326, "GEOMETRY")]
        cur.execute("SELECT tablename, indexdef FROM pg_indexes "
                    "WHERE schemaname = current_schema() AND indexdef LIKE '%USING gist%'")
        gist = {r[0]: r[1] for r in cur.fetchall()}
        assert set(gist) == {"district", "township"}
        assert "(outline)" in gist["district"] and "(geom)" in gist["township"]
