"""Road-network cache: loading the ``.npz`` against rebuilding from the OSM file, same run.

Run: ``python bench/network_cache.py [--osm tests/data/osm/weihai_hit.osm] [--repeat 5]``.
Prints the best build and load times and their ratio, and the time to the first travel-time
answer after a load (the snapping tree and graph matrix are built lazily). Also loads the
SYNTHETIC 50,000-node network of ``bench/matrix.py`` to show how loading scales.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from matrix import synthetic_network

from geo.network import RoadNetwork
from geo.traveltime import RoadTravelTimes

ROOT = Path(__file__).resolve().parent.parent


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def first_answer(path: Path) -> None:
    net = RoadNetwork.load(path)
    RoadTravelTimes(net).one_to_many(net.lon[0], net.lat[0], net.lon[:10], net.lat[:10])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--osm", type=Path, default=ROOT / "tests" / "data" / "osm" / "weihai_hit.osm")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "net.npz"
        t_build, net = best_of(lambda: RoadNetwork.from_osm(args.osm), max(1, args.repeat // 2))
        net.save(cache)
        t_load, loaded = best_of(lambda: RoadNetwork.load(cache), args.repeat)
        assert np.array_equal(loaded.edge_time_s, net.edge_time_s)
        t_ready, _ = best_of(lambda: first_answer(cache), args.repeat)
        print(f"{args.osm.name}: {net.n_nodes:,} nodes, {net.n_edges:,} edges, "
              f"cache {cache.stat().st_size / 1e6:.2f} MB")
        print(f"  rebuild from OSM {t_build * 1e3:9.1f} ms")
        print(f"  load cache       {t_load * 1e3:9.1f} ms   ratio {t_build / t_load:,.0f}x")
        print(f"  load + 1x10 answer {t_ready * 1e3:7.1f} ms")

        synth = Path(tmp) / "synthetic.npz"
        t_make, big = best_of(lambda: synthetic_network(), 1)
        big.save(synth)
        t_load, _ = best_of(lambda: RoadNetwork.load(synth), args.repeat)
        t_ready, _ = best_of(lambda: first_answer(synth), args.repeat)
        print(f"SYNTHETIC grid: {big.n_nodes:,} nodes, {big.n_edges:,} edges, "
              f"cache {synth.stat().st_size / 1e6:.1f} MB")
        print(f"  build from arrays {t_make * 1e3:8.1f} ms (no OSM parsing)")
        print(f"  load cache       {t_load * 1e3:9.1f} ms")
        print(f"  load + 1x10 answer {t_ready * 1e3:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
