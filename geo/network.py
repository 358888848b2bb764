"""Road networks: read an OpenStreetMap extract offline, keep it as arrays, snap points onto it.

Reading (:func:`read_osm_graph`) never touches the internet. pyosmium reads ``.osm``,
``.osm.bz2``, ``.osm.gz`` and ``.osm.pbf`` alike; its ways are filtered to drivable roads with
the rules of osmnx's ``"drive"`` network type (optionally keeping ``service`` roads, as
``"drive_service"`` does) and written to a temporary OSM XML file that
``osmnx.graph_from_xml`` turns into a simplified graph. The filter matters: ``graph_from_xml``
itself keeps every way in the file, buildings and admin boundaries included.

Only the largest strongly connected component is kept, so any two snapped points can reach
each other; the OSM node counts before and after (``drivable_nodes``, ``connected_nodes``) go
into :attr:`RoadNetwork.meta`.

:class:`RoadNetwork` is the compact form routing works on: node arrays (OSM id, lon/lat, metric
x/y), directed edge arrays (length, travel time, class, name) and "segments", one per physical
road piece with its metric geometry, pairing the two directed edges of a two-way road. It is
cached as one ``.npz`` file (:meth:`RoadNetwork.save` / :meth:`RoadNetwork.load`).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import shapely
from osmium.osm import mutable
from scipy.sparse import csr_matrix
from shapely.geometry.base import BaseGeometry

from geo.boundaries import District
from geo.crs import to_metric, utm_epsg
from geo.speeds import add_speeds, first_class

CACHE_FORMAT = 1
OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf")

# Travel time and length travel together through Dijkstra as one float64: whole milliseconds
# times 2**LENGTH_BITS plus whole metres. Sums of such integers stay exact below 2**53, so a
# route's time and length are read back exactly, and the search prefers, among equally fast
# routes, the shortest. Limits: 2**24 m = 16,777 km per route and 2**29 ms = 149 h per route,
# far beyond a county; MAX_EXTENT_KM keeps networks well inside them.
LENGTH_BITS = 24
_LENGTH_SCALE = float(2**LENGTH_BITS)
MAX_EXTENT_KM = 1_000.0
AT_NODE_M = 1e-3  # a point this close (metres along the road) to a node is at that node

# osmnx 2.1 "drive"/"drive_service" filters (osmnx._overpass._get_network_filter), applied
# with Overpass semantics: an unanchored regular expression, and an absent tag passes.
_DRIVE_EXCLUDED = (
    "abandoned|bridleway|bus_guideway|construction|corridor|cycleway|elevator|escalator|"
    "footway|no|path|pedestrian|planned|platform|proposed|raceway|razed|rest_area|services|"
    "steps|track"
)
_HIGHWAY_EXCLUDED = {
    True: re.compile(_DRIVE_EXCLUDED),
    False: re.compile(_DRIVE_EXCLUDED + "|service"),
}
_SERVICE_EXCLUDED = {
    True: re.compile("emergency_access|parking|parking_aisle|private"),
    False: re.compile("alley|driveway|emergency_access|parking|parking_aisle|private"),
}


class NetworkError(ValueError):
    """An OSM file or a network cache cannot be used; the message names the file and why."""


def is_drivable(tags: Mapping[str, str], *, service_roads: bool = True) -> bool:
    """Whether an OSM way with these tags is a public road a car may use.

    Mirrors osmnx's ``"drive"`` filter, or ``"drive_service"`` when ``service_roads`` is set:
    enforcement teams often end their trip on a factory or estate access road.
    """
    hwy = tags.get("highway")
    if hwy is None or _HIGHWAY_EXCLUDED[service_roads].search(hwy):
        return False
    rejects = (("area", "yes"), ("access", "private"), ("motor_vehicle", "no"),
               ("motorcar", "no"))
    if any(key in tags and re.search(pat, tags[key]) for key, pat in rejects):
        return False
    return not ("service" in tags and _SERVICE_EXCLUDED[service_roads].search(tags["service"]))


def _check_path(path: Path) -> None:
    name = path.name.lower()
    if not any(name.endswith(s) for s in OSM_SUFFIXES):
        raise NetworkError(f"{path}: unsupported file type; expected one of "
                           f"{', '.join(OSM_SUFFIXES)}")
    if not path.is_file():
        raise NetworkError(f"{path}: no such file")


def _drivable_ways(path: Path, service_roads: bool) -> tuple[dict[int, tuple[float, float]],
                                                              list[mutable.Way], dict[str, int]]:
    """Drivable ways of an OSM file with the locations of their nodes (one pyosmium pass)."""
    nodes: dict[int, tuple[float, float]] = {}
    ways: list[mutable.Way] = []
    stats = {"highway_ways": 0, "missing_node_refs": 0}
    processor = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
                 .with_locations()
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                 .with_filter(osmium.filter.KeyFilter("highway")))
    try:
        for way in processor:
            stats["highway_ways"] += 1
            tags = dict(way.tags)
            if not is_drivable(tags, service_roads=service_roads):
                continue
            # An extract cut without complete ways can lack nodes: keep the longest run of
            # located nodes rather than bridging the gap with a straight line.
            runs: list[list[int]] = [[]]
            for ref in way.nodes:
                if ref.location.valid():
                    runs[-1].append(ref.ref)
                    nodes[ref.ref] = (ref.location.lon, ref.location.lat)
                else:
                    stats["missing_node_refs"] += 1
                    runs.append([])
            refs = max(runs, key=len)
            if len(refs) >= 2:
                ways.append(mutable.Way(id=way.id, nodes=refs, tags=tags))
    except RuntimeError as exc:  # libosmium reports every parse error as RuntimeError
        raise NetworkError(f"{path}: cannot read OSM data ({exc})") from exc
    stats["drivable_ways"] = len(ways)
    return nodes, ways, stats


def read_osm_graph(
    path: Path | str,
    *,
    service_roads: bool = True,
    urban_area: BaseGeometry | None = None,
) -> tuple[nx.MultiDiGraph, dict[str, Any]]:
    """Read the drivable roads of an OSM file into a simplified osmnx graph with speeds.

    Parameters
    ----------
    path : path
        ``.osm``, ``.osm.bz2``, ``.osm.gz`` or ``.osm.pbf`` file.
    service_roads : bool
        Keep ``highway=service`` roads (except parking aisles, private and emergency ones).
    urban_area : shapely geometry, optional
        WGS84 area where urban speeds apply (see :mod:`geo.speeds`).

    Returns
    -------
    (networkx.MultiDiGraph, dict)
        The unprojected graph (edge ``length`` in metres, ``speed_kph``, ``travel_time`` in
        seconds), largest strongly connected component only, and reading statistics.
    """
    path = Path(path)
    _check_path(path)
    nodes, ways, stats = _drivable_ways(path, service_roads)
    if not ways:
        n = stats["highway_ways"]
        raise NetworkError(f"{path}: no drivable roads (none of its {n} highway ways passes the "
                           "drive filter)" if n else f"{path}: no roads (no way has a highway tag)")
    with tempfile.TemporaryDirectory(prefix="whistle-osm-") as tmp:
        xml = Path(tmp) / "drive.osm"
        with osmium.SimpleWriter(str(xml)) as writer:
            for nid in sorted(nodes):
                lon, lat = nodes[nid]
                writer.add_node(mutable.Node(id=nid, location=(lon, lat)))
            for way in ways:
                writer.add_way(way)
        G = ox.graph_from_xml(xml, simplify=False, retain_all=True)
    stats["drivable_nodes"] = G.number_of_nodes()
    G = ox.truncate.largest_component(G, strongly=True)
    if G.number_of_edges() == 0:
        raise NetworkError(f"{path}: the drivable roads form no connected network")
    stats["connected_nodes"] = G.number_of_nodes()
    G = ox.simplify_graph(G)
    add_speeds(G, urban_area)
    return G, stats


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pack(time_s: np.ndarray, length_m: np.ndarray) -> np.ndarray:
    """Combine times (s) and lengths (m) into exact Dijkstra weights (see ``LENGTH_BITS``)."""
    return np.round(np.asarray(time_s) * 1000.0) * _LENGTH_SCALE + np.round(np.asarray(length_m))


def unpack(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split packed weights into (seconds, metres); ``inf`` (unreachable) stays ``inf``."""
    weight = np.asarray(weight, dtype=float)
    finite = np.isfinite(weight)
    if finite.any() and weight[finite].max() >= 2.0**53:
        raise OverflowError("route longer than the packed-weight range (149 h or 16,777 km)")
    ms = np.floor(np.where(finite, weight, 0.0) / _LENGTH_SCALE)
    metres = np.where(finite, weight - ms * _LENGTH_SCALE, np.inf)
    return np.where(finite, ms / 1000.0, np.inf), metres


def csr_min(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n: int) -> csr_matrix:
    """An n×n CSR matrix keeping the smallest weight of repeated (row, col) pairs.

    Built by hand so zero weights stay explicit entries (a zero-length edge is still an edge).
    """
    order = np.lexsort((weights, cols, rows))
    r, c, w = rows[order], cols[order], weights[order]
    keep = np.ones(len(r), dtype=bool)
    keep[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    r, c, w = r[keep], c[keep], w[keep]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    return csr_matrix((w, c.astype(np.int32), indptr), shape=(n, n))


@dataclass(frozen=True)
class Snap:
    """Where points land on the road network; arrays of one entry per input point.

    ``edge`` is the directed edge the point lies on (the segment's forward edge when the road
    is two-way), ``fraction`` the position along it from its start node (0) to its end node
    (1), ``node`` the nearer of its two end nodes, ``distance_m`` the straight distance in
    metres from the point to the road, ``x``/``y`` the snapped position and ``px``/``py`` the
    point itself, both in the network's metric CRS (metres).
    """

    segment: np.ndarray
    edge: np.ndarray
    node: np.ndarray
    fraction: np.ndarray
    distance_m: np.ndarray
    x: np.ndarray
    y: np.ndarray
    px: np.ndarray
    py: np.ndarray


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A drivable road network as arrays.

    Nodes are indexed 0..n_nodes-1, directed edges 0..n_edges-1 (both directions of a two-way
    road are two edges, as in osmnx). Edge times are in seconds rounded to the millisecond,
    lengths in metres. A segment is one physical road piece: its metric polyline runs from node
    ``seg_a`` to ``seg_b``; ``seg_fwd`` is the edge a→b and ``seg_bwd`` the edge b→a, -1 where
    the road is one-way.
    """

    epsg: int
    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_time_s: np.ndarray
    edge_speed_kmh: np.ndarray
    edge_class: np.ndarray
    edge_name: np.ndarray
    classes: tuple[str, ...]
    names: tuple[str, ...]
    seg_a: np.ndarray
    seg_b: np.ndarray
    seg_fwd: np.ndarray
    seg_bwd: np.ndarray
    seg_offsets: np.ndarray
    seg_xy: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_osm(
        cls,
        path: Path | str,
        epsg: int | None = None,
        *,
        service_roads: bool = True,
        urban_area: BaseGeometry | None = None,
    ) -> RoadNetwork:
        """Build a network from an OSM file (see :func:`read_osm_graph`).

        ``epsg`` is the metric CRS for snapping; by default the UTM zone of the network's
        centre. Raises :class:`NetworkError` if the file is unreadable or has no roads.
        """
        path = Path(path)
        G, stats = read_osm_graph(path, service_roads=service_roads, urban_area=urban_area)
        meta = {
            "source": path.name,
            "source_sha256": _sha256(path),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "service_roads": service_roads,
            "urban_area": urban_area is not None,
            **stats,
        }
        return cls.from_graph(G, epsg, meta=meta)

    @classmethod
    def from_graph(
        cls, G: nx.MultiDiGraph, epsg: int | None = None, *, meta: dict[str, Any] | None = None
    ) -> RoadNetwork:
        """Convert an unprojected osmnx graph with ``length`` and ``travel_time`` on its edges."""
        node_ids = list(G.nodes)
        index = {n: i for i, n in enumerate(node_ids)}
        lon = np.array([G.nodes[n]["x"] for n in node_ids], dtype=float)
        lat = np.array([G.nodes[n]["y"] for n in node_ids], dtype=float)
        eu, ev, length, time, speed, hwy, name, geoms = [], [], [], [], [], [], [], []
        for u, v, data in G.edges(data=True):
            eu.append(index[u])
            ev.append(index[v])
            length.append(data["length"])
            time.append(data["travel_time"])
            speed.append(data.get("speed_kph", np.nan))
            hwy.append(first_class(data.get("highway")))
            name.append(_road_name(data))
            geom = data.get("geometry")
            geoms.append(np.asarray(geom.coords) if geom is not None else
                         np.array([[lon[index[u]], lat[index[u]]], [lon[index[v]], lat[index[v]]]]))
        return cls.from_edges(
            node_id=np.array(node_ids, dtype=np.int64), lon=lon, lat=lat,
            edge_u=np.array(eu), edge_v=np.array(ev), length_m=np.array(length, dtype=float),
            time_s=np.array(time, dtype=float), speed_kmh=np.array(speed, dtype=float),
            highway=hwy, name=name, geometry=geoms, epsg=epsg, meta=meta,
        )

    @classmethod
    def from_edges(
        cls,
        *,
        node_id: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
        edge_u: np.ndarray,
        edge_v: np.ndarray,
        length_m: np.ndarray,
        time_s: np.ndarray,
        speed_kmh: np.ndarray | None = None,
        highway: list[str] | None = None,
        name: list[str] | None = None,
        geometry: list[np.ndarray] | None = None,
        epsg: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> RoadNetwork:
        """Build from plain arrays: node ids and WGS84 coordinates, directed edges by node index.

        ``geometry`` gives each edge's WGS84 polyline (k×2 lon/lat, from u to v); straight
        lines between the end nodes by default. Two edges with opposite ends and the same
        polyline reversed become one two-way segment.
        """
        n_nodes, n_edges = len(node_id), len(edge_u)
        if n_edges == 0:
            raise NetworkError("the network has no edges")
        edge_u = np.asarray(edge_u, dtype=np.int32)
        edge_v = np.asarray(edge_v, dtype=np.int32)
        for label, ends in (("edge_u", edge_u), ("edge_v", edge_v)):
            if ends.min() < 0 or ends.max() >= n_nodes:
                raise NetworkError(f"{label} refers to nodes outside 0..{n_nodes - 1}")
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        if epsg is None:
            epsg = utm_epsg(float((lon.min() + lon.max()) / 2), float((lat.min() + lat.max()) / 2))
        x, y = to_metric(lon, lat, epsg)
        extent_km = float(np.hypot(np.ptp(x), np.ptp(y))) / 1000
        if extent_km > MAX_EXTENT_KM:
            raise NetworkError(f"the network spans {extent_km:,.0f} km; road networks are "
                               f"built per district (at most {MAX_EXTENT_KM:,.0f} km across)")
        if geometry is None:
            geometry = [np.array([[lon[a], lat[a]], [lon[b], lat[b]]])
                        for a, b in zip(edge_u, edge_v, strict=True)]
        highway = highway if highway is not None else [""] * n_edges
        name = name if name is not None else [""] * n_edges
        classes, edge_class = np.unique(np.array(highway, dtype=str), return_inverse=True)
        names, edge_name = np.unique(np.array(name, dtype=str), return_inverse=True)

        # Pair each edge with its reverse twin: same end nodes, same polyline backwards.
        segments: dict[tuple[int, int, bytes], list[int]] = {}
        keys_fwd: list[tuple[tuple[int, int, bytes], bool]] = []
        for e in range(n_edges):
            coords = np.round(np.asarray(geometry[e], dtype=float) * 1e7).astype(np.int64)
            u, v = int(edge_u[e]), int(edge_v[e])
            fwd = (u, coords.tobytes()) <= (v, coords[::-1].tobytes())
            key = (u, v, coords.tobytes()) if fwd else (v, u, coords[::-1].tobytes())
            keys_fwd.append((key, fwd))
        time_s = np.round(np.asarray(time_s, dtype=float), 3)
        for e, (key, fwd) in enumerate(keys_fwd):
            pair = segments.setdefault(key, [-1, -1])
            slot = 0 if fwd else 1
            # identical duplicates (same road twice): the faster one stands for both
            if pair[slot] < 0 or time_s[e] < time_s[pair[slot]]:
                pair[slot] = e
        seg_fwd = np.array([p[0] for p in segments.values()], dtype=np.int32)
        seg_bwd = np.array([p[1] for p in segments.values()], dtype=np.int32)
        seg_a = np.where(seg_fwd >= 0, edge_u[seg_fwd], edge_v[seg_bwd]).astype(np.int32)
        seg_b = np.where(seg_fwd >= 0, edge_v[seg_fwd], edge_u[seg_bwd]).astype(np.int32)
        polylines = [np.asarray(geometry[f]) if f >= 0 else np.asarray(geometry[b])[::-1]
                     for f, b in zip(seg_fwd, seg_bwd, strict=True)]
        counts = np.array([len(p) for p in polylines])
        offsets = np.zeros(len(polylines) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        ll = np.concatenate(polylines)
        sx, sy = to_metric(ll[:, 0], ll[:, 1], epsg)
        return cls(
            epsg=int(epsg), node_id=np.asarray(node_id, dtype=np.int64), lon=lon, lat=lat,
            x=x, y=y, edge_u=edge_u, edge_v=edge_v,
            edge_length_m=np.asarray(length_m, dtype=float), edge_time_s=time_s,
            edge_speed_kmh=(np.asarray(speed_kmh, dtype=float) if speed_kmh is not None
                            else np.full(n_edges, np.nan)),
            edge_class=edge_class.astype(np.int16), edge_name=edge_name.astype(np.int32),
            classes=tuple(classes.tolist()), names=tuple(names.tolist()),
            seg_a=seg_a, seg_b=seg_b, seg_fwd=seg_fwd, seg_bwd=seg_bwd, seg_offsets=offsets,
            seg_xy=np.column_stack([sx, sy]), meta=dict(meta or {}),
        )

    # -- sizes and derived structures -----------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return len(self.node_id)

    @property
    def n_edges(self) -> int:
        """Directed edges (a two-way road counts twice)."""
        return len(self.edge_u)

    @property
    def n_segments(self) -> int:
        return len(self.seg_fwd)

    @property
    def road_km(self) -> float:
        """Length of road in km, each segment counted once whatever its directions."""
        return float(shapely.length(self.lines).sum()) / 1000

    @property
    def edge_highway(self) -> np.ndarray:
        """OSM highway class of each edge."""
        return np.array(self.classes, dtype=str)[self.edge_class]

    def edge_road_name(self, edge: int) -> str:
        """Road name of an edge (OSM ``name``, else ``ref`` such as G205), or ``""``."""
        return self.names[int(self.edge_name[edge])]

    @cached_property
    def weights(self) -> csr_matrix:
        """n_nodes×n_nodes CSR of packed time/length weights (see :func:`pack`).

        Parallel edges keep the fastest; self-loops are dropped (they never shorten a route).
        """
        keep = self.edge_u != self.edge_v
        return csr_min(self.edge_u[keep], self.edge_v[keep],
                       pack(self.edge_time_s[keep], self.edge_length_m[keep]), self.n_nodes)

    @cached_property
    def weights_reversed(self) -> csr_matrix:
        """Transpose of :attr:`weights`, for searches towards a destination."""
        return self.weights.T.tocsr()

    @cached_property
    def lines(self) -> np.ndarray:
        """Metric shapely LineStrings of the segments."""
        index = np.repeat(np.arange(self.n_segments), np.diff(self.seg_offsets))
        return shapely.linestrings(self.seg_xy, indices=index)

    @cached_property
    def _tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.lines)

    # -- snapping -------------------------------------------------------------------------

    def snap(self, lon: np.ndarray | float, lat: np.ndarray | float) -> Snap:
        """Snap WGS84 points (degrees) to the nearest road segment, measured in metres.

        Raises ``ValueError`` for coordinates that are not finite.
        """
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        if lon.shape != lat.shape or lon.ndim != 1:
            raise ValueError(f"lon and lat must be 1-D and equally long (got {lon.shape} and "
                             f"{lat.shape})")
        bad = ~(np.isfinite(lon) & np.isfinite(lat))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"point {i}: coordinates ({lon[i]}, {lat[i]}) are not finite")
        px, py = to_metric(lon, lat, self.epsg)
        points = shapely.points(px, py)
        n = len(lon)
        pairs, dist = self._tree.query_nearest(points, all_matches=False, return_distance=True)
        seg = np.empty(n, dtype=np.int64)
        distance = np.empty(n)
        seg[pairs[0]] = pairs[1]
        distance[pairs[0]] = dist
        lines = self.lines[seg]
        along = shapely.line_locate_point(lines, points)
        seg_len = shapely.length(lines)
        t = np.divide(along, seg_len, out=np.zeros(n), where=seg_len > 0)
        on = shapely.line_interpolate_point(lines, along)
        has_fwd = self.seg_fwd[seg] >= 0
        edge = np.where(has_fwd, self.seg_fwd[seg], self.seg_bwd[seg])
        fraction = np.where(has_fwd, t, 1.0 - t)
        node = np.where(fraction <= 0.5, self.edge_u[edge], self.edge_v[edge])
        return Snap(segment=seg, edge=edge, node=node, fraction=fraction, distance_m=distance,
                    x=shapely.get_x(on), y=shapely.get_y(on), px=px, py=py)

    # -- cache ----------------------------------------------------------------------------

    _ARRAYS = ("node_id", "lon", "lat", "x", "y", "edge_u", "edge_v", "edge_length_m",
               "edge_time_s", "edge_speed_kmh", "edge_class", "edge_name", "seg_a", "seg_b",
               "seg_fwd", "seg_bwd", "seg_offsets", "seg_xy")

    def save(self, path: Path | str) -> Path:
        """Write the network to one ``.npz`` file, atomically (no half-written cache)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {"format": CACHE_FORMAT, "epsg": self.epsg, "classes": list(self.classes),
                  "meta": self.meta}
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                         delete=False) as f:
            tmp = Path(f.name)
            try:
                np.savez(f, header=np.array(json.dumps(header, ensure_ascii=False)),
                         names=np.array(self.names, dtype=str),
                         **{k: getattr(self, k) for k in self._ARRAYS})
            except BaseException:
                f.close()
                tmp.unlink(missing_ok=True)
                raise
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> RoadNetwork:
        """Read a network written by :meth:`save`; :class:`NetworkError` if unusable."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                if header.get("format") != CACHE_FORMAT:
                    raise NetworkError(
                        f"{path}: cache format {header.get('format')} is not {CACHE_FORMAT}; "
                        "rebuild it with `whistle network import`")
                arrays = {k: z[k] for k in cls._ARRAYS}
                names = tuple(z["names"].tolist())
        except FileNotFoundError as exc:
            raise NetworkError(f"{path}: no such network cache") from exc
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            if isinstance(exc, NetworkError):
                raise
            raise NetworkError(f"{path}: not a readable network cache ({exc}); rebuild it "
                               "with `whistle network import`") from exc
        return cls(epsg=int(header["epsg"]), classes=tuple(header["classes"]), names=names,
                   meta=header.get("meta", {}), **arrays)


def _road_name(data: Mapping[str, Any]) -> str:
    """Name of an edge from OSM ``name`` (or ``ref`` when unnamed); merged ways join with /."""
    for key in ("name", "ref"):
        value = data.get(key)
        if isinstance(value, list):
            value = "/".join(dict.fromkeys(str(v) for v in value if v))
        if value:
            return str(value)
    return ""


@dataclass(frozen=True)
class Coverage:
    """How much of a district a road network reaches.

    ``share_in_bbox`` and ``share_in_district`` are fractions of the network's nodes inside
    the district's bounding box and inside its townships; ``township_nodes`` counts nodes per
    township code.
    """

    share_in_bbox: float
    share_in_district: float
    township_nodes: dict[str, int]

    @property
    def townships_without_roads(self) -> list[str]:
        return [code for code, n in self.township_nodes.items() if n == 0]


def district_coverage(network: RoadNetwork, district: District) -> Coverage:
    """Measure which share of ``network`` lies in ``district`` and which townships it reaches."""
    minx, miny, maxx, maxy = district.bounds
    in_bbox = (network.lon >= minx) & (network.lon <= maxx) & (network.lat >= miny) & (
        network.lat <= maxy)
    counts: dict[str, int] = {}
    inside = np.zeros(network.n_nodes, dtype=bool)
    for t in district.townships:
        hit = np.zeros(network.n_nodes, dtype=bool)
        hit[in_bbox] = shapely.contains_xy(t.geometry, network.lon[in_bbox], network.lat[in_bbox])
        counts[t.code] = int(hit.sum())
        inside |= hit
    n = max(network.n_nodes, 1)
    return Coverage(share_in_bbox=float(in_bbox.sum()) / n,
                    share_in_district=float(inside.sum()) / n, township_nodes=counts)
