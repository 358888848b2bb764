"""Districts, townships, zones (片区) and "1+X" clusters (组团), and loading them from disk.

A district folder holds ``district.json`` (metadata, areas, travel-estimate parameters),
``townships.geojson`` and optionally ``outline.geojson``, all WGS84. Loading validates the
topology (see :mod:`geo.validate`) and refuses invalid data: nothing is repaired silently,
because a wrong boundary silently sends an incident to a team with no competence there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from geo.crs import geometry_to_metric

TOWNSHIP_KINDS = ("街道", "镇", "乡")
LayerName = Literal["zone", "cluster"]
LAYERS: tuple[LayerName, ...] = ("zone", "cluster")

# Package root: data/boundaries/<district>/ ships with the project.
DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "boundaries"


class BoundaryError(ValueError):
    """Raised when boundary data is malformed or fails validation; lists every problem."""

    def __init__(self, problems: list[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("format", (), problems)]
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


@dataclass(frozen=True)
class Problem:
    """One validation finding: what kind, which features, and a readable message with sizes."""

    kind: str
    features: tuple[str, ...]
    message: str
    size: float | None = None  # square metres (areas) or a fraction, as the kind says

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "features": list(self.features), "size": self.size,
                "message": self.message}


@dataclass(frozen=True)
class Township:
    """A township-level enforcement subject (街道/镇/乡) that acts in its own name."""

    code: str
    name: str
    kind: str
    town_class: str
    geometry: BaseGeometry  # WGS84


@dataclass(frozen=True)
class Area:
    """A zone (片区) or "1+X" cluster (组团): a named group of townships.

    For a cluster, ``hub`` is the township whose team also covers the other members.
    ``derived`` marks an assignment computed by Whistle rather than taken from a document.
    """

    code: str
    name: str
    layer: LayerName
    members: tuple[str, ...]
    hub: str | None = None
    derived: bool = False
    note: str = ""


@dataclass(frozen=True)
class TravelEstimate:
    """Parameters of the fallback travel time when no road network is loaded.

    ETA = great-circle distance × ``circuity`` ÷ ``speed_kmh``. A circuity of 1.3–1.4 is the
    usual ratio of road to straight-line distance on rural networks; 35 km/h is a county-road
    average including villages.
    """

    circuity: float = 1.35
    speed_kmh: float = 35.0


@dataclass(frozen=True)
class District:
    """A county or district: its townships, optional zone and cluster layers, and outline."""

    code: str
    name: str
    metric_epsg: int
    townships: tuple[Township, ...]
    outline: BaseGeometry | None = None
    zones: tuple[Area, ...] = ()
    clusters: tuple[Area, ...] = ()
    travel_estimate: TravelEstimate = field(default_factory=TravelEstimate)
    meta: dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> tuple[Area, ...]:
        if name == "zone":
            return self.zones
        if name == "cluster":
            return self.clusters
        raise KeyError(f"unknown layer {name!r}; expected one of {', '.join(LAYERS)}")

    @cached_property
    def _by_code(self) -> dict[str, Township]:
        return {t.code: t for t in self.townships}

    def township(self, key: str) -> Township:
        """Find a township by code or Chinese name."""
        if key in self._by_code:
            return self._by_code[key]
        for t in self.townships:
            if t.name == key:
                return t
        raise KeyError(f"no township {key!r} in district {self.code}")

    def area_of(self, township_code: str, layer: LayerName) -> Area | None:
        """The zone or cluster a township belongs to, or None."""
        for a in self.layer(layer):
            if township_code in a.members:
                return a
        return None

    def area_geometry(self, area: Area) -> BaseGeometry:
        """Union of the member townships (WGS84)."""
        return shapely.union_all([self._by_code[c].geometry for c in area.members])

    @cached_property
    def metric_townships(self) -> tuple[BaseGeometry, ...]:
        return tuple(geometry_to_metric(t.geometry, self.metric_epsg) for t in self.townships)

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """WGS84 bounds (minx, miny, maxx, maxy) of all townships."""
        return tuple(shapely.total_bounds([t.geometry for t in self.townships]).tolist())

    def iter_areas(self) -> Iterator[Area]:
        yield from self.zones
        yield from self.clusters


def _read_features(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BoundaryError(f"{path.name}: cannot read GeoJSON ({exc})") from exc
    if doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise BoundaryError(f"{path.name}: expected a GeoJSON FeatureCollection")
    return doc["features"]


def _geometry(feature: dict[str, Any], where: str) -> BaseGeometry:
    try:
        return shape(feature["geometry"])
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise BoundaryError(f"{where}: malformed geometry ({exc})") from exc


def _parse_area(raw: dict[str, Any], layer: LayerName) -> Area:
    missing = [k for k in ("code", "name", "members") if k not in raw]
    if missing:
        raise BoundaryError(
            f"{layer} {raw.get('code', '?')}: missing field(s) {', '.join(missing)}")
    return Area(
        code=str(raw["code"]),
        name=str(raw["name"]),
        layer=layer,
        members=tuple(str(m) for m in raw["members"]),
        hub=raw.get("hub"),
        derived=bool(raw.get("derived", False)),
        note=str(raw.get("note", "")),
    )


def read_district(folder: Path | str) -> District:
    """Parse a district folder without validating topology (see :func:`load_district`)."""
    folder = Path(folder)
    meta_path = folder / "district.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BoundaryError(f"{folder}: no district.json") from exc
    except json.JSONDecodeError as exc:
        raise BoundaryError(f"district.json: invalid JSON ({exc})") from exc
    for key in ("code", "name", "metric_epsg"):
        if key not in meta:
            raise BoundaryError(f"district.json: missing field {key!r}")

    townships = []
    for i, feat in enumerate(_read_features(folder / meta.get("townships", "townships.geojson"))):
        props = feat.get("properties") or {}
        missing = [k for k in ("code", "name", "kind", "class") if not props.get(k)]
        if missing:
            raise BoundaryError(f"township feature {i}: missing property {', '.join(missing)}")
        if props["kind"] not in TOWNSHIP_KINDS:
            raise BoundaryError(
                f"township {props['code']}: kind {props['kind']!r} is not one of "
                f"{'/'.join(TOWNSHIP_KINDS)}"
            )
        townships.append(Township(code=str(props["code"]), name=str(props["name"]),
                                  kind=props["kind"], town_class=str(props["class"]),
                                  geometry=_geometry(feat, f"township {props['code']}")))

    outline = None
    if meta.get("outline"):
        feats = _read_features(folder / meta["outline"])
        outline = shapely.union_all([_geometry(f, "outline") for f in feats])

    layers = meta.get("layers") or {}
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise BoundaryError(f"district.json: unknown layer(s) {', '.join(sorted(unknown))}")
    est = meta.get("travel_estimate") or {}
    return District(
        code=str(meta["code"]),
        name=str(meta["name"]),
        metric_epsg=int(meta["metric_epsg"]),
        townships=tuple(townships),
        outline=outline,
        zones=tuple(_parse_area(a, "zone") for a in layers.get("zone", [])),
        clusters=tuple(_parse_area(a, "cluster") for a in layers.get("cluster", [])),
        travel_estimate=TravelEstimate(**est),
        meta={k: v for k, v in meta.items() if k not in {"layers", "travel_estimate"}},
    )


def load_district(folder: Path | str, **tolerances: float) -> District:
    """Read and validate a district folder; raise :class:`BoundaryError` listing all problems."""
    from geo.validate import validate_district

    district = read_district(folder)
    problems = validate_district(district, **tolerances)
    if problems:
        raise BoundaryError(problems)
    return district


def bundled_district(code: str = "changshan") -> District:
    """Load a district that ships with Whistle under ``data/boundaries/``."""
    folder = DATA_DIR / code
    if not folder.is_dir():
        known = sorted(p.name for p in DATA_DIR.iterdir() if p.is_dir())
        raise BoundaryError(f"no bundled district {code!r}; known: {', '.join(known) or 'none'}")
    return load_district(folder)


def townships_geojson(district: District) -> dict[str, Any]:
    """Townships as a GeoJSON FeatureCollection with zone and cluster properties."""
    feats = []
    for t in district.townships:
        zone = district.area_of(t.code, "zone")
        cluster = district.area_of(t.code, "cluster")
        feats.append({
            "type": "Feature",
            "properties": {
                "code": t.code, "name": t.name, "kind": t.kind, "class": t.town_class,
                "zone": zone.name if zone else None,
                "zone_code": zone.code if zone else None,
                "cluster": cluster.name if cluster else None,
                "hub": district.township(cluster.hub).name if cluster and cluster.hub else None,
                "is_hub": bool(cluster and cluster.hub == t.code),
            },
            "geometry": mapping(t.geometry),
        })
    return {"type": "FeatureCollection", "features": feats}


def areas_geojson(district: District, layer: LayerName) -> dict[str, Any]:
    """A zone or cluster layer as GeoJSON: one dissolved feature per area."""
    feats = []
    for a in district.layer(layer):
        feats.append({
            "type": "Feature",
            "properties": {
                "code": a.code, "name": a.name, "layer": a.layer,
                "members": [district.township(m).name for m in a.members],
                "hub": district.township(a.hub).name if a.hub else None,
                "derived": a.derived, "note": a.note,
            },
            "geometry": mapping(district.area_geometry(a)),
        })
    return {"type": "FeatureCollection", "features": feats}
