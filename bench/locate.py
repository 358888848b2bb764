"""Point location throughput: Whistle's grid locator against geopandas.sjoin, same points.

Run: ``python bench/locate.py [--points 1000000] [--repeat 3]``. Prints points/second for
both and their ratio, and fails (exit 1) if the two disagree on any point. Points are drawn
uniformly over the district's bounding box enlarged by 10 %, so some fall outside; a point
in an overlap sliver of two townships counts for the first listed one on both sides.
"""

from __future__ import annotations

import argparse
import sys
import time

import geopandas as gpd
import numpy as np

from geo.boundaries import bundled_district
from geo.locate import Locator


def sjoin_locate(townships: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    joined = gpd.sjoin(points, townships, how="left", predicate="within")
    # Overlap slivers give a point two rows: keep the first-listed township, as Whistle does.
    first = joined["index_right"].groupby(level=0).min()
    return first.fillna(-1).to_numpy(dtype=np.int64)


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--district", default="changshan")
    ap.add_argument("--seed", type=int, default=20211)
    args = ap.parse_args()

    district = bundled_district(args.district)
    minx, miny, maxx, maxy = district.bounds
    padx, pady = (maxx - minx) * 0.05, (maxy - miny) * 0.05
    rng = np.random.default_rng(args.seed)
    lon = rng.uniform(minx - padx, maxx + padx, args.points)
    lat = rng.uniform(miny - pady, maxy + pady, args.points)
    townships = gpd.GeoDataFrame(geometry=[t.geometry for t in district.townships], crs=4326)

    t0 = time.perf_counter()
    locator = Locator(district)
    build = time.perf_counter() - t0
    t_sjoin, ref = best_of(lambda: sjoin_locate(townships, lon, lat), args.repeat)
    t_grid, got = best_of(lambda: locator.township_index(lon, lat), args.repeat)
    t_full, _ = best_of(lambda: locator.locate(lon, lat, near_boundary=True), args.repeat)

    mismatches = int(np.count_nonzero(np.asarray(got) != np.asarray(ref)))
    n = args.points
    print(f"district {district.code}: {len(district.townships)} townships; {n:,} points, "
          f"{np.mean(np.asarray(got) >= 0):.1%} inside; best of {args.repeat}")
    print(f"{'method':<42}{'seconds':>10}{'points/s':>16}")
    print(f"{'geopandas.sjoin (within)':<42}{t_sjoin:>10.3f}{n / t_sjoin:>16,.0f}")
    print(f"{'Whistle Locator.township_index':<42}{t_grid:>10.3f}{n / t_grid:>16,.0f}")
    print(f"{'Whistle Locator.locate (+near_boundary)':<42}{t_full:>10.3f}{n / t_full:>16,.0f}")
    print(f"index build: {build:.3f} s (once per district)")
    print(f"speed-up over sjoin: {t_sjoin / t_grid:.1f}x (township only), "
          f"{t_sjoin / t_full:.1f}x (with near_boundary)")
    print(f"identical answers: {'yes' if mismatches == 0 else f'NO, {mismatches} differ'}")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
