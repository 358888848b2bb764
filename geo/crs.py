"""Coordinate reference systems: WGS84 storage, metric computation, GCJ-02 input.

Whistle stores every coordinate in WGS84 (EPSG:4326) and measures distances and areas in a
metric projected CRS (the UTM zone of the district). Chinese web maps (Amap, Tencent) publish
GCJ-02 ("Mars") coordinates, offset from WGS84 by up to ~700 m; such input is converted
explicitly with :mod:`prcoords` (its iterative inverse, precise to about 1e-9 degrees).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import lru_cache

import numpy as np
import prcoords
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

WGS84 = 4326
EARTH_RADIUS_M = 6_371_008.8


class InputCRS(StrEnum):
    """Coordinate systems accepted for point input."""

    wgs84 = "wgs84"
    gcj02 = "gcj02"


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing (lon, lat), e.g. 32650 for Changshan."""
    zone = int((lon + 180.0) // 6.0) + 1
    return (32600 if lat >= 0 else 32700) + zone


@lru_cache(maxsize=32)
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def to_metric(
    lon: np.ndarray, lat: np.ndarray, epsg: int
) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 lon/lat arrays (degrees) to metric x/y arrays (metres) in ``epsg``."""
    x, y = _transformer(WGS84, epsg).transform(np.asarray(lon), np.asarray(lat))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def to_wgs84(x: np.ndarray, y: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`to_metric`: metric x/y (metres) back to WGS84 lon/lat (degrees)."""
    lon, lat = _transformer(epsg, WGS84).transform(np.asarray(x), np.asarray(y))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def geometry_to_metric(geom: BaseGeometry, epsg: int) -> BaseGeometry:
    """Project a WGS84 shapely geometry into the metric CRS ``epsg``."""
    return shapely.transform(geom, lambda xy: np.column_stack(to_metric(xy[:, 0], xy[:, 1], epsg)))


def geometry_to_wgs84(geom: BaseGeometry, epsg: int) -> BaseGeometry:
    """Project a metric shapely geometry back to WGS84."""
    return shapely.transform(geom, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], epsg)))


def gcj02_to_wgs84(lon: Iterable[float], lat: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 coordinates (degrees) to WGS84.

    Outside mainland China GCJ-02 equals WGS84, and prcoords returns the input unchanged.
    """
    lon_a = np.asarray(list(lon) if not isinstance(lon, np.ndarray) else lon, dtype=float)
    lat_a = np.asarray(list(lat) if not isinstance(lat, np.ndarray) else lat, dtype=float)
    out_lon = np.empty_like(lon_a)
    out_lat = np.empty_like(lat_a)
    for i, (x, y) in enumerate(zip(lon_a, lat_a, strict=True)):
        c = prcoords.gcj_wgs_bored((float(y), float(x)))
        out_lon[i], out_lat[i] = c.lon, c.lat
    return out_lon, out_lat


def wgs84_to_gcj02(lon: Iterable[float], lat: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 coordinates (degrees) to GCJ-02, e.g. to hand a point to a Chinese web map."""
    pairs = [prcoords.wgs_gcj((float(y), float(x))) for x, y in zip(lon, lat, strict=True)]
    return (
        np.array([c.lon for c in pairs], dtype=float),
        np.array([c.lat for c in pairs], dtype=float),
    )


def haversine_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Great-circle distance in metres between WGS84 points (arrays broadcast)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=float))
                              for a in (lon1, lat1, lon2, lat2))
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
