"""Derive "1+X" cluster (组团) membership from adjacency and travel distance.

The Changshan reform names four hub towns whose teams radiate to "one or two neighbouring
townships" but never says which neighbour goes to which hub. Whistle derives a first
assignment that a planning team can then edit: every non-hub, non-standalone township joins
exactly one hub it shares a boundary with, each hub takes between ``min_members`` and
``max_members`` of them, and the total hub-to-member travel distance is minimal.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import shapely

from geo.boundaries import Area, BoundaryError, District

MIN_SHARED_BORDER_M = 200.0  # a shared border shorter than this is a corner touch, not adjacency


@dataclass(frozen=True)
class ClusterDerivation:
    """Result of :func:`derive_clusters`: the areas plus the figures that justified them."""

    clusters: tuple[Area, ...]
    total_distance_m: float
    distances_m: dict[tuple[str, str], float]  # (hub, member) -> straight-line metres


def adjacency(district: District, min_shared_m: float = MIN_SHARED_BORDER_M) -> dict[str, set[str]]:
    """Townships sharing at least ``min_shared_m`` metres of border, by township code."""
    geoms = district.metric_townships
    codes = [t.code for t in district.townships]
    # Digitised neighbours rarely share exact vertices: measure the border as the length of
    # one boundary lying within 25 m of the other polygon.
    tree = shapely.STRtree(geoms)
    out: dict[str, set[str]] = {c: set() for c in codes}
    for i, g in enumerate(geoms):
        near = tree.query(g.buffer(25.0), predicate="intersects")
        for j in near:
            if i == j:
                continue
            shared = g.boundary.intersection(geoms[j].buffer(25.0)).length
            if shared >= min_shared_m:
                out[codes[i]].add(codes[j])
    return out


def derive_clusters(
    district: District,
    hubs: dict[str, str],
    standalone: set[str],
    *,
    min_members: int = 1,
    max_members: int = 2,
) -> ClusterDerivation:
    """Assign each remaining township to one adjacent hub, minimising total distance.

    Parameters
    ----------
    district : District
        Townships to group.
    hubs : dict
        Hub township code -> cluster name (e.g. ``{"CS04": "辉埠组团"}``).
    standalone : set of str
        Township codes that stay on their own (Changshan's three streets).
    min_members, max_members : int
        How many townships besides the hub each cluster may radiate to.

    Distances are between township centroids in the metric CRS; with no road network for the
    district this is the only travel measure available, and it ranks neighbours the same way
    the straight-line travel estimate does.
    """
    adj = adjacency(district)
    codes = [t.code for t in district.townships]
    unknown = (set(hubs) | standalone) - set(codes)
    if unknown:
        raise BoundaryError(f"unknown hub/standalone township(s): {', '.join(sorted(unknown))}")
    members = [c for c in codes if c not in hubs and c not in standalone]
    centroid = {t.code: g.centroid for t, g in zip(district.townships, district.metric_townships,
                                                  strict=True)}
    dist = {(h, m): float(centroid[h].distance(centroid[m])) for h in hubs for m in members}
    options = []
    for m in members:
        near_hubs = sorted(h for h in hubs if h in adj[m])
        if not near_hubs:
            raise BoundaryError(f"township {m} {district.township(m).name} borders no hub town")
        options.append(near_hubs)

    best: tuple[float, tuple[str, ...]] | None = None
    for choice in itertools.product(*options):
        counts = {h: choice.count(h) for h in hubs}
        if any(not (min_members <= n <= max_members) for n in counts.values()):
            continue
        total = float(np.sum([dist[(h, m)] for h, m in zip(choice, members, strict=True)]))
        if best is None or total < best[0] - 1e-6:
            best = (total, choice)
    if best is None:
        raise BoundaryError(
            f"no assignment gives every hub {min_members}–{max_members} adjacent townships")

    total, choice = best
    clusters = []
    for h, name in hubs.items():
        mine = tuple(m for m, c in zip(members, choice, strict=True) if c == h)
        note = ("derived: members adjacent to the hub, total hub-to-member centroid distance "
                f"minimised ({', '.join(f'{m} {dist[(h, m)] / 1000:.1f} km' for m in mine)})")
        clusters.append(Area(code=f"cluster-{h}", name=name, layer="cluster", members=(h, *mine),
                             hub=h, derived=True, note=note))
    return ClusterDerivation(tuple(clusters), total, dist)
