"""Travel times between points: on the road network when a district has one, else estimated.

Every answer says where it came from (``eta_source``): ``"road"`` is a shortest-time route on
the district's cached OSM network (:class:`RoadTravelTimes`); ``"estimate"`` is great-circle
distance × circuity ÷ speed with the district's :class:`~geo.boundaries.TravelEstimate`
(:class:`EstimateTravelTimes`). :func:`travel_times_for` picks the road network when one has
been imported with ``whistle network import``.

Road times are door to door: the access leg from each point to its snapped position on the
nearest road, covered at :data:`ACCESS_SPEED_KMH` over the straight snap distance (lanes, yards
and field tracks are mostly missing from OSM, so the leg is slow), plus the route on the graph.
A point snapped onto road u→v at fraction t joins the graph at v after (1-t) of that edge's
time, or at u after t of the reverse edge's time when the road is two-way; a destination is
reached the same way backwards, and two points on the same road can drive straight between
them when its direction allows. Two points no farther apart than their two snap distances
together (the same compound, the same point) may instead go straight across at the access
speed, when that is quicker.

Unreachable pairs are ``np.inf`` (in ``seconds`` and ``metres``). Networks built from OSM keep
only their largest strongly connected component, so this arises only for networks built by
other means; callers should treat ``inf`` as "no road route": skip that candidate when ranking
(``np.argmin`` does so naturally unless every entry is ``inf``), and fall back to
:class:`EstimateTravelTimes` explicitly, reporting ``eta_source="estimate"``, if they need a
number anyway.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Literal

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.ops import substring

from geo.boundaries import District, TravelEstimate
from geo.crs import haversine_m, to_wgs84
from geo.network import AT_NODE_M, RoadNetwork, Snap, pack, unpack
from geo.settings import network_dir

EtaSource = Literal["road", "estimate"]
ACCESS_SPEED_KMH = 15.0  # the "track" speed of geo.speeds: unmapped lanes, yards, field tracks
_CHUNK_CELLS = 8_000_000  # rows × graph nodes held at once by a Dijkstra batch (≈64 MB)
DEFAULT_TREE_CACHE = 64  # shortest-path trees kept per network (bounded to ~128 MB below)
_TREE_CACHE_CELLS = 16_000_000


@dataclass(frozen=True)
class TravelMatrix:
    """Travel times and distances from each source (rows) to each destination (columns).

    ``seconds`` and ``metres`` have shape (n_src, n_dst); ``np.inf`` marks an unreachable pair.
    For road answers ``metres`` is the length of the fastest route plus both access legs, and
    ``snap_m_src``/``snap_m_dst`` give each point's distance to the road in metres; an
    estimate has no snapping and leaves them ``None``.
    """

    seconds: np.ndarray
    metres: np.ndarray
    eta_source: EtaSource
    snap_m_src: np.ndarray | None = None
    snap_m_dst: np.ndarray | None = None

    @property
    def minutes(self) -> np.ndarray:
        return self.seconds / 60.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form: seconds to 0.1 s, metres to 1 m, ``None`` for unreachable pairs."""

        def rows(a: np.ndarray, digits: int) -> list[list[float | None]]:
            return [[round(float(v), digits) if np.isfinite(v) else None for v in row]
                    for row in a]

        def snaps(a: np.ndarray | None) -> list[float] | None:
            return None if a is None else [round(float(v), 1) for v in a]

        return {"eta_source": self.eta_source, "seconds": rows(self.seconds, 1),
                "metres": rows(self.metres, 0), "snap_m_src": snaps(self.snap_m_src),
                "snap_m_dst": snaps(self.snap_m_dst)}


def _points(lon: object, lat: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate a set of WGS84 points once, naming the argument at fault."""
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon_a.ndim != 1 or lon_a.shape != lat_a.shape:
        raise ValueError(f"{what}_lon and {what}_lat must be 1-D and equally long "
                         f"(got {lon_a.shape} and {lat_a.shape})")
    for name, arr, limit in (("lon", lon_a, 180.0), ("lat", lat_a, 90.0)):
        bad = ~np.isfinite(arr) | (np.abs(arr) > limit)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{what}_{name}[{i}] = {arr[i]} is not a WGS84 {name} "
                             f"(finite, within ±{limit:g})")
    return lon_a, lat_a


class TravelTimes(ABC):
    """Something that answers "how long from these points to those?" in seconds."""

    eta_source: EtaSource

    @abstractmethod
    def matrix(self, src_lon: object, src_lat: object, dst_lon: object,
               dst_lat: object) -> TravelMatrix:
        """Times from every source to every destination (WGS84 degrees in, seconds out)."""

    def one_to_many(self, lon: float, lat: float, dst_lon: object,
                    dst_lat: object) -> TravelMatrix:
        """Times from one point to many: a :class:`TravelMatrix` with a single row."""
        return self.matrix([lon], [lat], dst_lon, dst_lat)


class EstimateTravelTimes(TravelTimes):
    """Straight-line estimate: ``metres = great-circle × circuity``, ``seconds = metres ÷ speed``.

    Used where a district has no road network; see :class:`~geo.boundaries.TravelEstimate`
    for the default parameters (1.35, 35 km/h).
    """

    eta_source: EtaSource = "estimate"

    def __init__(self, estimate: TravelEstimate | None = None):
        self.estimate = estimate or TravelEstimate()
        if not (self.estimate.circuity >= 1.0 and self.estimate.speed_kmh > 0):
            raise ValueError(f"travel_estimate: circuity {self.estimate.circuity} must be ≥ 1 "
                             f"and speed_kmh {self.estimate.speed_kmh} > 0")

    def matrix(self, src_lon: object, src_lat: object, dst_lon: object,
               dst_lat: object) -> TravelMatrix:
        slon, slat = _points(src_lon, src_lat, "src")
        dlon, dlat = _points(dst_lon, dst_lat, "dst")
        metres = haversine_m(slon[:, None], slat[:, None], dlon[None, :], dlat[None, :])
        metres = metres * self.estimate.circuity
        return TravelMatrix(seconds=metres / (self.estimate.speed_kmh / 3.6), metres=metres,
                            eta_source="estimate")


class RoadTravelTimes(TravelTimes):
    """Shortest-time routes on a :class:`~geo.network.RoadNetwork`, many-to-many.

    One Dijkstra search (scipy.sparse.csgraph) per source, or per destination when there are
    fewer destinations, each search reaching all destinations at once. Time and length travel
    packed in one weight (:func:`geo.network.pack`), so the route length comes free: edge times
    count to the millisecond and lengths to the metre.

    Parameters
    ----------
    network : RoadNetwork
    access_kmh : float
        Speed of the access leg between a point and its snapped position on the road, km/h.
    """

    eta_source: EtaSource = "road"

    def __init__(self, network: RoadNetwork, access_kmh: float = ACCESS_SPEED_KMH,
                 tree_cache: int = DEFAULT_TREE_CACHE):
        if not access_kmh > 0:
            raise ValueError(f"access_kmh must be positive (got {access_kmh})")
        self.network = network
        self.access_mps = access_kmh / 3.6
        self._trees: OrderedDict[tuple[float, float], np.ndarray] = OrderedDict()
        self._tree_cache = max(0, min(int(tree_cache),
                                      _TREE_CACHE_CELLS // max(network.n_nodes, 1)))
        self._tree_lock = threading.Lock()
        self._edge_index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _rows(self, slon: np.ndarray, slat: np.ndarray, out_node: np.ndarray,
              out_cost: np.ndarray) -> np.ndarray:
        """Packed cost from each source point to every graph node; (n_src, n_nodes).

        Rows are kept in a small LRU keyed by the source point: dispatch asks again and again
        from the same team bases and live positions, so a decision then needs no search at all
        and a moved team costs one search, once.
        """
        n = self.network.n_nodes
        keys = [(round(float(x), 7), round(float(y), 7)) for x, y in zip(slon, slat, strict=True)]
        rows = np.empty((len(keys), n))
        missing = []
        with self._tree_lock:
            for i, k in enumerate(keys):
                row = self._trees.get(k)
                if row is None:
                    missing.append(i)
                else:
                    self._trees.move_to_end(k)
                    rows[i] = row
        if missing:
            idx = np.array(missing)
            fresh = _trees(self.network.weights, out_node[idx], out_cost[idx])
            rows[idx] = fresh
            with self._tree_lock:
                for i, row in zip(missing, fresh, strict=True):
                    self._trees[keys[i]] = row
                    self._trees.move_to_end(keys[i])
                while len(self._trees) > self._tree_cache:
                    self._trees.popitem(last=False)
        return rows

    def matrix(self, src_lon: object, src_lat: object, dst_lon: object,
               dst_lat: object) -> TravelMatrix:
        net = self.network
        slon, slat = _points(src_lon, src_lat, "src")
        dlon, dlat = _points(dst_lon, dst_lat, "dst")
        if not (len(slon) and len(dlon)):
            empty = np.zeros((len(slon), len(dlon)))
            return TravelMatrix(seconds=empty, metres=empty.copy(), eta_source="road",
                                snap_m_src=np.zeros(len(slon)), snap_m_dst=np.zeros(len(dlon)))
        src, dst = net.snap(slon, slat), net.snap(dlon, dlat)
        out_node, out_cost = self._legs(src, leaving=True)
        in_node, in_cost = self._legs(dst, leaving=False)
        if len(src.segment) <= self._tree_cache and self._tree_cache > 0:
            rows = self._rows(slon, slat, out_node, out_cost)
            packed = np.minimum(rows[:, in_node[:, 0]] + in_cost[:, 0][None, :],
                                rows[:, in_node[:, 1]] + in_cost[:, 1][None, :])
        elif len(src.segment) <= len(dst.segment):
            packed = _search(net.weights, out_node, out_cost, in_node, in_cost)
        else:  # search backwards from each destination on the reversed graph
            packed = _search(net.weights_reversed, in_node, in_cost, out_node, out_cost).T
        packed = np.minimum(packed, self._same_road(src, dst))
        seconds, metres = unpack(packed)
        seconds = seconds + (src.distance_m[:, None] + dst.distance_m[None, :]) / self.access_mps
        metres = metres + src.distance_m[:, None] + dst.distance_m[None, :]
        straight = np.hypot(src.px[:, None] - dst.px[None, :], src.py[:, None] - dst.py[None, :])
        across = (straight <= src.distance_m[:, None] + dst.distance_m[None, :]) & (
            straight / self.access_mps < seconds)
        seconds = np.where(across, straight / self.access_mps, seconds)
        metres = np.where(across, straight, metres)
        return TravelMatrix(seconds=seconds, metres=metres, eta_source="road",
                            snap_m_src=src.distance_m, snap_m_dst=dst.distance_m)

    def path(self, src_lon: float, src_lat: float, dst_lon: float, dst_lat: float
             ) -> np.ndarray:
        """The route :meth:`matrix` times between two points, as WGS84 vertices for a map.

        The access leg from the point to its snapped position, the part of that road piece
        up to the node the route joins, every road piece of the fastest path with its own
        polyline, and the same two steps backwards at the destination. Two points on one road
        follow it between them; two points :meth:`matrix` lets cross straight (the same
        compound) give a two-vertex line.

        Returns
        -------
        np.ndarray
            ``(k, 2)`` lon/lat degrees, first vertex the source, last the destination.

        Raises
        ------
        ValueError
            For points that are not WGS84 or when no road route exists (an ``inf`` pair).
        """
        net = self.network
        slon, slat = _points(src_lon, src_lat, "src")
        dlon, dlat = _points(dst_lon, dst_lat, "dst")
        if len(slon) != 1 or len(dlon) != 1:
            raise ValueError("path: give one source and one destination point")
        src, dst = net.snap(slon, slat), net.snap(dlon, dlat)
        out_node, out_cost = self._legs(src, leaving=True)
        in_node, in_cost = self._legs(dst, leaving=False)
        n = net.n_nodes
        dist, pred = dijkstra(_augmented(net.weights, out_node, out_cost), directed=True,
                              indices=n, return_predecessors=True)
        ends = dist[in_node[0]] + in_cost[0]
        k = int(np.argmin(ends))
        same = float(self._same_road(src, dst)[0, 0])
        packed = min(float(ends[k]), same)
        s_pt = np.array([src.px[0], src.py[0]])
        d_pt = np.array([dst.px[0], dst.py[0]])
        straight = float(np.hypot(*(s_pt - d_pt)))
        seconds = np.inf
        if np.isfinite(packed):
            seconds = float(unpack(np.array([packed]))[0][0]) + (
                src.distance_m[0] + dst.distance_m[0]) / self.access_mps
        if straight <= src.distance_m[0] + dst.distance_m[0] and (
                straight / self.access_mps < seconds):
            xy = np.vstack([s_pt, d_pt])
        elif not np.isfinite(packed):
            raise ValueError(f"path: no road route from ({src_lon}, {src_lat}) to "
                             f"({dst_lon}, {dst_lat})")
        elif same <= ends[k]:
            seg = int(src.segment[0])
            xy = np.vstack([s_pt, self._piece(seg, self._along(src), self._along(dst)), d_pt])
        else:
            nodes = [int(in_node[0, k])]
            while pred[nodes[-1]] != n:
                nodes.append(int(pred[nodes[-1]]))
            nodes.reverse()
            parts = [s_pt[None, :], self._to_node(src, nodes[0], leaving=True)]
            parts += [self._edge_xy(u, v) for u, v in pairwise(nodes)]
            parts += [self._to_node(dst, nodes[-1], leaving=False), d_pt[None, :]]
            xy = np.vstack(parts)
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = np.any(np.abs(np.diff(xy, axis=0)) > 1e-6, axis=1)
        xy = xy[keep]
        if len(xy) == 1:
            xy = np.vstack([xy, xy])
        lon, lat = to_wgs84(xy[:, 0], xy[:, 1], net.epsg)
        return np.column_stack([lon, lat])

    def _along(self, snap: Snap) -> float:
        """Metres from the start (node ``seg_a``) of a snapped point's segment to the point."""
        net = self.network
        seg = int(snap.segment[0])
        t = snap.fraction[0] if snap.edge[0] == net.seg_fwd[seg] else 1.0 - snap.fraction[0]
        return float(t * shapely.length(net.lines[seg]))

    def _piece(self, seg: int, start_m: float, end_m: float) -> np.ndarray:
        """Metric vertices of segment ``seg`` between two distances along it (either order)."""
        line = self.network.lines[seg]
        sub = substring(line, start_m, end_m)
        return np.asarray(shapely.get_coordinates(sub))

    def _to_node(self, snap: Snap, node: int, *, leaving: bool) -> np.ndarray:
        """Vertices between a snapped point and the end ``node`` of its segment, in travel order."""
        net = self.network
        seg = int(snap.segment[0])
        length = float(shapely.length(net.lines[seg]))
        at = self._along(snap)
        end = 0.0 if node == int(net.seg_a[seg]) else length
        return self._piece(seg, at, end) if leaving else self._piece(seg, end, at)

    def _edge_xy(self, u: int, v: int) -> np.ndarray:
        """Metric polyline of the fastest directed edge u→v (the one the search used)."""
        net = self.network
        if self._edge_index is None:
            keep = net.edge_u != net.edge_v
            edges = np.flatnonzero(keep)
            weight = pack(net.edge_time_s[edges], net.edge_length_m[edges])
            key = net.edge_u[edges].astype(np.int64) * net.n_nodes + net.edge_v[edges]
            order = np.lexsort((weight, key))
            seg_of = np.full(net.n_edges, -1, dtype=np.int64)
            fwd = net.seg_fwd >= 0
            bwd = net.seg_bwd >= 0
            seg_of[net.seg_fwd[fwd]] = np.flatnonzero(fwd)
            seg_of[net.seg_bwd[bwd]] = np.flatnonzero(bwd)
            self._edge_index = (key[order], edges[order], seg_of)
        keys, edges, seg_of = self._edge_index
        e = int(edges[np.searchsorted(keys, u * net.n_nodes + v)])
        seg = int(seg_of[e])
        if seg < 0:  # a duplicate road another edge stands for: draw it straight
            return np.array([[net.x[u], net.y[u]], [net.x[v], net.y[v]]])
        xy = net.seg_xy[net.seg_offsets[seg]:net.seg_offsets[seg + 1]]
        return xy if net.seg_fwd[seg] == e else xy[::-1]

    def _legs(self, snap: Snap, *, leaving: bool) -> tuple[np.ndarray, np.ndarray]:
        """The (up to two) graph nodes a snapped point joins, with packed costs; (n, 2) each.

        Leaving: to b along the forward edge, to a along the backward edge. Arriving: from a
        along the forward edge, from b along the backward edge. A point at a node joins it free.
        """
        net = self.network
        seg = snap.segment
        a, b = net.seg_a[seg], net.seg_b[seg]
        fwd, bwd = net.seg_fwd[seg], net.seg_bwd[seg]
        t = np.where(snap.edge == fwd, snap.fraction, 1.0 - snap.fraction)  # along a→b
        seg_len = net.edge_length_m[np.where(fwd >= 0, fwd, bwd)]

        def part(edge: np.ndarray, share: np.ndarray) -> np.ndarray:
            e = np.maximum(edge, 0)
            cost = pack(share * net.edge_time_s[e], share * net.edge_length_m[e])
            return np.where(edge >= 0, cost, np.inf)

        if leaving:
            cost_a, cost_b = part(bwd, t), part(fwd, 1.0 - t)
        else:
            cost_a, cost_b = part(fwd, t), part(bwd, 1.0 - t)
        cost_a = np.where(t * seg_len <= AT_NODE_M, 0.0, cost_a)
        cost_b = np.where((1.0 - t) * seg_len <= AT_NODE_M, 0.0, cost_b)
        return np.column_stack([a, b]), np.column_stack([cost_a, cost_b])

    def _same_road(self, src: Snap, dst: Snap) -> np.ndarray:
        """Packed cost of driving straight along a shared segment, else inf; (n_src, n_dst)."""
        net = self.network
        out = np.full((len(src.segment), len(dst.segment)), np.inf)
        order = np.argsort(dst.segment, kind="stable")
        sorted_seg = dst.segment[order]
        lo = np.searchsorted(sorted_seg, src.segment, "left")
        hi = np.searchsorted(sorted_seg, src.segment, "right")
        counts = hi - lo
        if not counts.any():
            return out
        i = np.repeat(np.arange(len(src.segment)), counts)
        rank = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        j = order[np.repeat(lo, counts) + rank]
        seg = src.segment[i]
        fwd, bwd = net.seg_fwd[seg], net.seg_bwd[seg]
        ts = np.where(src.edge[i] == fwd, src.fraction[i], 1.0 - src.fraction[i])
        td = np.where(dst.edge[j] == fwd, dst.fraction[j], 1.0 - dst.fraction[j])
        edge = np.where(td >= ts, fwd, bwd)
        e = np.maximum(edge, 0)
        share = np.abs(td - ts)
        cost = pack(share * net.edge_time_s[e], share * net.edge_length_m[e])
        out[i, j] = np.where(edge >= 0, cost, np.inf)
        return out


def _augmented(graph: csr_matrix, start_node: np.ndarray, start_cost: np.ndarray
               ) -> csr_matrix:
    """``graph`` plus one virtual node per start, joined to its (up to two) road nodes."""
    n = graph.shape[0]
    k = len(start_node)
    ok = np.isfinite(start_cost)
    indptr = np.concatenate([graph.indptr, graph.indptr[-1] + np.cumsum(ok.sum(axis=1))])
    return csr_matrix((np.concatenate([graph.data, start_cost[ok]]),
                       np.concatenate([graph.indices, start_node[ok]]).astype(np.int32),
                       indptr), shape=(n + k, n + k))


def _trees(graph: csr_matrix, start_node: np.ndarray, start_cost: np.ndarray) -> np.ndarray:
    """Packed costs from every start to every road node; (n_start, n_nodes)."""
    n = graph.shape[0]
    aug = _augmented(graph, start_node, start_cost)
    return dijkstra(aug, directed=True, indices=n + np.arange(len(start_node)))[:, :n]


def _search(graph: csr_matrix, start_node: np.ndarray, start_cost: np.ndarray,
            end_node: np.ndarray, end_cost: np.ndarray) -> np.ndarray:
    """Packed shortest costs from every start to every end; (n_start, n_end).

    Each start becomes a virtual node appended to ``graph`` with edges to its join nodes, so a
    single Dijkstra per start covers both ways onto the road; ends are combined afterwards.
    """
    n = graph.shape[0]
    k = len(start_node)
    aug = _augmented(graph, start_node, start_cost)
    out = np.empty((k, len(end_node)))
    step = max(1, _CHUNK_CELLS // (n + k))
    for first in range(0, k, step):
        idx = np.arange(first, min(first + step, k))
        dist = dijkstra(aug, directed=True, indices=n + idx)
        out[idx] = np.minimum(dist[:, end_node[:, 0]] + end_cost[:, 0],
                              dist[:, end_node[:, 1]] + end_cost[:, 1])
    return out


_loaded: dict[Path, tuple[tuple[int, int], RoadTravelTimes]] = {}
_lock = threading.Lock()


def network_path(district_code: str) -> Path:
    """Where the cached road network of a district lives (under ``WHISTLE_DATA_DIR``)."""
    return network_dir() / f"{district_code}.npz"


def travel_times_for(district: District) -> TravelTimes:
    """Road travel times if the district's network is cached, else the district's estimate.

    A loaded network is kept in memory and reloaded only when its file changes. A cache that
    exists but cannot be read raises :class:`~geo.network.NetworkError` rather than quietly
    falling back: re-import the network.
    """
    path = network_path(district.code)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return EstimateTravelTimes(district.travel_estimate)
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        hit = _loaded.get(path)
        if hit is None or hit[0] != stamp:
            hit = (stamp, RoadTravelTimes(RoadNetwork.load(path)))
            _loaded[path] = hit
        return hit[1]
