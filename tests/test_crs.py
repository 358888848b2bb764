"""GCJ-02 input is converted explicitly; metric projection round-trips."""

from __future__ import annotations

import numpy as np

from geo.crs import gcj02_to_wgs84, haversine_m, to_metric, to_wgs84, utm_epsg, wgs84_to_gcj02


def test_changshan_is_in_utm_50n():
    assert utm_epsg(118.52, 28.9) == 32650


def test_gcj02_round_trip_and_offset_size():
    lon, lat = np.array([118.52, 118.61]), np.array([28.90, 29.05])
    glon, glat = wgs84_to_gcj02(lon, lat)
    offset = haversine_m(lon, lat, glon, glat)
    assert np.all((offset > 300) & (offset < 700))  # the GCJ offset in Zhejiang is ~500 m
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert np.allclose(back_lon, lon, atol=1e-7) and np.allclose(back_lat, lat, atol=1e-7)


def test_metric_round_trip():
    x, y = to_metric(np.array([118.52]), np.array([28.9]), 32650)
    lon, lat = to_wgs84(x, y, 32650)
    assert abs(lon[0] - 118.52) < 1e-9 and abs(lat[0] - 28.9) < 1e-9


def test_haversine_one_degree_of_latitude():
    assert abs(haversine_m(0, 0, 0, 1) - 111_195) < 5
