"""Typical driving speeds by OSM highway class for Chinese urban and rural roads.

A speed here is the average a vehicle keeps on that class of road, junction delays included,
not the posted limit: a limit is an upper bound that enforcement vans rarely hold on a county
road through villages or on a signalised city artery. Two tables, because the same OSM class
means different roads in a town centre and in the countryside.

Rural (公路, by administrative class): ``motorway`` 100 (expressways 高速公路, limit 120, less
for entries and trucks); ``trunk`` 80 (national roads 国道, limit 80–100, slowed by villages);
``primary`` 60 (provincial roads 省道); ``secondary`` 50 (county roads 县道); ``tertiary`` 40
(township roads 乡道); ``unclassified`` 30 (village roads 村道, often one lane); ``residential``
25; ``service``/``track`` 15 (yard, factory and farm access); ``living_street`` 10; a ``*_link``
ramp about half to two thirds of its road.

Urban (城市道路): design speeds in CJJ 37-2012 are 60–100 km/h for expressways (快速路), 40–60
for arterials (主干路), 30–50 for collectors (次干路), 20–40 for local streets (支路); the averages
below sit at or under the low end because of signals and mixed traffic: ``motorway`` 70,
``trunk`` 50, ``primary`` 40, ``secondary`` 35, ``tertiary`` 30, ``unclassified`` 25,
``residential`` 20, ``service`` 12, ``track`` 12, ``living_street`` 10.

A tagged ``maxspeed`` lower than the table value caps the speed (a school zone, a village
through-road); a higher one is ignored, because the table already says how fast traffic
really goes. Classes missing from both tables get :data:`FALLBACK_KMH`.
"""

from __future__ import annotations

from typing import Literal

import networkx as nx
import numpy as np
import osmnx as ox
import shapely
from shapely.geometry.base import BaseGeometry

from geo.boundaries import District

Setting = Literal["urban", "rural"]

RURAL_KMH: dict[str, float] = {
    "motorway": 100.0, "motorway_link": 60.0,
    "trunk": 80.0, "trunk_link": 50.0,
    "primary": 60.0, "primary_link": 40.0,
    "secondary": 50.0, "secondary_link": 30.0,
    "tertiary": 40.0, "tertiary_link": 25.0,
    "unclassified": 30.0, "road": 30.0,
    "residential": 25.0,
    "service": 15.0, "track": 15.0,
    "living_street": 10.0,
}

URBAN_KMH: dict[str, float] = {
    "motorway": 70.0, "motorway_link": 40.0,
    "trunk": 50.0, "trunk_link": 30.0,
    "primary": 40.0, "primary_link": 25.0,
    "secondary": 35.0, "secondary_link": 20.0,
    "tertiary": 30.0, "tertiary_link": 20.0,
    "unclassified": 25.0, "road": 25.0,
    "residential": 20.0,
    "service": 12.0, "track": 12.0,
    "living_street": 10.0,
}

FALLBACK_KMH = 20.0

SPEEDS: dict[Setting, dict[str, float]] = {"urban": URBAN_KMH, "rural": RURAL_KMH}


def class_speed(highway: str, setting: Setting) -> float:
    """Typical speed (km/h) of an OSM ``highway`` class in an urban or rural setting."""
    return SPEEDS[setting].get(highway, FALLBACK_KMH)


def first_class(highway: object) -> str:
    """The highway class of an edge; osmnx keeps a list when it merged ways of several classes.

    The first entry is used, as osmnx itself does when it imputes speeds.
    """
    if isinstance(highway, list):
        return str(highway[0]) if highway else ""
    return "" if highway is None else str(highway)


def add_speeds(G: nx.MultiDiGraph, urban_area: BaseGeometry | None = None) -> nx.MultiDiGraph:
    """Set ``speed_kph`` and ``travel_time`` (seconds) on every edge of an osmnx graph.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Unprojected osmnx graph (node ``x``/``y`` in WGS84 degrees, edge ``length`` in metres).
    urban_area : shapely geometry, optional
        WGS84 area where the urban table applies, e.g. the district's streets (街道); an edge
        counts as urban when the midpoint of its end nodes lies inside. Without it every edge
        is rural.

    Returns
    -------
    networkx.MultiDiGraph
        The same graph, modified in place.
    """
    if G.number_of_edges() == 0:
        return G
    classes = {first_class(d.get("highway")) for _, _, d in G.edges(data=True)}
    # osmnx parses maxspeed ("50", "30 mph", "60|40", "RU:urban", ...); classes without a
    # tagged limit get +inf here, so only real limits can cap the table speed below.
    ox.add_edge_speeds(G, hwy_speeds=dict.fromkeys(classes, np.inf), fallback=np.inf)

    edges = list(G.edges(keys=True, data=True))
    if urban_area is not None and not urban_area.is_empty:
        xs = np.array([(G.nodes[u]["x"] + G.nodes[v]["x"]) / 2 for u, v, _, _ in edges])
        ys = np.array([(G.nodes[u]["y"] + G.nodes[v]["y"]) / 2 for u, v, _, _ in edges])
        urban = shapely.contains_xy(urban_area, xs, ys)
    else:
        urban = np.zeros(len(edges), dtype=bool)
    for (_, _, _, data), is_urban in zip(edges, urban, strict=True):
        table = class_speed(first_class(data.get("highway")), "urban" if is_urban else "rural")
        posted = float(data["speed_kph"])
        data["speed_kph"] = min(table, posted) if np.isfinite(posted) and posted > 0 else table
        data["speed_setting"] = "urban" if is_urban else "rural"
    return ox.add_edge_travel_times(G)


def district_urban_area(district: District) -> BaseGeometry | None:
    """The district's streets (街道), where urban speeds apply; None if it has none.

    Streets are the urban subdistricts of a county seat; towns (镇) and rural townships (乡)
    keep rural speeds even through their centres, which are short.
    """
    streets = [t.geometry for t in district.townships if t.kind == "街道"]
    return shapely.union_all(streets) if streets else None
