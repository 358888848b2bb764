"""Point location: which township, zone and cluster holds each point, vectorised.

Replaying a year of hotline tickets means locating millions of points, so the locator avoids
a polygon test per point. It lays a regular lon/lat grid over the district and marks every
cell that a township boundary may cross (boundaries densified to less than a cell and the
marks dilated by one cell, which makes the marking conservative). The remaining cells form
connected regions that no boundary crosses, so one exact test per region labels all of their
cells. A point then costs one array lookup, and only points in boundary cells (a few percent)
get an exact point-in-polygon test. Answers are identical to an exact test per point: a point
counts as inside a township when it lies in its interior, and a point in an overlap sliver of
two townships goes to the one listed first in the district.

``near_boundary`` uses the same idea: only points in cells within the configured distance of
a boundary get an exact metric distance test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy import ndimage

from geo.boundaries import District
from geo.crs import InputCRS, gcj02_to_wgs84, to_metric

DEFAULT_NEAR_BOUNDARY_M = 100.0
DEFAULT_CELL_DEG = 0.0005  # ~55 m north-south; ~3.6 MB of grid for a 1,100 km² county

_OUTSIDE = -1
_BOUNDARY = -2


class LocateError(ValueError):
    """Malformed point input; the message names the field and the reason."""


@dataclass(frozen=True)
class LocateResult:
    """Arrays describing located points (all of length n, WGS84 degrees).

    ``township`` indexes ``district.townships`` (-1 outside); ``zone`` and ``cluster`` index
    ``district.zones`` / ``district.clusters`` (-1 for none).
    """

    lon: np.ndarray
    lat: np.ndarray
    township: np.ndarray
    zone: np.ndarray
    cluster: np.ndarray
    near_boundary: np.ndarray | None


def parse_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``"LON,LAT"`` strings; raise :class:`LocateError` naming the bad point."""
    lon, lat = [], []
    for i, text in enumerate(texts):
        parts = text.replace(" ", "").split(",")
        if len(parts) != 2:
            raise LocateError(f"point {i + 1} {text!r}: expected LON,LAT")
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError as exc:
            raise LocateError(f"point {i + 1} {text!r}: lon and lat must be numbers") from exc
        lon.append(x)
        lat.append(y)
    return np.array(lon, dtype=float), np.array(lat, dtype=float)


def validate_coordinates(lon: np.ndarray, lat: np.ndarray) -> None:
    """Raise :class:`LocateError` for non-finite or out-of-range lon/lat, naming the first."""
    if lon.shape != lat.shape:
        raise LocateError(f"lon/lat: different lengths ({lon.size} and {lat.size})")
    for name, arr, bound in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        bad = ~np.isfinite(arr) | (np.abs(arr) > bound)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LocateError(f"{name}: {arr[i]!r} at point {i + 1} is not within ±{bound:g}")


class Locator:
    """Locate points in a district's townships, zones and clusters.

    Parameters
    ----------
    district : District
        The boundaries to locate in.
    near_boundary_m : float
        A point within this many metres of another township is flagged ``near_boundary``.
    cell_deg : float
        Grid cell size in degrees; smaller cells leave fewer points for exact tests but cost
        memory (cells ∝ 1/cell_deg²).
    """

    def __init__(
        self,
        district: District,
        near_boundary_m: float = DEFAULT_NEAR_BOUNDARY_M,
        cell_deg: float = DEFAULT_CELL_DEG,
    ) -> None:
        if near_boundary_m < 0:
            raise LocateError(f"near_boundary_m: {near_boundary_m} must not be negative")
        self.district = district
        self.near_boundary_m = float(near_boundary_m)
        self.cell = float(cell_deg)
        self._polys = [t.geometry for t in district.townships]
        for p in self._polys:
            shapely.prepare(p)
        self._bboxes = np.array([p.bounds for p in self._polys])
        self._metric = list(district.metric_townships)
        self._metric_tree = shapely.STRtree(self._metric)
        codes = [t.code for t in district.townships]
        self._zone_of = self._area_index(codes, district.zones)
        self._cluster_of = self._area_index(codes, district.clusters)
        self._build_grid()

    @staticmethod
    def _area_index(codes: list[str], areas: Sequence[Any]) -> np.ndarray:
        out = np.full(len(codes) + 1, -1, dtype=np.int32)  # last slot answers "outside" (-1)
        for k, area in enumerate(areas):
            for m in area.members:
                out[codes.index(m)] = k
        return out

    # -- grid -------------------------------------------------------------------------------

    def _build_grid(self) -> None:
        minx, miny, maxx, maxy = self.district.bounds
        c = self.cell
        self._x0, self._y0 = minx - c, miny - c
        self._nx = int(np.ceil((maxx - self._x0) / c)) + 2
        self._ny = int(np.ceil((maxy - self._y0) / c)) + 2

        boundaries = shapely.segmentize(
            shapely.boundary(np.array(self._polys, dtype=object)), c / 2)
        xy = shapely.get_coordinates(boundaries)
        crossed = np.zeros((self._ny, self._nx), dtype=bool)
        crossed[self._cell_rows(xy[:, 1]), self._cell_cols(xy[:, 0])] = True
        crossed = ndimage.binary_dilation(crossed, structure=np.ones((3, 3), dtype=bool))

        grid = np.full((self._ny, self._nx), _BOUNDARY, dtype=np.int16)
        labels, n = ndimage.label(~crossed)
        if n:
            # One exact test per boundary-free region, at the centre of one of its cells.
            flat = labels.ravel()
            order = np.argsort(flat, kind="stable")
            starts = np.searchsorted(flat[order], np.arange(1, n + 1))
            rep = order[starts]
            rows, cols = np.divmod(rep, self._nx)
            cx = self._x0 + (cols + 0.5) * c
            cy = self._y0 + (rows + 0.5) * c
            region_value = self._exact(cx, cy)
            grid[~crossed] = region_value[labels[~crossed] - 1]
        self._grid = grid

        # Cells within near_boundary_m of any boundary: dilate the crossed mask by that many
        # cells (the smaller metric cell size, east-west at the district's highest latitude).
        lat_max = np.radians(max(abs(miny), abs(maxy)))
        cell_m = min(c * 111_320.0 * np.cos(lat_max), c * 110_574.0)
        k = int(np.ceil(self.near_boundary_m / cell_m))
        self._near_band = (ndimage.binary_dilation(crossed, iterations=k) if k else crossed)

    def _cell_cols(self, x: np.ndarray) -> np.ndarray:
        return np.floor((x - self._x0) / self.cell).astype(np.int64)

    def _cell_rows(self, y: np.ndarray) -> np.ndarray:
        return np.floor((y - self._y0) / self.cell).astype(np.int64)

    def _exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Exact township index per point: first township whose interior holds it, or -1."""
        out = np.full(x.shape, _OUTSIDE, dtype=np.int32)
        for i, (poly, (bx0, by0, bx1, by1)) in enumerate(zip(self._polys, self._bboxes,
                                                             strict=True)):
            todo = (out == _OUTSIDE) & (x >= bx0) & (x <= bx1) & (y >= by0) & (y <= by1)
            if todo.any():
                idx = np.flatnonzero(todo)
                hit = shapely.contains_xy(poly, x[idx], y[idx])
                out[idx[hit]] = i
        return out

    # -- public API -------------------------------------------------------------------------

    def township_index(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Township index per WGS84 point (int32, -1 outside the district)."""
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        cols = self._cell_cols(lon)
        rows = self._cell_rows(lat)
        inside = (cols >= 0) & (cols < self._nx) & (rows >= 0) & (rows < self._ny)
        out = np.full(lon.shape, _OUTSIDE, dtype=np.int32)
        out[inside] = self._grid[rows[inside], cols[inside]]
        todo = np.flatnonzero(out == _BOUNDARY)
        if todo.size:
            out[todo] = self._exact(lon[todo], lat[todo])
        return out

    def near_pairs(
        self, lon: np.ndarray, lat: np.ndarray, township: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(point, other township) pairs within ``near_boundary_m``, other ≠ own township."""
        cols = self._cell_cols(lon)
        rows = self._cell_rows(lat)
        inside = (cols >= 0) & (cols < self._nx) & (rows >= 0) & (rows < self._ny)
        band = np.ones(lon.shape, dtype=bool)  # points off the grid are tested exactly
        band[inside] = self._near_band[rows[inside], cols[inside]]
        idx = np.flatnonzero(band)
        if idx.size == 0 or self.near_boundary_m == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        x, y = to_metric(lon[idx], lat[idx], self.district.metric_epsg)
        pts = shapely.points(x, y)
        p, t = self._metric_tree.query(pts, predicate="dwithin", distance=self.near_boundary_m)
        keep = t != township[idx[p]]
        return idx[p[keep]], t[keep]

    def locate(
        self,
        lon: Sequence[float] | np.ndarray,
        lat: Sequence[float] | np.ndarray,
        crs: InputCRS | str = InputCRS.wgs84,
        near_boundary: bool = True,
    ) -> LocateResult:
        """Locate points given in ``crs`` (converted to WGS84 first); see :class:`LocateResult`."""
        lon_a = np.asarray(lon, dtype=float).ravel()
        lat_a = np.asarray(lat, dtype=float).ravel()
        validate_coordinates(lon_a, lat_a)
        try:
            crs = InputCRS(crs)
        except ValueError as exc:
            raise LocateError(f"crs: {crs!r} is not one of wgs84, gcj02") from exc
        if crs is InputCRS.gcj02:
            lon_a, lat_a = gcj02_to_wgs84(lon_a, lat_a)
        town = self.township_index(lon_a, lat_a)
        near = None
        if near_boundary:
            near = np.zeros(lon_a.shape, dtype=bool)
            p, _ = self.near_pairs(lon_a, lat_a, town)
            near[p] = True
        return LocateResult(lon_a, lat_a, town, self._zone_of[town], self._cluster_of[town], near)

    def describe(
        self,
        lon: Sequence[float] | np.ndarray,
        lat: Sequence[float] | np.ndarray,
        crs: InputCRS | str = InputCRS.wgs84,
    ) -> list[dict[str, Any]]:
        """One JSON-ready dict per point, as ``whistle locate --json`` prints them."""
        res = self.locate(lon, lat, crs)
        pairs_p, pairs_t = self.near_pairs(res.lon, res.lat, res.township)
        d = self.district
        rows = []
        for i in range(res.lon.size):
            ti = int(res.township[i])
            town = d.townships[ti] if ti >= 0 else None
            zone = d.zones[res.zone[i]] if res.zone[i] >= 0 else None
            cluster = d.clusters[res.cluster[i]] if res.cluster[i] >= 0 else None
            others = sorted(set(pairs_t[pairs_p == i].tolist()))
            near = town is not None and bool(others)
            candidates = [d.townships[k].name for k in sorted({ti, *others})] if near else []
            rows.append({
                "lon": round(float(res.lon[i]), 7),
                "lat": round(float(res.lat[i]), 7),
                "input_crs": str(InputCRS(crs)),
                "district": d.code,
                "township": town.name if town else None,
                "township_code": town.code if town else None,
                "zone": zone.name if zone else None,
                "cluster": d.township(cluster.hub).name if cluster and cluster.hub else None,
                "near_boundary": near,
                "candidates": candidates,
                "reason": None if town else self._outside_reason(res.lon[i], res.lat[i]),
            })
        return rows

    def _outside_reason(self, lon: float, lat: float) -> str:
        x, y = to_metric(np.array([lon]), np.array([lat]), self.district.metric_epsg)
        pt = shapely.points(x[0], y[0])
        k = int(self._metric_tree.nearest(pt))
        dist = self._metric[k].distance(pt)
        if dist == 0:  # exactly on a boundary line: interior of no township
            return f"on the boundary of {self.district.townships[k].name}, inside no township"
        return (f"outside {self.district.name}: {dist / 1000:.2f} km from the nearest township "
                f"({self.district.townships[k].name})")
