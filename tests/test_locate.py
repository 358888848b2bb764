"""The vectorised locator gives the same answers as an exact test per point."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.boundaries import bundled_district
from geo.crs import to_metric, wgs84_to_gcj02
from geo.locate import LocateError, Locator, parse_points


@pytest.fixture(scope="module")
def locator() -> Locator:
    return Locator(bundled_district("changshan"))


def _exact(district, lon, lat):
    out = np.full(lon.shape, -1)
    for i in reversed(range(len(district.townships))):  # first listed township wins overlaps
        out[shapely.contains_xy(district.townships[i].geometry, lon, lat)] = i
    return out


def test_matches_exact_point_in_polygon_on_random_points(locator):
    d = locator.district
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = d.bounds
    lon = rng.uniform(minx - 0.05, maxx + 0.05, 200_000)
    lat = rng.uniform(miny - 0.05, maxy + 0.05, 200_000)
    got = locator.township_index(lon, lat)
    assert np.array_equal(got, _exact(d, lon, lat))
    assert 0.3 < (got >= 0).mean() < 0.6 and len(set(got.tolist())) == 15


def test_matches_exact_test_next_to_boundaries(locator):
    """Points sampled a few metres either side of every boundary vertex."""
    d = locator.district
    coords = shapely.get_coordinates(shapely.segmentize(
        shapely.boundary(np.array([t.geometry for t in d.townships])), 0.0002))
    rng = np.random.default_rng(3)
    jitter = rng.normal(0, 0.00005, coords.shape)  # ~5 m
    lon, lat = coords[:, 0] + jitter[:, 0], coords[:, 1] + jitter[:, 1]
    assert np.array_equal(locator.township_index(lon, lat), _exact(d, lon, lat))


def test_overlap_sliver_goes_to_first_listed_township(locator):
    d = locator.district
    a, b = d.township("辉埠镇").geometry, d.township("大桥头乡").geometry
    p = a.intersection(b).representative_point()
    idx = locator.township_index(np.array([p.x]), np.array([p.y]))
    assert d.townships[idx[0]].name == "辉埠镇"


def test_describe_gives_zone_cluster_and_hub(locator):
    d = locator.district
    p = d.township("何家乡").geometry.representative_point()
    [row] = locator.describe([p.x], [p.y])
    assert row["township"] == "何家乡" and row["township_code"] == "CS10"
    assert row["zone"] == "辉埠片区" and row["cluster"] == "辉埠镇"
    street = d.township("天马街道").geometry.representative_point()
    [row] = locator.describe([street.x], [street.y])
    assert row["cluster"] is None and row["zone"] == "天马片区"


def test_near_boundary_lists_both_candidates_within_distance(locator):
    d = locator.district
    a, b = d.township("天马街道"), d.township("白石镇")
    border = a.geometry.boundary.intersection(b.geometry.buffer(1e-4))
    p = border.interpolate(0.5, normalized=True)
    # step 50 m into 天马街道, perpendicular to nothing in particular: search a point inside A
    for dx, dy in [(4e-4, 0), (-4e-4, 0), (0, 4e-4), (0, -4e-4)]:
        q = shapely.Point(p.x + dx / 8, p.y + dy / 8)
        if a.geometry.contains(q):
            break
    [row] = locator.describe([q.x], [q.y])
    assert row["township"] == "天马街道" and row["near_boundary"] is True
    assert row["candidates"] == ["天马街道", "白石镇"]
    far = a.geometry.representative_point()
    x, y = to_metric(np.array([far.x]), np.array([far.y]), d.metric_epsg)
    dist = d.metric_townships[d.townships.index(b)].distance(shapely.Point(x[0], y[0]))
    assert dist > 100 and locator.describe([far.x], [far.y])[0]["near_boundary"] is False


def test_near_boundary_agrees_with_exact_distance(locator):
    d = locator.district
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = d.bounds
    lon = rng.uniform(minx, maxx, 20_000)
    lat = rng.uniform(miny, maxy, 20_000)
    res = locator.locate(lon, lat)
    x, y = to_metric(lon, lat, d.metric_epsg)
    pts = shapely.points(x, y)
    exact = np.zeros(lon.size, dtype=bool)
    for i, g in enumerate(d.metric_townships):
        exact |= (res.township != i) & (shapely.distance(g, pts) <= 100)
    assert np.array_equal(res.near_boundary, exact) and exact.sum() > 100


def test_outside_point_has_reason(locator):
    [row] = locator.describe([118.0], [28.9])
    assert row["township"] is None and row["zone"] is None
    assert "outside 常山县" in row["reason"] and "km" in row["reason"]


def test_gcj02_input_is_converted(locator):
    p = locator.district.township("紫港街道").geometry.representative_point()
    glon, glat = wgs84_to_gcj02([p.x], [p.y])
    [row] = locator.describe(glon, glat, crs="gcj02")
    assert row["township"] == "紫港街道"
    assert abs(row["lon"] - p.x) < 1e-6 and abs(row["lat"] - p.y) < 1e-6


@pytest.mark.parametrize(("lon", "lat", "field"), [(200, 28, "lon"), (118, -95, "lat"),
                                                   (float("nan"), 28, "lon")])
def test_bad_coordinates_name_the_field(locator, lon, lat, field):
    with pytest.raises(LocateError, match=f"^{field}:"):
        locator.locate([lon], [lat])


def test_parse_points_names_the_bad_point():
    assert parse_points(["118.5,28.9"])[0][0] == 118.5
    with pytest.raises(LocateError, match="point 2 'x,1'"):
        parse_points(["118.5,28.9", "x,1"])
    with pytest.raises(LocateError, match="expected LON,LAT"):
        parse_points(["118.5"])
