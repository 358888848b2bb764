"""Travel times: road matrices agree with networkx, join rules on a road, estimate, selection."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from geo.boundaries import District, TravelEstimate, bundled_district
from geo.crs import to_metric, to_wgs84
from geo.network import RoadNetwork, read_osm_graph
from geo.traveltime import (
    ACCESS_SPEED_KMH,
    EstimateTravelTimes,
    RoadTravelTimes,
    network_path,
    travel_times_for,
)

WEIHAI = Path(__file__).parent / "data" / "osm" / "weihai_hit.osm"
EPSG = 32650
ORIGIN = to_metric(np.array([118.52]), np.array([28.90]), EPSG)  # Changshan county seat
ACCESS_MPS = ACCESS_SPEED_KMH / 3.6


@pytest.fixture(scope="module")
def weihai_graph():
    G, _ = read_osm_graph(WEIHAI)
    return G, RoadNetwork.from_graph(G)


def lonlat(x: float | list[float], y: float | list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Metric offsets (m) from the origin to WGS84."""
    return to_wgs84(ORIGIN[0] + np.atleast_1d(x), ORIGIN[1] + np.atleast_1d(y), EPSG)


def toy(nodes: list[tuple[float, float]], edges: list[tuple[int, int, float, float]]
        ) -> RoadNetwork:
    """A hand-made network: nodes at metric offsets, edges (u, v, metres, seconds)."""
    lon, lat = lonlat([p[0] for p in nodes], [p[1] for p in nodes])
    u, v, length, time = (np.array(c) for c in zip(*edges, strict=True))
    return RoadNetwork.from_edges(node_id=np.arange(len(nodes)), lon=lon, lat=lat, edge_u=u,
                                  edge_v=v, length_m=length, time_s=time, epsg=EPSG)


def times(net: RoadNetwork, src: list[tuple[float, float]], dst: list[tuple[float, float]]):
    s, d = lonlat(*zip(*src, strict=True)), lonlat(*zip(*dst, strict=True))
    return RoadTravelTimes(net).matrix(s[0], s[1], d[0], d[1])


# -- agreement with networkx on a real network -------------------------------------------


def test_road_matrix_equals_networkx_shortest_times(weihai_graph):
    G, net = weihai_graph
    rng = np.random.default_rng(11)
    src = rng.choice(net.n_nodes, 25, replace=False)
    dst = rng.choice(net.n_nodes, 60, replace=False)
    m = RoadTravelTimes(net).matrix(net.lon[src], net.lat[src], net.lon[dst], net.lat[dst])
    assert m.eta_source == "road" and m.seconds.shape == (25, 60)
    np.testing.assert_allclose(m.snap_m_src, 0.0, atol=1e-6)
    ids = net.node_id
    for row, s in enumerate(src):
        ref = nx.single_source_dijkstra_path_length(G, int(ids[s]), weight="travel_time")
        expected = np.array([ref[int(ids[d])] for d in dst])
        # edge times are kept to the millisecond
        np.testing.assert_allclose(m.seconds[row], expected, atol=0.05)
    for row, col in [(0, 0), (3, 7), (10, 20)]:
        path = nx.shortest_path(G, int(ids[src[row]]), int(ids[dst[col]]), weight="travel_time")
        length = sum(min(G[a][b].values(), key=lambda e: e["travel_time"])["length"]
                     for a, b in itertools.pairwise(path))
        assert m.metres[row, col] == pytest.approx(length, abs=0.5 * len(path) + 0.5)


def test_searching_from_destinations_gives_the_same_matrix(weihai_graph):
    _, net = weihai_graph
    rng = np.random.default_rng(5)
    x = rng.uniform(net.x.min(), net.x.max(), 30)
    y = rng.uniform(net.y.min(), net.y.max(), 30)
    lon, lat = to_wgs84(x, y, net.epsg)
    router = RoadTravelTimes(net)
    many_to_few = router.matrix(lon, lat, lon[:4], lat[:4])  # searches from the 4 destinations
    rows = [router.one_to_many(a, b, lon[:4], lat[:4]) for a, b in zip(lon, lat, strict=True)]
    np.testing.assert_array_equal(many_to_few.seconds, np.vstack([r.seconds for r in rows]))
    np.testing.assert_array_equal(many_to_few.metres, np.vstack([r.metres for r in rows]))
    np.testing.assert_allclose(np.diag(many_to_few.seconds[:4]), 0.0)


# -- how a point joins the road ----------------------------------------------------------


def test_points_on_one_road_drive_along_it_only_in_its_direction():
    one_way = toy([(0, 0), (1000, 0)], [(0, 1, 1000.0, 100.0)])
    m = times(one_way, [(300, 0), (700, 0)], [(300, 0), (700, 0)])
    assert m.seconds[0, 1] == pytest.approx(40.0, abs=1e-3)
    assert m.metres[0, 1] == pytest.approx(400.0, abs=0.5)
    assert np.isinf(m.seconds[1, 0]) and np.isinf(m.metres[1, 0])  # against a one-way road

    two_way = toy([(0, 0), (1000, 0)], [(0, 1, 1000.0, 100.0), (1, 0, 1000.0, 100.0)])
    assert two_way.n_segments == 1
    m = times(two_way, [(300, 0), (700, 0)], [(300, 0), (700, 0)])
    np.testing.assert_allclose(m.seconds, [[0, 40], [40, 0]], atol=1e-3)


def test_a_point_may_leave_backwards_only_on_a_two_way_road():
    nodes = [(0, 0), (1000, 0), (0, 1000)]
    up = [(0, 2, 1000.0, 200.0), (2, 0, 1000.0, 200.0)]
    two_way = toy(nodes, [(0, 1, 1000.0, 100.0), (1, 0, 1000.0, 100.0), *up])
    assert times(two_way, [(300, 0)], [(0, 1000)]).seconds[0, 0] == pytest.approx(230.0, abs=1e-3)
    one_way = toy(nodes, [(0, 1, 1000.0, 100.0), *up])
    assert np.isinf(times(one_way, [(300, 0)], [(0, 1000)]).seconds[0, 0])


def test_a_point_at_a_node_can_take_any_road_out_of_it():
    net = toy([(0, 0), (1000, 0), (0, 1000)], [(0, 1, 1000.0, 100.0), (0, 2, 1000.0, 200.0)])
    assert times(net, [(0, 0)], [(0, 1000)]).seconds[0, 0] == pytest.approx(200.0, abs=1e-3)


def test_access_leg_is_the_snap_distance_at_access_speed():
    net = toy([(0, 0), (1000, 0)], [(0, 1, 1000.0, 100.0), (1, 0, 1000.0, 100.0)])
    m = times(net, [(500, 100)], [(700, 0)])
    assert m.snap_m_src[0] == pytest.approx(100.0, abs=0.01)
    assert m.snap_m_dst[0] == pytest.approx(0.0, abs=0.01)
    assert m.seconds[0, 0] == pytest.approx(100.0 / ACCESS_MPS + 20.0, abs=0.01)
    assert m.metres[0, 0] == pytest.approx(300.0, abs=0.6)


def test_unreachable_pairs_are_inf_and_ranking_skips_them():
    net = toy([(0, 0), (1000, 0), (0, 1000), (0, 3000)],
              [(0, 1, 1000.0, 100.0), (0, 2, 1000.0, 100.0), (2, 3, 2000.0, 150.0)])
    m = times(net, [(1000, 0), (0, 1000), (0, 0)], [(0, 3000)])
    assert np.isinf(m.seconds[0, 0])
    assert int(np.argmin(m.seconds[:, 0])) == 1
    assert m.as_dict()["seconds"] == [[None], [150.0], [250.0]]  # JSON has no infinity


# -- estimate and selection --------------------------------------------------------------


def test_estimate_is_great_circle_times_circuity_over_speed():
    est = EstimateTravelTimes(TravelEstimate(circuity=1.35, speed_kmh=35.0))
    m = est.one_to_many(118.5, 28.9, [118.5, 118.5], [28.9, 29.9])
    one_degree_m = 6_371_008.8 * np.pi / 180
    np.testing.assert_allclose(m.metres[0], [0.0, one_degree_m * 1.35])
    np.testing.assert_allclose(m.seconds[0], [0.0, one_degree_m * 1.35 / (35 / 3.6)])
    assert m.eta_source == "estimate" and m.snap_m_src is None and m.snap_m_dst is None


def test_estimate_refuses_bad_parameters_and_points():
    with pytest.raises(ValueError, match="circuity"):
        EstimateTravelTimes(TravelEstimate(circuity=0.5))
    with pytest.raises(ValueError, match=r"dst_lat\[1\] = 95.0"):
        EstimateTravelTimes().matrix([118.5], [28.9], [118.5, 118.6], [28.9, 95.0])
    with pytest.raises(ValueError, match="src_lon and src_lat"):
        EstimateTravelTimes().matrix([118.5, 118.6], [28.9], [118.5], [28.9])


def test_district_without_a_network_uses_its_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path))
    changshan = bundled_district("changshan")
    times_ = travel_times_for(changshan)
    assert isinstance(times_, EstimateTravelTimes)
    assert times_.estimate == changshan.travel_estimate
    assert times_.one_to_many(118.52, 28.90, [118.6], [28.95]).eta_source == "estimate"


def test_district_with_a_cached_network_uses_the_roads(tmp_path, monkeypatch, weihai_graph):
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path))
    district = District(code="weihai-test", name="测试区", metric_epsg=32651, townships=())
    _, net = weihai_graph
    net.save(network_path("weihai-test"))
    times_ = travel_times_for(district)
    assert isinstance(times_, RoadTravelTimes)
    assert travel_times_for(district) is times_  # loaded once, kept while the file is unchanged
    m = times_.one_to_many(122.07, 37.53, [122.08], [37.525])
    assert m.eta_source == "road" and m.snap_m_src is not None and np.isfinite(m.seconds).all()


def test_cached_source_trees_give_the_same_matrix_as_fresh_searches(weihai_graph):
    _, net = weihai_graph
    rng = np.random.default_rng(4)
    lon0, lat0, lon1, lat1 = net.lon.min(), net.lat.min(), net.lon.max(), net.lat.max()
    src = rng.uniform(lon0, lon1, 12), rng.uniform(lat0, lat1, 12)
    dst = rng.uniform(lon0, lon1, 40), rng.uniform(lat0, lat1, 40)
    fresh = RoadTravelTimes(net, tree_cache=0).matrix(*src, *dst)
    cached = RoadTravelTimes(net, tree_cache=8)
    first = cached.matrix(*src, *dst)  # more sources than the cache holds: plain search
    assert not cached._trees
    again = cached.matrix(src[0][:5], src[1][:5], *dst)  # fills 5 trees
    later = cached.matrix(src[0][3:11], src[1][3:11], *dst)  # 2 hits, 6 new: 3 evicted
    assert np.allclose(first.seconds, fresh.seconds, equal_nan=True)
    assert np.allclose(first.metres, fresh.metres, equal_nan=True)
    assert np.allclose(again.seconds, fresh.seconds[:5], equal_nan=True)
    assert np.allclose(later.seconds, fresh.seconds[3:11], equal_nan=True)
    assert np.allclose(later.metres, fresh.metres[3:11], equal_nan=True)
    assert len(cached._trees) == 8
