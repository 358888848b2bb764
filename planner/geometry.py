"""Route geometry for the map, and the day plan as GeoJSON.

Each leg of a crew's route (base → stop → … → base) is drawn on the roads when the travel
times came from a road network (:meth:`geo.traveltime.RoadTravelTimes.path`, the same route
the times were measured on) and as a straight segment otherwise; every route says which
(``geometry``: ``"road"``, ``"straight"``, or ``"mixed"`` when some road leg had no route
and was drawn straight). Coordinates are WGS84 lon/lat (RFC 7946).

The GeoJSON FeatureCollection holds one LineString per crew route and one Point per stop,
per crew base and per visit left out, each with properties a map can show (crew, order,
clock times, units, reasons) and a ``stroke``/``marker-color`` colour per crew.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np

from geo.traveltime import RoadTravelTimes, TravelTimes
from planner.daily import DayPlan, clock
from planner.items import format_clock

GeometryKind = Literal["road", "straight", "mixed"]
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#9a6324", "#469990", "#800000", "#808000", "#000075")
_DIGITS = 6  # ≈ 0.1 m


def leg_lines(points: list[tuple[float, float]], travel: TravelTimes | None
              ) -> tuple[list[np.ndarray], GeometryKind]:
    """Vertices of each leg between consecutive points, and how they were drawn."""
    legs = []
    straight = 0
    road = isinstance(travel, RoadTravelTimes)
    for a, b in pairwise(points):
        xy = None
        if road:
            try:
                xy = travel.path(a[0], a[1], b[0], b[1])
            except ValueError:
                xy = None
        if xy is None:
            straight += 1
            xy = np.array([a, b], dtype=float)
        legs.append(xy)
    if not road:
        return legs, "straight"
    return legs, "road" if straight == 0 else "mixed"


def route_lines(plan: DayPlan, travel: TravelTimes | None = None
                ) -> dict[str, tuple[np.ndarray, GeometryKind]]:
    """Crew id → (``(k, 2)`` lon/lat polyline of its whole route, geometry kind)."""
    crews, vis = plan.crew_by_id, plan.visit_by_id
    out: dict[str, tuple[np.ndarray, GeometryKind]] = {}
    for r in plan.routes:
        if not r.stops:
            continue
        c = crews[r.crew_id]
        pts = [(c.base_lon, c.base_lat)]
        pts += [(vis[s.visit_id].lon, vis[s.visit_id].lat) for s in r.stops]
        pts.append((c.base_lon, c.base_lat))
        legs, kind = leg_lines(pts, travel)
        line = np.vstack([legs[0]] + [leg[1:] for leg in legs[1:]])
        out[r.crew_id] = (line, kind)
    return out


def _coords(xy: np.ndarray) -> list[list[float]]:
    return [[round(float(x), _DIGITS), round(float(y), _DIGITS)] for x, y in xy]


def feature_collection(plan: DayPlan, travel: TravelTimes | None = None) -> dict[str, Any]:
    """The plan as a GeoJSON FeatureCollection (see the module docstring).

    ``travel`` gives road geometry when it is a :class:`~geo.traveltime.RoadTravelTimes`;
    otherwise (or ``None``) legs are straight.
    """
    lines = route_lines(plan, travel)
    crews, vis = plan.crew_by_id, plan.visit_by_id
    colour = {c.id: PALETTE[k % len(PALETTE)] for k, c in enumerate(plan.crews)}
    features: list[dict[str, Any]] = []
    kinds = set()
    for r in plan.routes:
        if r.crew_id not in lines:
            continue
        c = crews[r.crew_id]
        line, kind = lines[r.crew_id]
        kinds.add(kind)
        features.append({"type": "Feature",
                         "geometry": {"type": "LineString", "coordinates": _coords(line)},
                         "properties": {
                             "kind": "route", "crew_id": c.id, "crew": c.name,
                             "units": list(c.units), "officers": len(c.officers),
                             "stops": len(r.stops), "departure": clock(r.departure_s),
                             "return": clock(r.return_s),
                             "duration_min": round(r.duration_s / 60, 1),
                             "distance_km": round(r.distance_m / 1000, 2),
                             "lunch": (f"{clock(r.lunch[0])}-{clock(r.lunch[1])}"
                                       if r.lunch else None),
                             "geometry": kind, "eta_source": plan.eta_source,
                             "stroke": colour[c.id], "stroke-width": 3}})
    for c in plan.crews:
        features.append({"type": "Feature",
                         "geometry": {"type": "Point",
                                      "coordinates": _coords([(c.base_lon, c.base_lat)])[0]},
                         "properties": {"kind": "base", "crew_id": c.id, "crew": c.name,
                                        "base": c.base_name, "marker-symbol": "building",
                                        "marker-color": colour[c.id]}})
    for r in plan.routes:
        for k, s in enumerate(r.stops):
            v = vis[s.visit_id]
            features.append({"type": "Feature",
                             "geometry": {"type": "Point",
                                          "coordinates": _coords([(v.lon, v.lat)])[0]},
                             "properties": {
                                 "kind": "stop", "crew_id": r.crew_id, "seq": k + 1,
                                 "visit_id": v.id, "object_id": v.object_id, "name": v.name,
                                 "units": list(v.units), "joint": v.joint,
                                 "urgent": v.priority > 1, "arrival": clock(s.arrival_s),
                                 "start": clock(s.start_s), "end": clock(s.end_s),
                                 "minutes": v.minutes, "items": len(v.items),
                                 "marker-color": colour[r.crew_id],
                                 "marker-symbol": str(k + 1) if k < 9 else "circle"}})
    for x in plan.left_out:
        v = vis[x.visit_id]
        features.append({"type": "Feature",
                         "geometry": {"type": "Point", "coordinates": _coords([(v.lon, v.lat)])[0]},
                         "properties": {"kind": "left_out", "visit_id": v.id,
                                        "object_id": v.object_id, "name": v.name,
                                        "units": list(v.units), "reason_kind": x.kind,
                                        "reason": x.reason, "marker-color": "#808080",
                                        "marker-symbol": "cross"}})
    geometry = (kinds.pop() if len(kinds) == 1 else "mixed") if kinds else (
        "road" if isinstance(travel, RoadTravelTimes) else "straight")
    return {"type": "FeatureCollection",
            "name": f"{plan.zone} {plan.day.isoformat()}",
            "whistle": {"zone": plan.zone, "date": plan.day.isoformat(),
                        "eta_source": plan.eta_source, "geometry": geometry,
                        "replanned_at": (format_clock(plan.replanned_at)
                                         if plan.replanned_at is not None else None)},
            "features": features}


def write_geojson(plan: DayPlan, path: Path | str, travel: TravelTimes | None = None) -> Path:
    """Write :func:`feature_collection` to ``path`` (UTF-8, via a temporary file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(feature_collection(plan, travel), ensure_ascii=False),
                   encoding="utf-8")
    tmp.replace(path)
    return path
