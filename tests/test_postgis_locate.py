"""PostGIS ``ST_Contains`` and the Python locator must place every point in the same township.

The two share no code (GEOS/shapely with a grid shortcut versus PostGIS in the database), so
agreement on 100,000 points, including points a hair from borders and in the overlap slivers
of the real Changshan data, is strong evidence both are right.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from geo.boundaries import District, Township
from geo.locate import Locator
from geo.store import open_store
from geo.store.postgis import PostGISStore

pytestmark = pytest.mark.postgis

N_POINTS = 100_000
SEED = 20_240_501


def _overlap_slivers(d: District) -> list[tuple[int, int, shapely.Geometry]]:
    """(i, j, overlap polygons) for every pair of townships whose areas overlap."""
    geoms = [t.geometry for t in d.townships]
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    out = []
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        if i < j:
            # Keep the areal parts; shared borders make the intersection a collection.
            parts = shapely.get_parts(shapely.intersection(geoms[i], geoms[j]))
            areal = parts[shapely.area(parts) > 0]
            if areal.size:
                out.append((i, j, shapely.multipolygons(areal)))
    return out


def _points_in(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniformly inside ``geom`` (rejection sampling in its bounding box)."""
    x0, y0, x1, y1 = geom.bounds
    found: list[np.ndarray] = []
    count = 0
    while count < n:
        xy = rng.uniform((x0, y0), (x1, y1), size=(4 * n, 2))
        xy = xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])]
        found.append(xy)
        count += len(xy)
    return np.concatenate(found)[:n]


def _test_points(d: District) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded points: mostly uniform in the district's bounding box, a share outside it,
    some on or within ~1 mm of township borders, and some in overlap slivers.

    Returns lon, lat and the indices of the sliver points.
    """
    rng = np.random.default_rng(SEED)
    x0, y0, x1, y1 = d.bounds
    n_out, n_edge, n_sliver = 10_000, 4_000, 400
    n_in = N_POINTS - n_out - n_edge - n_sliver

    inside = rng.uniform((x0, y0), (x1, y1), size=(n_in, 2))
    # Outside the bounding box: a 0.2 degree frame around it.
    frame = rng.uniform((x0 - 0.2, y0 - 0.2), (x1 + 0.2, y1 + 0.2), size=(4 * n_out, 2))
    off = (frame[:, 0] < x0) | (frame[:, 0] > x1) | (frame[:, 1] < y0) | (frame[:, 1] > y1)
    outside = frame[off][:n_out]
    # Border vertices, a quarter exactly (on the border: in no township unless inside an
    # overlapping neighbour), the rest moved by up to 1e-8 degrees (about 1 mm).
    verts = shapely.get_coordinates(shapely.boundary([t.geometry for t in d.townships]))
    edge = verts[rng.integers(0, len(verts), n_edge)]
    edge[n_edge // 4:] += rng.uniform(-1e-8, 1e-8, (n_edge - n_edge // 4, 2))
    slivers = _overlap_slivers(d)
    per = -(-n_sliver // max(len(slivers), 1))
    sliver = (np.concatenate([_points_in(g, per, rng) for _, _, g in slivers])[:n_sliver]
              if slivers else np.empty((0, 2)))
    xy = np.concatenate([inside, outside, edge, sliver])
    sliver_idx = np.arange(len(xy) - len(sliver), len(xy))
    return xy[:, 0], xy[:, 1], sliver_idx


def test_postgis_and_python_place_100k_points_identically(
    postgis_url: str, changshan: District
) -> None:
    lon, lat, sliver_idx = _test_points(changshan)
    assert lon.size == N_POINTS
    codes = np.array([t.code for t in changshan.townships] + [None], dtype=object)

    python = codes[Locator(changshan).township_index(lon, lat)]  # -1 picks the None slot
    with open_store(postgis_url) as store:
        assert isinstance(store, PostGISStore)
        store.save_district(changshan)
        database = np.array(store.contains_townships("changshan", lon, lat), dtype=object)

    differ = np.flatnonzero(python != database)
    assert differ.size == 0, (
        f"{differ.size} points differ, e.g. "
        + "; ".join(f"({float(lon[i])!r}, {float(lat[i])!r}): python {python[i]}, "
                    f"postgis {database[i]}" for i in differ[:5]))
    # The sample is not degenerate: every township is hit, and so is the outside.
    located = set(database[database != None].tolist())  # noqa: E711 (elementwise)
    assert located == {t.code for t in changshan.townships}
    assert 0.1 < np.mean(database == None) < 0.9  # noqa: E711
    # Overlap slivers exist in the real data and go to the township listed first.
    slivers = _overlap_slivers(changshan)
    assert slivers
    first_listed = {changshan.townships[i].code for i, _, _ in slivers}
    assert set(database[sliver_idx].tolist()) == first_listed


def _squares(order: tuple[str, str]) -> District:
    """Two made-up townships overlapping in the strip 118.09..118.10 E."""
    geoms = {"A": box(118.0, 29.0, 118.1, 29.1), "B": box(118.09, 29.0, 118.2, 29.1)}
    return District(code="overlap", name="测试县", metric_epsg=32650,
                    townships=tuple(Township(c, f"{c}镇", "镇", "rural_township", geoms[c])
                                    for c in order))


@pytest.mark.parametrize(("order", "in_overlap"), [(("A", "B"), "A"), (("B", "A"), "B")])
def test_point_in_an_overlap_goes_to_the_township_listed_first(
    postgis_url: str, order: tuple[str, str], in_overlap: str
) -> None:
    lon = np.array([118.05, 118.095, 118.15, 118.0, 117.5])
    lat = np.array([29.05, 29.05, 29.05, 29.05, 29.05])
    with open_store(postgis_url) as store:
        assert isinstance(store, PostGISStore)
        store.save_district(_squares(order))
        got = store.contains_townships("overlap", lon, lat)
    # Interior of A only, the overlap, interior of B only, on A's west border, far west.
    assert got == ["A", in_overlap, "B", None, None]


def test_locating_checks_its_input(postgis_url: str) -> None:
    with open_store(postgis_url) as store:
        assert isinstance(store, PostGISStore)
        d = _squares(("A", "B"))
        store.save_district(d)
        assert store.contains_townships("overlap", np.array([]), np.array([])) == []
        with pytest.raises(KeyError, match="no district 'elsewhere'"):
            store.contains_townships("elsewhere", np.array([118.05]), np.array([29.05]))
        with pytest.raises(ValueError, match="lon/lat: different lengths"):
            store.contains_townships("overlap", np.array([118.05, 118.1]), np.array([29.05]))
        # The temporary point tables are gone with their transaction: a second call works.
        store.save_district(dataclasses.replace(d, name="测试县二"))
        assert store.contains_townships("overlap", [118.05], [29.05]) == ["A"]
