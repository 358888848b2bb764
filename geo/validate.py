"""Topology and reference checks for district boundary data.

Every check measures in the district's metric CRS and reports each problem naming the
features involved and the size found, so a planning team can fix the source data. Tolerances
exist because independently digitised layers never match exactly: the bundled Changshan
townships overlap each other by at most ~1,300 m² and differ from the county outline by
under 1 % of its area; real errors (a missing township, a swapped polygon) are far larger.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import shapely
from shapely.geometry import Polygon

from geo.boundaries import District, Problem
from geo.crs import geometry_to_metric, to_wgs84

DEFAULT_OVERLAP_M2 = 10_000.0  # 1 ha between any two townships
DEFAULT_GAP_M2 = 10_000.0  # 1 ha hole inside the township tiling
DEFAULT_COVERAGE_FRACTION = 0.015  # share of the outline left uncovered, or covered outside it


def _where(geom_m, epsg: int) -> str:
    c = geom_m.representative_point()
    lon, lat = to_wgs84(np.array([c.x]), np.array([c.y]), epsg)
    return f"({lon[0]:.5f}, {lat[0]:.5f})"


def validate_district(
    district: District,
    *,
    overlap_m2: float = DEFAULT_OVERLAP_M2,
    gap_m2: float = DEFAULT_GAP_M2,
    coverage_fraction: float = DEFAULT_COVERAGE_FRACTION,
) -> list[Problem]:
    """Return every problem found; an empty list means the district is usable.

    Parameters
    ----------
    district : District
        Parsed district (see :func:`geo.boundaries.read_district`).
    overlap_m2 : float
        Largest tolerated overlap between two townships, square metres.
    gap_m2 : float
        Largest tolerated hole inside the union of townships, square metres.
    coverage_fraction : float
        Largest tolerated share of the outline area left uncovered by townships, and of
        township area lying outside the outline.
    """
    problems: list[Problem] = []
    epsg = district.metric_epsg
    codes = [t.code for t in district.townships]

    for code, n in Counter(codes).items():
        if n > 1:
            problems.append(Problem("duplicate_code", (code,),
                                    f"township code {code} used {n} times"))
    if not district.townships:
        problems.append(Problem("empty", (), "district has no townships"))
        return problems

    geoms = district.metric_townships
    for t, g in zip(district.townships, geoms, strict=True):
        if not g.is_valid:
            problems.append(Problem("invalid_geometry", (t.code,),
                                    f"township {t.code} {t.name}: invalid geometry "
                                    f"({shapely.is_valid_reason(g)})"))
        elif g.geom_type not in ("Polygon", "MultiPolygon") or g.area == 0:
            problems.append(Problem("invalid_geometry", (t.code,),
                                    f"township {t.code} {t.name}: not a polygon with area"))
    if any(p.kind == "invalid_geometry" for p in problems):
        return problems  # overlay operations below need valid polygons

    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    for i, j in zip(left, right, strict=True):
        if i >= j:
            continue
        area = geoms[i].intersection(geoms[j]).area
        if area > overlap_m2:
            a, b = district.townships[i], district.townships[j]
            problems.append(Problem(
                "overlap", (a.code, b.code),
                f"townships {a.code} {a.name} and {b.code} {b.name} overlap by {area:,.0f} m² "
                f"near {_where(geoms[i].intersection(geoms[j]), epsg)} "
                f"(tolerance {overlap_m2:,.0f} m²)", area))

    union = shapely.union_all(geoms)
    polys = union.geoms if union.geom_type == "MultiPolygon" else [union]
    for poly in polys:
        for ring in poly.interiors:
            hole = Polygon(ring)
            if hole.area > gap_m2:
                touching = tuple(district.townships[k].code
                                 for k in tree.query(hole, predicate="intersects"))
                problems.append(Problem(
                    "gap", touching,
                    f"gap of {hole.area:,.0f} m² between townships {', '.join(touching)} "
                    f"at {_where(hole, epsg)} (tolerance {gap_m2:,.0f} m²)", hole.area))

    if district.outline is not None:
        outline = geometry_to_metric(district.outline, epsg)
        if not outline.is_valid:
            reason = shapely.is_valid_reason(outline)
            problems.append(Problem("invalid_geometry", ("outline",),
                                    f"district outline invalid ({reason})"))
        else:
            uncovered = outline.difference(union).area / outline.area
            outside = union.difference(outline).area / outline.area
            if uncovered > coverage_fraction:
                problems.append(Problem(
                    "coverage", ("outline",),
                    f"townships leave {uncovered:.1%} of the district outline uncovered "
                    f"({outline.difference(union).area / 1e6:,.2f} km², tolerance "
                    f"{coverage_fraction:.1%})", uncovered))
            if outside > coverage_fraction:
                problems.append(Problem(
                    "coverage", ("outline",),
                    f"{outside:.1%} of township area lies outside the district outline "
                    f"({union.difference(outline).area / 1e6:,.2f} km², tolerance "
                    f"{coverage_fraction:.1%})", outside))

    problems.extend(_check_areas(district, set(codes)))
    return problems


def _check_areas(district: District, known: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    for layer, areas in (("zone", district.zones), ("cluster", district.clusters)):
        seen: dict[str, str] = {}
        for code, n in Counter(a.code for a in areas).items():
            if n > 1:
                problems.append(Problem("duplicate_code", (code,),
                                        f"{layer} code {code} used {n} times"))
        for a in areas:
            label = f"{layer} {a.code} {a.name}"
            for m in a.members:
                if m not in known:
                    problems.append(Problem("unknown_reference", (a.code, m),
                                            f"{label}: unknown member township {m}"))
                elif m in seen:
                    problems.append(Problem(
                        "multiple_membership", (m, seen[m], a.code),
                        f"township {m} {district.township(m).name} is in two {layer}s: "
                        f"{seen[m]} and {a.code}"))
                else:
                    seen[m] = a.code
            if a.hub is not None:
                if a.hub not in known:
                    problems.append(Problem("unknown_reference", (a.code, a.hub),
                                            f"{label}: unknown hub township {a.hub}"))
                elif a.hub not in a.members:
                    problems.append(Problem("unknown_reference", (a.code, a.hub),
                                            f"{label}: hub {a.hub} is not a member"))
        if layer == "zone" and areas:
            for code in sorted(known - set(seen)):
                name = district.township(code).name
                problems.append(Problem("unassigned", (code,),
                                        f"township {code} {name} is in no zone"))
    return problems
