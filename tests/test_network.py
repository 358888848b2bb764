"""Road networks from real OSM extracts: drive filter, speeds, snapping, cache and CLI import.

Fixtures are real OpenStreetMap data (tests/data/osm/README.md): a campus area of Weihai,
China, with Chinese road names, and Aguascalientes, Mexico, in both .osm.bz2 and .osm.pbf.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import box, mapping
from typer.testing import CliRunner

from geo.boundaries import load_district
from geo.crs import to_wgs84
from geo.network import NetworkError, RoadNetwork, is_drivable, read_osm_graph
from geo.speeds import RURAL_KMH, URBAN_KMH, district_urban_area, first_class
from geo.traveltime import RoadTravelTimes, network_path
from web.commands.network import app

OSM = Path(__file__).parent / "data" / "osm"
WEIHAI = OSM / "weihai_hit.osm"
AGUAS_BZ2 = OSM / "aguascalientes.osm.bz2"
AGUAS_PBF = OSM / "aguascalientes.osm.pbf"
SPLIT_LON = 122.075  # the made-up test district: a street west of this line, a town east


@pytest.fixture(scope="module")
def weihai() -> RoadNetwork:
    return RoadNetwork.from_osm(WEIHAI)


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def district_dir(tmp_path: Path) -> Path:
    """A made-up two-township district around the Weihai extract (not real boundaries)."""
    folder = tmp_path / "weihai-test"
    folder.mkdir()
    townships = [
        ("T1", "测试街道", "街道", "urban_street", box(122.062, 37.519, SPLIT_LON, 37.538)),
        ("T2", "测试镇", "镇", "hub_town", box(SPLIT_LON, 37.519, 122.089, 37.538)),
    ]
    features = [{"type": "Feature", "geometry": mapping(g),
                 "properties": {"code": c, "name": n, "kind": k, "class": cl}}
                for c, n, k, cl, g in townships]
    (folder / "townships.geojson").write_text(json.dumps(
        {"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8")
    (folder / "district.json").write_text(json.dumps(
        {"code": "weihai-test", "name": "测试区", "metric_epsg": 32651,
         "note": "made-up test district drawn around tests/data/osm/weihai_hit.osm"},
        ensure_ascii=False), encoding="utf-8")
    return folder


# -- reading -----------------------------------------------------------------------------


def test_drive_filter_mirrors_osmnx_drive_rules():
    assert is_drivable({"highway": "primary"})
    assert is_drivable({"highway": "service"})
    assert not is_drivable({"highway": "service"}, service_roads=False)
    assert not is_drivable({"highway": "service", "service": "parking_aisle"})
    assert is_drivable({"highway": "service", "service": "alley"})
    assert not is_drivable({"highway": "service", "service": "alley"}, service_roads=False)
    for hwy in ("footway", "raceway", "steps", "track", "cycleway", "pedestrian", "construction"):
        assert not is_drivable({"highway": hwy}), hwy
    assert not is_drivable({"highway": "residential", "access": "private"})
    assert not is_drivable({"highway": "residential", "motor_vehicle": "no"})
    assert not is_drivable({"highway": "residential", "area": "yes"})
    assert not is_drivable({"building": "yes"})


def test_weihai_extract_loads_as_drivable_network_with_chinese_names(weihai):
    # 395 is the largest strongly connected component of osmnx's own "drive_service" graph of
    # this file (tests/data/osm sources), reached here through pyosmium filtering instead.
    assert weihai.n_nodes == 395
    assert weihai.epsg == 32651
    assert {"footway", "raceway", "steps", "track", "pedestrian"}.isdisjoint(weihai.classes)
    assert {"primary", "secondary", "service"} <= set(weihai.classes)
    names = {part for name in weihai.names for part in name.split("/")}
    assert {"文化西路", "北环海路", "哈工大路"} <= names
    assert weihai.meta["source_sha256"].startswith("504749fb")
    assert 60 < weihai.road_km < 90


def test_service_roads_are_optional():
    net = RoadNetwork.from_osm(WEIHAI, service_roads=False)
    assert "service" not in net.classes
    assert net.n_nodes < 395


def test_bz2_and_pbf_give_the_same_graph():
    a, b = RoadNetwork.from_osm(AGUAS_BZ2), RoadNetwork.from_osm(AGUAS_PBF)
    assert a.n_nodes > 500
    for name in ("node_id", "lon", "lat", "edge_u", "edge_v", "edge_length_m", "edge_time_s",
                 "seg_xy"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_reading_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access during OSM import")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert RoadNetwork.from_osm(AGUAS_PBF).n_edges > 0


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("broken.osm", "<osm><node id='1' lat='1' lon='1'></osm>", "cannot read OSM data"),
    ("broken.osm.pbf", "not a pbf", "cannot read OSM data"),
    ("empty.osm", "", "cannot read OSM data"),
    ("buildings.osm", "<?xml version='1.0'?><osm version='0.6'><node id='1' lat='1' lon='1'/>"
     "<node id='2' lat='1.001' lon='1'/><way id='3'><nd ref='1'/><nd ref='2'/>"
     "<tag k='building' v='yes'/></way></osm>", "no roads"),
    ("paths.osm", "<?xml version='1.0'?><osm version='0.6'><node id='1' lat='1' lon='1'/>"
     "<node id='2' lat='1.001' lon='1'/><way id='3'><nd ref='1'/><nd ref='2'/>"
     "<tag k='highway' v='footway'/></way></osm>", "no drivable roads"),
    ("roads.geojson", "{}", "unsupported file type"),
])
def test_unusable_files_raise_network_error_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(NetworkError, match=reason) as err:
        RoadNetwork.from_osm(path)
    assert name in str(err.value)
    with pytest.raises(NetworkError, match="no such file"):
        RoadNetwork.from_osm(tmp_path / "missing.osm")


# -- speeds ------------------------------------------------------------------------------


def test_rural_speeds_by_class_capped_by_lower_posted_limits():
    G, _ = read_osm_graph(AGUAS_BZ2)
    capped = 0
    for _, _, d in G.edges(data=True):
        table = RURAL_KMH[first_class(d["highway"])]
        posted = d.get("maxspeed")
        expected = min(table, float(posted)) if isinstance(posted, str) else table
        if isinstance(posted, list):
            continue  # merged ways with several limits: osmnx averages them
        assert d["speed_kph"] == expected
        assert d["travel_time"] == pytest.approx(d["length"] / (expected / 3.6))
        capped += expected < table
    assert capped > 0  # Aguascalientes primaries carry maxspeed=50 below the rural 60


def test_urban_speeds_apply_inside_the_district_streets(district_dir):
    district = load_district(district_dir)
    net = RoadNetwork.from_osm(WEIHAI, urban_area=district_urban_area(district))
    mid_lon = (net.lon[net.edge_u] + net.lon[net.edge_v]) / 2
    mid_lat = (net.lat[net.edge_u] + net.lat[net.edge_v]) / 2
    table_urban = np.array([URBAN_KMH[c] for c in net.edge_highway])
    table_rural = np.array([RURAL_KMH[c] for c in net.edge_highway])
    street = district.township("测试街道").geometry
    west = shapely.contains_xy(street, mid_lon, mid_lat)
    assert west.any() and (~west).any()
    np.testing.assert_array_equal(net.edge_speed_kmh[west], table_urban[west])
    np.testing.assert_array_equal(net.edge_speed_kmh[~west], table_rural[~west])
    np.testing.assert_allclose(net.edge_time_s, net.edge_length_m / (net.edge_speed_kmh / 3.6),
                               atol=5e-4)


# -- snapping ----------------------------------------------------------------------------


def test_point_on_a_node_snaps_to_it_at_zero_distance(weihai):
    snap = weihai.snap(weihai.lon[[7, 200]], weihai.lat[[7, 200]])
    np.testing.assert_array_equal(snap.node, [7, 200])
    np.testing.assert_allclose(snap.distance_m, 0.0, atol=1e-6)


def test_snap_distance_is_the_distance_to_the_nearest_road(weihai):
    rng = np.random.default_rng(3)
    x = rng.uniform(weihai.x.min(), weihai.x.max(), 200)
    y = rng.uniform(weihai.y.min(), weihai.y.max(), 200)
    lon, lat = to_wgs84(x, y, weihai.epsg)
    snap = weihai.snap(lon, lat)
    points = shapely.points(x, y)
    brute = shapely.distance(points[:, None], weihai.lines[None, :]).min(axis=1)
    np.testing.assert_allclose(snap.distance_m, brute, atol=1e-3)
    assert snap.distance_m.max() < 2_000  # inside the extract's extent
    on_road = shapely.distance(shapely.points(snap.x, snap.y), weihai.lines[snap.segment])
    np.testing.assert_allclose(on_road, 0.0, atol=1e-6)
    assert ((snap.fraction >= 0) & (snap.fraction <= 1)).all()
    ends = np.column_stack([weihai.edge_u[snap.edge], weihai.edge_v[snap.edge]])
    assert (snap.node == ends[np.arange(len(snap.node)), (snap.fraction > 0.5).astype(int)]).all()


def test_snap_refuses_non_finite_points(weihai):
    with pytest.raises(ValueError, match="not finite"):
        weihai.snap([122.07, np.nan], [37.53, 37.53])


# -- cache -------------------------------------------------------------------------------


def test_cache_round_trip_is_identical(weihai, tmp_path):
    path = weihai.save(tmp_path / "net.npz")
    loaded = RoadNetwork.load(path)
    for name in RoadNetwork._ARRAYS:
        a, b = getattr(weihai, name), getattr(loaded, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert (loaded.epsg, loaded.classes, loaded.names, loaded.meta) == (
        weihai.epsg, weihai.classes, weihai.names, weihai.meta)
    lon, lat = weihai.lon[:40] + 2e-4, weihai.lat[:40]
    np.testing.assert_array_equal(RoadTravelTimes(weihai).matrix(lon, lat, lon, lat).seconds,
                                  RoadTravelTimes(loaded).matrix(lon, lat, lon, lat).seconds)


def test_unreadable_cache_raises_network_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(NetworkError, match="not a readable network cache"):
        RoadNetwork.load(bad)
    with pytest.raises(NetworkError, match="no such network cache"):
        RoadNetwork.load(tmp_path / "none.npz")


# -- CLI ---------------------------------------------------------------------------------


runner = CliRunner()


def test_cli_import_builds_and_caches_the_district_network(district_dir, data_dir):
    res = runner.invoke(app, ["import", str(WEIHAI), "--boundaries", str(district_dir)])
    assert res.exit_code == 0, res.output
    assert "395 nodes" in res.output and "townships with roads: 2/2" in res.output
    path = data_dir / "networks" / "weihai-test.npz"
    assert path == network_path("weihai-test") and path.is_file()
    net = RoadNetwork.load(path)
    assert net.n_nodes == 395 and net.meta["district"] == "weihai-test"
    assert net.meta["share_in_district"] > 0.9

    info = runner.invoke(app, ["info", "--district", "weihai-test", "--json"])
    assert info.exit_code == 0, info.output
    shown = json.loads(info.output)
    assert (shown["cached"], shown["nodes"], shown["eta_source"]) == (True, 395, "road")


def test_cli_import_refuses_a_file_outside_the_district(district_dir, data_dir):
    res = runner.invoke(app, ["import", str(AGUAS_PBF), "--boundaries", str(district_dir)])
    assert res.exit_code == 2
    assert "none of its" in res.output and "nothing was saved" in res.output
    assert "Traceback" not in res.output
    assert not (data_dir / "networks" / "weihai-test.npz").exists()

    forced = runner.invoke(app, ["import", str(AGUAS_PBF), "--boundaries", str(district_dir),
                                 "--force"])
    assert forced.exit_code == 0, forced.output
    assert "townships with roads: 0/2" in forced.output


def test_cli_import_of_an_unreadable_file_keeps_the_existing_cache(district_dir, data_dir,
                                                                    tmp_path):
    assert runner.invoke(app, ["import", str(WEIHAI), "--boundaries", str(district_dir)]
                         ).exit_code == 0
    path = data_dir / "networks" / "weihai-test.npz"
    before = path.read_bytes()
    broken = tmp_path / "broken.osm.bz2"
    broken.write_bytes(b"not bzip2")
    res = runner.invoke(app, ["import", str(broken), "--boundaries", str(district_dir)])
    assert res.exit_code == 2
    assert "broken.osm.bz2: cannot read OSM data" in res.output
    assert path.read_bytes() == before


def test_cli_import_checks_the_district_arguments(district_dir):
    res = runner.invoke(app, ["import", str(WEIHAI), "--boundaries", str(district_dir),
                              "--district", "changshan"])
    assert res.exit_code == 2 and "does not match" in res.output
    res = runner.invoke(app, ["import", str(WEIHAI)])
    assert res.exit_code == 2 and "--district" in res.output


def test_cli_import_refuses_the_weihai_file_for_changshan(data_dir):
    res = runner.invoke(app, ["import", str(WEIHAI), "--district", "changshan"])
    assert res.exit_code == 2 and "常山县" in res.output
    assert not (data_dir / "networks" / "changshan.npz").exists()


def test_cli_info_without_a_cache_says_times_are_estimated():
    res = runner.invoke(app, ["info", "--district", "changshan"])
    assert res.exit_code == 0 and "estimate" in res.output
