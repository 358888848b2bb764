"""Travel-time matrix throughput: Whistle's RoadTravelTimes against networkx, same graph.

Run: ``python bench/matrix.py [--grid 230] [--points 1000] [--nx-sources 20] [--seed 7]``.

No real road extract of 50,000+ nodes ships with Whistle, so the graph is SYNTHETIC: a seeded,
reproducible road-like grid (see :func:`synthetic_network`). Whistle computes the full
points × points matrix (snapping included; route lengths come with it). networkx runs
``single_source_dijkstra_path_length`` from the first ``--nx-sources`` sources only, and its
time is scaled per source to the full matrix; both must give the same seconds on those rows
(exit 1 otherwise). Prints both times and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import time

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from geo.crs import to_metric, to_wgs84
from geo.network import RoadNetwork
from geo.speeds import RURAL_KMH
from geo.traveltime import RoadTravelTimes

CENTRE = (118.52, 28.90)  # Changshan county seat, WGS84; the grid is laid out around it
EPSG = 32650


def synthetic_network(grid: int = 230, seed: int = 7, spacing_m: float = 150.0) -> RoadNetwork:
    """A SYNTHETIC road-like network of about ``grid``² nodes, reproducible from ``seed``.

    A jittered grid (``spacing_m`` apart): every 40th line is a primary road, every 10th a
    secondary, the rest residential or unclassified streets; 12 % of street links are missing
    (irregular blocks), 8 % of the rest are one-way, 3 % of cells get a diagonal tertiary
    road. Lengths are straight distances × 1.0–1.15 (bends); speeds from
    :data:`geo.speeds.RURAL_KMH`. The largest strongly connected component is kept.
    """
    rng = np.random.default_rng(seed)
    ids = np.arange(grid * grid).reshape(grid, grid)
    cx, cy = to_metric(np.array([CENTRE[0]]), np.array([CENTRE[1]]), EPSG)
    gx, gy = np.meshgrid(np.arange(grid) * spacing_m, np.arange(grid) * spacing_m)
    x = (cx[0] - grid * spacing_m / 2 + gx + rng.uniform(-0.2, 0.2, gx.shape) * spacing_m).ravel()
    y = (cy[0] - grid * spacing_m / 2 + gy + rng.uniform(-0.2, 0.2, gy.shape) * spacing_m).ravel()

    def line_class(index: np.ndarray) -> np.ndarray:
        local = np.where(rng.random(index.shape) < 0.7, "residential", "unclassified")
        return np.where(index % 40 == 0, "primary", np.where(index % 10 == 0, "secondary", local))

    rows = np.repeat(np.arange(grid), grid - 1)
    cols = np.repeat(np.arange(grid), grid - 1)
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].T.ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].T.ravel()])
    cls = np.concatenate([line_class(rows), line_class(cols)])
    k = rng.random((grid - 1) ** 2) < 0.03
    diag = ids[:-1, :-1].ravel()[k]
    u, v = np.concatenate([u, diag]), np.concatenate([v, diag + grid + 1])
    cls = np.concatenate([cls, np.full(k.sum(), "tertiary")])

    street = np.isin(cls, ["residential", "unclassified"])
    keep = ~street | (rng.random(len(u)) >= 0.12)
    u, v, cls, street = u[keep], v[keep], cls[keep], street[keep]
    one_way = street & (rng.random(len(u)) < 0.08)
    flip = one_way & (rng.random(len(u)) < 0.5)
    u, v = np.where(flip, v, u), np.where(flip, u, v)
    eu = np.concatenate([u, v[~one_way]])
    ev = np.concatenate([v, u[~one_way]])
    ecls = np.concatenate([cls, cls[~one_way]])
    bend = rng.uniform(1.0, 1.15, len(u))
    length = np.hypot(x[u] - x[v], y[u] - y[v]) * bend
    length = np.concatenate([length, length[~one_way]])
    speed = np.array([RURAL_KMH[c] for c in ecls])

    n = grid * grid
    _, label = connected_components(csr_matrix((np.ones(len(eu)), (eu, ev)), shape=(n, n)),
                                    directed=True, connection="strong")
    main = label == np.bincount(label).argmax()
    new_index = np.cumsum(main) - 1
    e_keep = main[eu] & main[ev]
    lon, lat = to_wgs84(x[main], y[main], EPSG)
    return RoadNetwork.from_edges(
        node_id=np.flatnonzero(main), lon=lon, lat=lat,
        edge_u=new_index[eu[e_keep]], edge_v=new_index[ev[e_keep]],
        length_m=length[e_keep], time_s=length[e_keep] / (speed[e_keep] / 3.6),
        speed_kmh=speed[e_keep], highway=ecls[e_keep].tolist(), epsg=EPSG,
        meta={"source": f"synthetic grid {grid}x{grid}, seed {seed}"},
    )


def to_networkx(net: RoadNetwork) -> nx.DiGraph:
    """The same graph for networkx: one arc per node pair, the fastest parallel edge."""
    G = nx.DiGraph()
    G.add_nodes_from(range(net.n_nodes))
    order = np.argsort(-net.edge_time_s)  # slower first, so the fastest parallel edge wins
    G.add_weighted_edges_from(zip(net.edge_u[order].tolist(), net.edge_v[order].tolist(),
                                  net.edge_time_s[order].tolist(), strict=True), weight="time")
    return G


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=230, help="grid side; nodes ≈ grid²")
    ap.add_argument("--points", type=int, default=1000, help="sources = destinations count")
    ap.add_argument("--nx-sources", type=int, default=20, help="sources networkx runs")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    t0 = time.perf_counter()
    net = synthetic_network(args.grid, args.seed)
    build = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed + 1)
    src = rng.choice(net.n_nodes, args.points, replace=False)
    dst = rng.choice(net.n_nodes, args.points, replace=False)
    print(f"graph: SYNTHETIC road-like grid, seed {args.seed}: {net.n_nodes:,} nodes, "
          f"{net.n_edges:,} directed edges, {net.road_km:,.0f} km (built in {build:.1f} s)")

    router = RoadTravelTimes(net)
    router.matrix(net.lon[:2], net.lat[:2], net.lon[:2], net.lat[:2])  # warm lazy structures
    t0 = time.perf_counter()
    ours = router.matrix(net.lon[src], net.lat[src], net.lon[dst], net.lat[dst])
    t_ours = time.perf_counter() - t0

    G = to_networkx(net)
    k = min(args.nx_sources, args.points)
    ref = np.empty((k, args.points))
    t0 = time.perf_counter()
    for row, s in enumerate(src[:k]):
        dist = nx.single_source_dijkstra_path_length(G, int(s), weight="time")
        ref[row] = [dist.get(int(d), np.inf) for d in dst]
    t_nx = (time.perf_counter() - t0) * args.points / k

    diff = float(np.max(np.abs(ours.seconds[:k] - ref)))
    print(f"whistle  RoadTravelTimes {args.points}x{args.points} (scipy csgraph): "
          f"{t_ours:8.2f} s")
    print(f"networkx single_source_dijkstra, {k} sources scaled x{args.points / k:g} per source: "
          f"{t_nx:8.2f} s")
    print(f"ratio networkx / whistle: {t_nx / t_ours:.1f}x")
    print(f"max |seconds difference| over {k}x{args.points} pairs: {diff:.2e} s; "
          f"median trip {np.median(ours.seconds) / 60:.1f} min")
    if not diff < 1e-6:
        print("error: the two disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
