"""Road paths for the map: the route the travel times were measured on, vertex by vertex."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geo.crs import to_metric, to_wgs84
from geo.network import RoadNetwork, read_osm_graph
from geo.traveltime import ACCESS_SPEED_KMH, RoadTravelTimes

WEIHAI = Path(__file__).parent / "data" / "osm" / "weihai_hit.osm"
EPSG = 32650
ORIGIN = to_metric(np.array([118.52]), np.array([28.90]), EPSG)


def lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = to_wgs84(ORIGIN[0] + np.atleast_1d(x), ORIGIN[1] + np.atleast_1d(y), EPSG)
    return float(lon[0]), float(lat[0])


def toy(nodes: list[tuple[float, float]], edges: list[tuple[int, int, float, float]]
        ) -> RoadNetwork:
    lon, lat = to_wgs84(ORIGIN[0] + np.array([p[0] for p in nodes]),
                        ORIGIN[1] + np.array([p[1] for p in nodes]), EPSG)
    u, v, length, time = (np.array(c) for c in zip(*edges, strict=True))
    return RoadNetwork.from_edges(node_id=np.arange(len(nodes)), lon=lon, lat=lat, edge_u=u,
                                  edge_v=v, length_m=length, time_s=time, epsg=EPSG)


def metric(path: np.ndarray) -> np.ndarray:
    x, y = to_metric(path[:, 0], path[:, 1], EPSG)
    return np.column_stack([x - ORIGIN[0], y - ORIGIN[1]])


def length(path: np.ndarray) -> float:
    xy = metric(path)
    return float(np.hypot(*np.diff(xy, axis=0).T).sum())


def two_way(edges: list[tuple[int, int, float, float]]) -> list[tuple[int, int, float, float]]:
    return edges + [(v, u, m, s) for u, v, m, s in edges]


def test_path_follows_the_fastest_roads_not_the_straight_line():
    # A square: going 0→2 via node 1 (fast) beats via node 3 (slow); no diagonal road.
    nodes = [(0, 0), (1000, 0), (1000, 1000), (0, 1000)]
    net = toy(nodes, two_way([(0, 1, 1000, 60), (1, 2, 1000, 60), (0, 3, 1000, 200),
                              (3, 2, 1000, 200)]))
    router = RoadTravelTimes(net)
    path = router.path(*lonlat(0, 0), *lonlat(1000, 1000))
    np.testing.assert_allclose(metric(path), [[0, 0], [1000, 0], [1000, 1000]], atol=0.01)
    m = router.matrix(*zip(lonlat(0, 0), strict=True), *zip(lonlat(1000, 1000), strict=True))
    assert length(path) == pytest.approx(float(m.metres[0, 0]), abs=1.0)


def test_path_starts_and_ends_at_the_points_with_their_access_legs():
    net = toy([(0, 0), (1000, 0)], two_way([(0, 1, 1000, 100)]))
    path = RoadTravelTimes(net).path(*lonlat(200, 50), *lonlat(700, -30))
    np.testing.assert_allclose(metric(path), [[200, 50], [200, 0], [700, 0], [700, -30]],
                               atol=0.01)


def test_path_respects_one_way_roads():
    # 0→1 is one-way; from 1 back to 0 the route must go round by node 2.
    nodes = [(0, 0), (1000, 0), (500, 800)]
    net = toy(nodes, [(0, 1, 1000, 50), (1, 2, 950, 60), (2, 0, 950, 60)])
    path = RoadTravelTimes(net).path(*lonlat(1000, 0), *lonlat(0, 0))
    np.testing.assert_allclose(metric(path), [[1000, 0], [500, 800], [0, 0]], atol=0.01)


def test_path_keeps_the_shape_of_curved_roads():
    lon, lat = to_wgs84(ORIGIN[0] + np.array([0.0, 1000.0]), ORIGIN[1] + np.array([0.0, 0.0]),
                        EPSG)
    bend = np.array([lonlat(0, 0), lonlat(500, 400), lonlat(1000, 0)])
    net = RoadNetwork.from_edges(node_id=np.arange(2), lon=lon, lat=lat, edge_u=np.array([0]),
                                 edge_v=np.array([1]), length_m=np.array([1281.0]),
                                 time_s=np.array([90.0]), geometry=[bend], epsg=EPSG)
    path = RoadTravelTimes(net).path(*lonlat(0, 0), *lonlat(1000, 0))
    assert len(path) == 3
    np.testing.assert_allclose(metric(path)[1], [500, 400], atol=0.01)


def test_points_in_one_compound_go_straight_across():
    net = toy([(0, 0), (1000, 0)], two_way([(0, 1, 1000, 100)]))
    a, b = lonlat(500, 300), lonlat(520, 310)  # 300 m off the road, 22 m apart
    path = RoadTravelTimes(net).path(*a, *b)
    np.testing.assert_allclose(metric(path), [[500, 300], [520, 310]], atol=0.01)
    m = RoadTravelTimes(net).matrix([a[0]], [a[1]], [b[0]], [b[1]])
    assert m.seconds[0, 0] == pytest.approx(np.hypot(20, 10) / (ACCESS_SPEED_KMH / 3.6),
                                            rel=1e-6)


def test_no_road_route_raises():
    net = toy([(0, 0), (1000, 0), (0, 3000), (1000, 3000)],
              [(0, 1, 1000, 100), (2, 3, 1000, 100)])
    with pytest.raises(ValueError, match="no road route"):
        RoadTravelTimes(net).path(*lonlat(1000, 0), *lonlat(0, 3000))


def test_path_lengths_match_the_matrix_on_a_real_network():
    G, _ = read_osm_graph(WEIHAI)
    net = RoadNetwork.from_graph(G)
    router = RoadTravelTimes(net)
    rng = np.random.default_rng(3)
    x = rng.uniform(net.x.min(), net.x.max(), 8)
    y = rng.uniform(net.y.min(), net.y.max(), 8)
    lon, lat = to_wgs84(x, y, net.epsg)
    m = router.matrix(lon, lat, lon, lat)
    for i in range(8):
        for j in range(8):
            path = router.path(lon[i], lat[i], lon[j], lat[j])
            np.testing.assert_allclose(path[0], [lon[i], lat[i]], atol=1e-9)
            np.testing.assert_allclose(path[-1], [lon[j], lat[j]], atol=1e-9)
            px, py = to_metric(path[:, 0], path[:, 1], net.epsg)
            drawn = float(np.hypot(np.diff(px), np.diff(py)).sum())
            # edge lengths are geodesic, the drawing is in UTM: agree within 1 %
            assert drawn == pytest.approx(float(m.metres[i, j]), rel=0.01, abs=1.0)
