"""Rows <-> domain objects, shared by both backends so they cannot drift apart.

Geometries travel as WKB, which stores IEEE doubles: a polygon read back is coordinate-for-
coordinate the one saved (ring order and orientation included). Row tuples list columns in
the order the backends' SQL names them (see ``*_COLUMNS``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import shapely
from shapely.geometry.base import BaseGeometry

from geo.boundaries import LAYERS, Area, District, Township, TravelEstimate

DISTRICT_COLUMNS = ("code", "name", "metric_epsg", "outline", "travel_circuity",
                    "travel_speed_kmh", "meta")
TOWNSHIP_COLUMNS = ("district_code", "code", "sort_order", "name", "kind", "town_class", "geom")
AREA_COLUMNS = ("district_code", "layer", "code", "sort_order", "name", "hub", "derived", "note")
MEMBER_COLUMNS = ("district_code", "layer", "area_code", "position", "township_code")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, safe for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def to_wkb(geom: BaseGeometry | None) -> bytes | None:
    """2D WKB; boundaries are planar, and a Z some GeoJSON exports carry (z=0) is dropped."""
    if geom is None:
        return None
    if not isinstance(geom, BaseGeometry):
        raise TypeError(f"expected a shapely geometry, got {type(geom).__name__}")
    return shapely.to_wkb(geom, output_dimension=2)


def from_wkb(blob: bytes | memoryview | None) -> BaseGeometry | None:
    return None if blob is None else shapely.from_wkb(bytes(blob))


def district_row(d: District) -> tuple[Any, ...]:
    return (d.code, d.name, int(d.metric_epsg), to_wkb(d.outline),
            float(d.travel_estimate.circuity), float(d.travel_estimate.speed_kmh),
            json.dumps(d.meta, ensure_ascii=False, allow_nan=False))


def township_rows(d: District) -> Iterator[tuple[Any, ...]]:
    for i, t in enumerate(d.townships):
        yield (d.code, t.code, i, t.name, t.kind, t.town_class, to_wkb(t.geometry))


def area_rows(d: District) -> Iterator[tuple[Any, ...]]:
    for layer in LAYERS:
        for i, a in enumerate(d.layer(layer)):
            yield (d.code, layer, a.code, i, a.name, a.hub, bool(a.derived), a.note)


def member_rows(d: District) -> Iterator[tuple[Any, ...]]:
    for layer in LAYERS:
        for a in d.layer(layer):
            for i, member in enumerate(a.members):
                yield (d.code, layer, a.code, i, member)


def build_district(
    row: Sequence[Any],
    townships: Iterable[Sequence[Any]],
    areas: Iterable[Sequence[Any]],
    members: Iterable[Sequence[Any]],
) -> District:
    """Assemble a District from rows read in ``*_COLUMNS`` order.

    ``townships`` must come sorted by sort_order, ``areas`` by (layer, sort_order) and
    ``members`` by position within their area.
    """
    code, name, epsg, outline, circuity, speed, meta = row
    by_area: dict[tuple[str, str], list[str]] = {}
    for _d, layer, area_code, _pos, township_code in members:
        by_area.setdefault((layer, area_code), []).append(township_code)
    layers: dict[str, list[Area]] = {layer: [] for layer in LAYERS}
    for _d, layer, a_code, _order, a_name, hub, derived, note in areas:
        layers[layer].append(Area(code=a_code, name=a_name, layer=layer,
                                  members=tuple(by_area.get((layer, a_code), ())),
                                  hub=hub, derived=bool(derived), note=note))
    return District(
        code=code,
        name=name,
        metric_epsg=int(epsg),
        townships=tuple(
            Township(code=t_code, name=t_name, kind=kind, town_class=town_class,
                     geometry=from_wkb(geom))
            for _d, t_code, _order, t_name, kind, town_class, geom in townships
        ),
        outline=from_wkb(outline),
        zones=tuple(layers["zone"]),
        clusters=tuple(layers["cluster"]),
        travel_estimate=TravelEstimate(circuity=float(circuity), speed_kmh=float(speed)),
        meta=json.loads(meta) if isinstance(meta, str | bytes) else meta,
    )
