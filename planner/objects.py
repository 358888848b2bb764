"""Inspection objects (检查对象): the businesses and sites that patrols visit.

An object has an id, a name, an object type (which decides the patrol items that apply), a
township, a WGS84 position inside that township, a risk grade and opening hours. Objects are
kept in a CSV file (one row per object, ``#`` lines are comments) and loaded into an
:class:`ObjectSet` whose numpy columns feed the planner.

No open register of Changshan's businesses exists offline, so :func:`generate_objects` makes
a **synthetic** set from a seed: counts per township weighted towards the three streets
(天马、紫港、金川), positions clustered around a few centres per township (the county town
where the three streets meet, a township seat, villages and an industrial cluster, all placed
by the generator), and every point checked with :class:`geo.locate.Locator` to lie inside the
township it is written under. The same seed gives the same CSV bytes.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.boundaries import Area, District
from geo.crs import to_wgs84
from geo.locate import Locator
from planner.items import (
    DATA_DIR,
    DataProblem,
    ItemList,
    PatrolItem,
    PlannerDataError,
    Problems,
    due_offset,
    format_clock,
    parse_window,
    required_visits_array,
)

CSV_COLUMNS = ("id", "name", "object_type", "township", "lon", "lat", "risk_grade", "open",
               "close")
DEFAULT_SEED = 20250101
DEFAULT_COUNT = 3000


def bundled_objects_path(name: str = "changshan_objects_sample") -> Path:
    """Path of an object set that ships with Whistle under ``data/planner/``."""
    path = DATA_DIR / f"{name}.csv"
    if not path.is_file():
        known = sorted(p.stem for p in DATA_DIR.glob("*.csv")) if DATA_DIR.is_dir() else []
        raise PlannerDataError(
            f"no bundled object set {name!r}; known: {', '.join(known) or 'none'}")
    return path


@dataclass(frozen=True)
class InspectionObject:
    """One business or site that patrols inspect.

    ``lon``/``lat`` are WGS84 degrees; ``open_min``/``close_min`` are minutes after midnight
    (``close_min`` exceeds 1440 when the object closes after midnight).
    """

    id: str
    name: str
    object_type: str
    township: str
    lon: float
    lat: float
    risk_grade: str
    open_min: int
    close_min: int

    @property
    def opening(self) -> str:
        return f"{format_clock(self.open_min)}-{format_clock(self.close_min)}"

    def csv_row(self) -> list[str]:
        return [self.id, self.name, self.object_type, self.township, f"{self.lon:.6f}",
                f"{self.lat:.6f}", self.risk_grade, format_clock(self.open_min),
                format_clock(self.close_min)]


@dataclass(frozen=True)
class ObjectSet:
    """Validated inspection objects, with column arrays for vectorised planning work."""

    objects: tuple[InspectionObject, ...]
    note: str = ""

    def __len__(self) -> int:
        return len(self.objects)

    @cached_property
    def by_id(self) -> dict[str, InspectionObject]:
        return {o.id: o for o in self.objects}

    @cached_property
    def ids(self) -> np.ndarray:
        return np.array([o.id for o in self.objects], dtype=object)

    @cached_property
    def lon(self) -> np.ndarray:
        return np.array([o.lon for o in self.objects], dtype=float)

    @cached_property
    def lat(self) -> np.ndarray:
        return np.array([o.lat for o in self.objects], dtype=float)

    @cached_property
    def township(self) -> np.ndarray:
        return np.array([o.township for o in self.objects], dtype=object)

    @cached_property
    def object_type(self) -> np.ndarray:
        return np.array([o.object_type for o in self.objects], dtype=object)

    @cached_property
    def risk_grade(self) -> np.ndarray:
        return np.array([o.risk_grade for o in self.objects], dtype=object)

    @cached_property
    def open_min(self) -> np.ndarray:
        return np.array([o.open_min for o in self.objects], dtype=np.int32)

    @cached_property
    def close_min(self) -> np.ndarray:
        return np.array([o.close_min for o in self.objects], dtype=np.int32)

    @cached_property
    def due_offsets(self) -> np.ndarray:
        """Due-month offset per object (see :func:`planner.items.due_offset`)."""
        return np.array([due_offset(o.id) for o in self.objects], dtype=np.int64)

    def in_townships(self, codes: Iterable[str]) -> np.ndarray:
        """Indices of the objects in any of the townships, in set order."""
        return np.flatnonzero(np.isin(self.township, list(codes)))

    def counts(self, column: str) -> dict[str, int]:
        """Objects per value of ``township``, ``object_type`` or ``risk_grade``, sorted."""
        values = getattr(self, column)
        return dict(sorted(Counter(values.tolist()).items()))

    def csv_text(self) -> str:
        """The set as CSV text: ``#`` note lines, a header and one row per object."""
        buf = io.StringIO()
        for line in self.note.splitlines():
            buf.write(f"# {line}\n" if line else "#\n")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for o in self.objects:
            w.writerow(o.csv_row())
        return buf.getvalue()

    def write_csv(self, path: Path | str) -> None:
        """Write :meth:`csv_text` to ``path`` (UTF-8, ``\\n`` line ends, via a temporary file).

        The text goes to a sibling temporary file first and replaces ``path`` only when
        complete, so an interrupted write never leaves half a file.
        """
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(self.csv_text().encode("utf-8"))
        tmp.replace(path)


# -- loading ------------------------------------------------------------------------------------


def load_objects(
    path: Path | str | None,
    items: ItemList,
    district: District,
    locator: Locator | None = None,
) -> ObjectSet:
    """Read and validate an object CSV (default: the bundled Changshan sample).

    Every row is checked: unique id, known object type and risk grade (from ``items``), a
    township code of ``district``, finite coordinates inside that township (checked with the
    locator), and opening hours ``HH:MM`` that do not start and end at the same time. All
    problems are reported together, each naming the row, the id and the field.
    """
    path = Path(path) if path is not None else bundled_objects_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PlannerDataError(f"{path}: no such object file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise PlannerDataError(f"{path.name}: cannot read ({exc})") from exc
    return parse_objects(text, items, district, locator)


def parse_objects(
    text: str, items: ItemList, district: District, locator: Locator | None = None
) -> ObjectSet:
    """Validate object CSV text; see :func:`load_objects`."""
    lines = text.splitlines()
    note_lines = []
    first = 0
    while first < len(lines) and (lines[first].startswith("#") or not lines[first].strip()):
        note_lines.append(lines[first].lstrip("#").strip())
        first += 1
    out = Problems()
    reader = csv.reader(lines[first:])
    header = next(reader, None)
    if header is None:
        raise PlannerDataError("objects: no header row")
    header = [h.strip() for h in header]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise PlannerDataError([DataProblem("header", c, "missing column") for c in missing])
    col = {c: header.index(c) for c in CSV_COLUMNS}
    towns = {t.code for t in district.townships}

    objects: list[InspectionObject] = []
    rows: list[str] = []  # record name per object, for coordinate problems found later
    seen: set[str] = set()
    for line_no, raw in enumerate(reader, start=first + 2):
        if not raw or (len(raw) == 1 and not raw[0].strip()):
            continue
        if len(raw) != len(header):
            out.add(f"line {line_no}", "", f"{len(raw)} values for {len(header)} columns")
            continue
        v = {c: raw[i].strip() for c, i in col.items()}
        rid = f"line {line_no} ({v['id'] or 'no id'})"
        before = len(out)
        if not v["id"]:
            out.add(rid, "id", "missing")
        elif v["id"] in seen:
            out.add(rid, "id", f"duplicate id {v['id']!r}")
        seen.add(v["id"])
        if not v["name"]:
            out.add(rid, "name", "missing")
        if v["object_type"] not in items.types:
            out.add(rid, "object_type", f"{v['object_type']!r} is not an object type of the "
                                        f"item list ({', '.join(items.types)})")
        if v["township"] not in towns:
            out.add(rid, "township", f"{v['township']!r} is not a township code of "
                                     f"{district.name} ({', '.join(sorted(towns))})")
        if v["risk_grade"] not in items.grades:
            out.add(rid, "risk_grade", f"{v['risk_grade']!r} is not one of "
                                       f"{'/'.join(items.grades)}")
        coords = []
        for name, bound in (("lon", 180.0), ("lat", 90.0)):
            try:
                x = float(v[name])
                if not math.isfinite(x) or abs(x) > bound:
                    raise ValueError
                coords.append(x)
            except ValueError:
                out.add(rid, name, f"{v[name]!r} is not a WGS84 {name} in degrees")
        try:
            hours = parse_window(f"{v['open']}-{v['close']}")
        except ValueError as exc:
            out.add(rid, "open/close", f"bad opening hours: {exc}")
            hours = (0, 0)
        if len(out) > before:
            continue
        objects.append(InspectionObject(v["id"], v["name"], v["object_type"], v["township"],
                                        coords[0], coords[1], v["risk_grade"], *hours))
        rows.append(rid)

    if objects:
        locator = locator or Locator(district)
        lon = np.array([o.lon for o in objects])
        lat = np.array([o.lat for o in objects])
        found = locator.township_index(lon, lat)
        for k in np.flatnonzero(found < 0):
            o = objects[k]
            out.add(rows[k], "lon/lat", f"({o.lon}, {o.lat}) is outside {district.name}")
        for k in np.flatnonzero(found >= 0):
            o, t = objects[k], district.townships[found[k]]
            if t.code != o.township:
                out.add(rows[k], "lon/lat", f"({o.lon}, {o.lat}) lies in {t.name} ({t.code}), "
                                            f"not in township {o.township}")
    out.raise_if_any()
    return ObjectSet(tuple(objects), note="\n".join(note_lines).strip())


# -- demand over a horizon ----------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """An item an object needs in a horizon, and how many visits of it."""

    item: PatrolItem
    visits: int


@dataclass(frozen=True)
class Demand:
    """Objects of an area and what each needs over ``[start, end)``, as plain arrays.

    Requirements are stored in CSR form: object ``i`` needs ``req_visits[j]`` visits of item
    ``items[req_item[j]]`` for ``j`` in ``range(req_ptr[i], req_ptr[i + 1])``, items in list
    order. ``object_index`` maps back into the full :class:`ObjectSet`.
    """

    area: Area | None
    start: date
    end: date
    items: tuple[PatrolItem, ...]
    visit_setup_min: int
    objects: tuple[InspectionObject, ...]
    object_index: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    open_min: np.ndarray
    close_min: np.ndarray
    req_ptr: np.ndarray
    req_item: np.ndarray
    req_visits: np.ndarray

    def __len__(self) -> int:
        return len(self.objects)

    def requirements(self, i: int) -> list[Requirement]:
        """What object ``i`` (position in this demand) needs, in item-list order."""
        a, b = int(self.req_ptr[i]), int(self.req_ptr[i + 1])
        return [Requirement(self.items[int(k)], int(v))
                for k, v in zip(self.req_item[a:b], self.req_visits[a:b], strict=True)]

    @cached_property
    def req_object(self) -> np.ndarray:
        """Object position of each requirement (the CSR rows expanded)."""
        return np.repeat(np.arange(len(self.objects)), np.diff(self.req_ptr))

    def summary(self) -> dict[str, Any]:
        """Totals that size a calendar: visits, minutes on site, and per field/department.

        ``min_visits`` is a lower bound on distinct visits: per object, the largest visit count
        among its combinable items plus every non-combinable visit. ``on_site_min_combined``
        is the time on site if combinable checks share those visits (setup once per visit);
        ``on_site_min_separate`` is the time if every item visit were made alone.
        """
        dur = np.array([i.duration_min for i in self.items], dtype=np.int64)
        comb = np.array([i.combinable for i in self.items], dtype=bool)
        setup = self.visit_setup_min
        k, v, obj = self.req_item, self.req_visits, self.req_object
        n = len(self.objects)
        combined_max = np.zeros(n, dtype=np.int64)
        if v.size:
            np.maximum.at(combined_max, obj[comb[k]], v[comb[k]])
        solo = comb[k] == 0
        min_visits = int(combined_max.sum() + v[solo].sum())
        separate = int((v * dur[k]).sum())
        combined = int(combined_max.sum() * setup + (v[~solo] * (dur[k][~solo] - setup)).sum()
                       + (v[solo] * dur[k][solo]).sum())
        per_field: Counter[str] = Counter()
        per_dep: Counter[str] = Counter()
        for kk, vv in zip(k.tolist(), v.tolist(), strict=True):
            per_field[self.items[kk].field] += vv
            per_dep[self.items[kk].department] += vv
        return {
            "area": self.area.name if self.area else None,
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "objects": n,
            "objects_with_visits": int((np.diff(self.req_ptr) > 0).sum()),
            "item_visits": int(v.sum()),
            "non_combinable_visits": int(v[solo].sum()),
            "min_visits": min_visits,
            "on_site_min_separate": separate,
            "on_site_min_combined": combined,
            "item_visits_by_field": dict(sorted(per_field.items())),
            "item_visits_by_department": dict(sorted(per_dep.items())),
        }


def find_zone(district: District, key: str, layer: str = "zone") -> Area:
    """A zone (or cluster, with ``layer="cluster"``) by code or name."""
    areas = district.layer(layer)
    for a in areas:
        if key in (a.code, a.name):
            return a
    known = ", ".join(f"{a.code} ({a.name})" for a in areas)
    raise PlannerDataError(f"{layer}: no {layer} {key!r} in {district.name}; known: {known}")


def demand(
    objects: ObjectSet,
    items: ItemList,
    index: np.ndarray | Sequence[int],
    start: date,
    end: date,
    area: Area | None = None,
) -> Demand:
    """What the objects at ``index`` need over ``[start, end)``; see :class:`Demand`."""
    idx = np.asarray(index, dtype=np.int64)
    types = objects.object_type[idx]
    grades = objects.risk_grade[idx]
    offsets = objects.due_offsets[idx]
    pos, item_k, num, den = [], [], [], []
    for k, item in enumerate(items.items):
        sel = np.flatnonzero(np.isin(types, item.object_types))
        if sel.size == 0:
            continue
        rn = np.empty(sel.size, dtype=np.int64)
        rd = np.empty(sel.size, dtype=np.int64)
        g = grades[sel]
        for grade, rate in item.rates.items():
            hit = g == grade
            rn[hit], rd[hit] = rate.numerator, rate.denominator
        pos.append(sel)
        item_k.append(np.full(sel.size, k, dtype=np.int64))
        num.append(rn)
        den.append(rd)
    if pos:
        p, k_all = np.concatenate(pos), np.concatenate(item_k)
        visits = required_visits_array(np.concatenate(num), np.concatenate(den), offsets[p],
                                       start, end)
        keep = visits > 0
        p, k_all, visits = p[keep], k_all[keep], visits[keep]
        order = np.lexsort((k_all, p))
        p, k_all, visits = p[order], k_all[order], visits[order]
    else:
        if end < start:
            raise ValueError(f"horizon: end {end} is before start {start}")
        p = k_all = visits = np.empty(0, dtype=np.int64)
    ptr = np.zeros(idx.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(p, minlength=idx.size), out=ptr[1:])
    return Demand(
        area=area, start=start, end=end, items=items.items,
        visit_setup_min=items.visit_setup_min,
        objects=tuple(objects.objects[i] for i in idx.tolist()), object_index=idx,
        lon=objects.lon[idx], lat=objects.lat[idx], open_min=objects.open_min[idx],
        close_min=objects.close_min[idx], req_ptr=ptr, req_item=k_all.astype(np.int32),
        req_visits=visits.astype(np.int32))


def zone_demand(
    objects: ObjectSet,
    items: ItemList,
    district: District,
    zone: Area | str,
    start: date,
    end: date,
) -> Demand:
    """The objects of a zone (片区; an :class:`Area` or its code/name) and their needs.

    This is the planner's entry point: a quarter for a zone is
    ``zone_demand(objs, items, district, "天马片区", date(2025, 1, 1), date(2025, 4, 1))``.
    """
    area = zone if isinstance(zone, Area) else find_zone(district, zone)
    return demand(objects, items, objects.in_townships(area.members), start, end, area)


# -- synthetic generator ------------------------------------------------------------------------

# Share of objects per township (percent) for Changshan: the three streets hold half, 天马 (the
# old county town) most of it, so 天马片区 reaches ~1,000 objects at the default 3,000.
CHANGSHAN_WEIGHTS: dict[str, float] = {
    "CS01": 33.4, "CS02": 9.0, "CS03": 7.6,
    "CS04": 7.0, "CS05": 6.0, "CS06": 5.0, "CS07": 5.5,
    "CS08": 4.5, "CS09": 4.5, "CS10": 3.5, "CS11": 3.5, "CS12": 3.5, "CS13": 3.0, "CS14": 4.0,
}
# Other districts: weight per town class.
CLASS_WEIGHTS: dict[str, float] = {"urban_street": 3.0, "hub_town": 1.5}

# Object-type mix per town class (relative weights).
TYPE_MIX: dict[str, dict[str, float]] = {
    "urban_street": {
        "restaurant": 22, "food_store": 12, "retail_shop": 16, "farm_market": 0.6,
        "guesthouse": 4, "entertainment": 3, "training_center": 4, "hazchem_shop": 1.2,
        "factory": 6, "timber_mill": 0.3, "mine_quarry": 0, "construction_site": 5,
        "rural_housing": 2, "livestock_farm": 0.3, "agri_input_shop": 1, "auto_repair": 5,
        "recycling_station": 1.5, "residential_estate": 7},
    "hub_town": {
        "restaurant": 15, "food_store": 10, "retail_shop": 12, "farm_market": 0.8,
        "guesthouse": 5, "entertainment": 1.5, "training_center": 1.5, "hazchem_shop": 2,
        "factory": 12, "timber_mill": 2, "mine_quarry": 2, "construction_site": 4,
        "rural_housing": 8, "livestock_farm": 5, "agri_input_shop": 4, "auto_repair": 4,
        "recycling_station": 2, "residential_estate": 1.5},
    "rural_township": {
        "restaurant": 12, "food_store": 9, "retail_shop": 10, "farm_market": 0.5,
        "guesthouse": 7, "entertainment": 0.5, "training_center": 0.5, "hazchem_shop": 1.5,
        "factory": 6, "timber_mill": 3, "mine_quarry": 1.5, "construction_site": 2,
        "rural_housing": 14, "livestock_farm": 9, "agri_input_shop": 4, "auto_repair": 2,
        "recycling_station": 1.5, "residential_estate": 0.3},
}
# 辉埠 is the limestone and calcium-products town: more factories and quarries.
TYPE_MIX_OVERRIDES: dict[str, dict[str, float]] = {
    "CS04": {"factory": 20, "mine_quarry": 5},
    "CS02": {"factory": 10},
}

# Risk grade shares A/B/C/D per type (default for types not listed).
RISK_MIX: dict[str, tuple[float, float, float, float]] = {
    "default": (0.35, 0.40, 0.20, 0.05),
    "restaurant": (0.25, 0.40, 0.25, 0.10),
    "food_store": (0.35, 0.40, 0.20, 0.05),
    "retail_shop": (0.45, 0.40, 0.13, 0.02),
    "guesthouse": (0.25, 0.45, 0.25, 0.05),
    "entertainment": (0.10, 0.40, 0.35, 0.15),
    "hazchem_shop": (0.00, 0.20, 0.50, 0.30),
    "factory": (0.15, 0.40, 0.35, 0.10),
    "timber_mill": (0.10, 0.40, 0.35, 0.15),
    "mine_quarry": (0.00, 0.15, 0.50, 0.35),
    "construction_site": (0.05, 0.35, 0.45, 0.15),
    "residential_estate": (0.30, 0.45, 0.20, 0.05),
}

# Opening hours per type: (open, close, weight); the first entry is the typical one.
HOURS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "restaurant": (("10:00", "21:00", 5), ("10:30", "22:00", 2), ("09:30", "21:30", 2),
                   ("06:30", "19:00", 1)),
    "food_store": (("07:30", "22:00", 4), ("08:00", "21:00", 3), ("07:00", "23:00", 1)),
    "retail_shop": (("08:30", "21:00", 4), ("09:00", "20:00", 3), ("08:00", "18:00", 2)),
    "farm_market": (("06:00", "18:00", 1),),
    "guesthouse": (("08:00", "22:00", 3), ("07:00", "23:00", 1)),
    "entertainment": (("13:00", "24:00", 2), ("18:00", "02:00", 2), ("10:00", "24:00", 1)),
    "training_center": (("13:30", "20:30", 3), ("08:30", "20:30", 2)),
    "hazchem_shop": (("08:00", "18:00", 3), ("07:00", "21:00", 1)),
    "factory": (("08:00", "17:30", 4), ("07:30", "17:00", 2), ("08:00", "20:00", 1)),
    "timber_mill": (("07:30", "17:30", 1),),
    "mine_quarry": (("07:00", "17:00", 1),),
    "construction_site": (("07:00", "18:00", 1),),
    "rural_housing": (("07:00", "18:00", 1),),
    "livestock_farm": (("07:00", "17:30", 1),),
    "agri_input_shop": (("07:30", "18:00", 2), ("07:00", "19:00", 1)),
    "auto_repair": (("08:00", "18:30", 3), ("08:30", "19:00", 1)),
    "recycling_station": (("08:00", "17:30", 1),),
    "residential_estate": (("08:00", "20:00", 1),),
}

# Where a type sits: shares around the township seat, villages, the industrial cluster, and
# scattered uniformly over the township.
PLACEMENT: dict[str, tuple[float, float, float, float]] = {
    "restaurant": (0.60, 0.30, 0.05, 0.05),
    "food_store": (0.55, 0.35, 0.05, 0.05),
    "retail_shop": (0.60, 0.30, 0.05, 0.05),
    "farm_market": (1.00, 0.00, 0.00, 0.00),
    "guesthouse": (0.30, 0.45, 0.00, 0.25),
    "entertainment": (0.85, 0.15, 0.00, 0.00),
    "training_center": (0.80, 0.20, 0.00, 0.00),
    "hazchem_shop": (0.20, 0.20, 0.30, 0.30),
    "factory": (0.05, 0.10, 0.65, 0.20),
    "timber_mill": (0.00, 0.30, 0.30, 0.40),
    "mine_quarry": (0.00, 0.00, 0.00, 1.00),
    "construction_site": (0.45, 0.15, 0.20, 0.20),
    "rural_housing": (0.10, 0.60, 0.00, 0.30),
    "livestock_farm": (0.00, 0.25, 0.00, 0.75),
    "agri_input_shop": (0.50, 0.50, 0.00, 0.00),
    "auto_repair": (0.40, 0.20, 0.30, 0.10),
    "recycling_station": (0.20, 0.20, 0.40, 0.20),
    "residential_estate": (0.85, 0.15, 0.00, 0.00),
}
VILLAGES_PER_CLASS = {"urban_street": 3, "hub_town": 4}
VILLAGES_DEFAULT = 3
SIGMA_M = {"seat_street": 900.0, "seat_town": 450.0, "village": 250.0, "industrial": 500.0}
COUNTY_TOWN_RADIUS_M = 2500.0  # street seats: part of each street within this of the junction
INSET_M = 400.0  # village and industrial centres stay this far inside the boundary
MAX_ROUNDS = 40  # redraws of a clustered point before it is scattered uniformly instead

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙朱胡郑汪方余毛叶邵姜程江潘童严傅"
_WORDS = ("宏达", "华盛", "金石", "恒丰", "鑫源", "天成", "永兴", "瑞丰", "东方", "明珠", "新兴",
          "越华", "顺发", "兴旺", "华夏", "百合", "友邦", "信诚", "佳美", "利民", "裕丰", "富春",
          "龙腾", "惠民", "众诚", "锦程", "汇丰", "嘉禾", "万和", "同心", "聚福", "长虹", "青山",
          "绿源", "和美", "欣悦", "阳光", "常青", "金桥", "凯达", "正泰", "德兴", "丰源", "新城",
          "安达", "诚信", "立信", "红星", "星光", "福满", "一品", "家和", "润泽", "盛世", "博远")
_VILLAGES = ("东山", "西坞", "南塘", "北溪", "上源", "下畈", "前村", "后垄", "新塘", "大坂",
             "小溪", "石门", "桥头", "塘湾", "岭下", "山口", "洪家", "徐家", "汪家", "毛家",
             "方家", "余家", "郑家", "叶家", "童家", "黄泥", "樟树", "枫林", "竹园", "梅村")
_NAMES: dict[str, tuple[str, ...]] = {
    "restaurant": ("{s}记面馆", "{s}记贡面馆", "{p}土菜馆", "{w}小吃店", "{w}饭店", "{p}快餐店",
                   "{s}记馄饨店", "{w}米粉店", "{w}烧烤店", "{p}鱼头馆", "{v}农家菜馆", "{w}火锅店",
                   "{s}家早餐店", "{w}大排档", "{w}酒家", "{w}食府", "{p}{w}餐厅"),
    "food_store": ("{w}超市", "{p}{w}便利店", "{s}家便利店", "{w}生鲜超市", "{p}食品商行",
                   "{v}{w}小超市"),
    "retail_shop": ("{w}五金店", "{w}百货店", "{w}服装店", "{w}文具店", "{s}氏日杂店",
                    "{w}电器商行", "{w}手机店", "{w}烟酒店", "{w}母婴店", "{w}鞋店",
                    "{p}{w}建材店", "{v}{s}记小卖部"),
    "farm_market": ("{p}农贸市场", "{p}{w}农贸市场"),
    "guesthouse": ("{v}{w}民宿", "{w}宾馆", "{w}酒店", "{v}人家农家乐", "{w}山居民宿",
                   "{p}{w}旅馆"),
    "entertainment": ("{w}KTV", "{w}网吧", "{w}量贩KTV", "{w}网咖", "{p}{w}歌厅"),
    "training_center": ("{w}教育培训学校", "{w}艺术培训中心", "{w}书画培训班", "{w}托管中心",
                        "{w}英语培训学校"),
    "hazchem_shop": ("{p}{w}加油站", "{w}液化气供应站", "{w}油漆化工店", "{p}化工商行"),
    "factory": ("常山{w}钙业有限公司", "常山{w}轴承有限公司", "常山{w}机械有限公司",
                "常山{w}纺织有限公司", "常山{w}建材有限公司", "常山{w}新材料有限公司",
                "常山{w}食品有限公司", "常山{w}塑业有限公司", "常山{w}包装有限公司",
                "常山{w}电器有限公司", "常山{w}油茶有限公司", "常山{w}胡柚食品有限公司",
                "常山{w}五金制品厂", "常山{w}门业有限公司"),
    "timber_mill": ("{v}{s}氏木材加工厂", "常山{w}木业有限公司", "{p}{w}木材加工点"),
    "mine_quarry": ("常山{p}{w}石料厂", "常山{w}矿业有限公司{v}采石场", "{p}{v}石灰石矿"),
    "construction_site": ("{w}花园项目工地", "{w}府住宅项目", "{p}安置房工程", "{w}厂房新建工程",
                          "{p}学校改扩建工程", "{p}{v}道路改造工程", "{w}综合楼工程"),
    "rural_housing": ("{v}村{s}某某建房点",),
    "livestock_farm": ("{v}{w}养殖场", "{v}{s}氏生猪养殖场", "{w}家禽养殖场", "{v}{w}牧业"),
    "agri_input_shop": ("{p}农资店", "{w}农资经营部", "{v}{s}记农药化肥店"),
    "auto_repair": ("{w}汽修厂", "{p}{s}记汽车修理店", "{w}洗车行", "{w}汽车服务中心"),
    "recycling_station": ("{p}再生资源回收站", "{w}废品回收站", "{v}{s}记回收站"),
    "residential_estate": ("{w}花园", "{w}小区", "{w}苑", "{w}公寓", "{p}新村", "{w}家园",
                           "{w}华庭", "{w}名苑"),
}
_COPY = "二三四五六七八九"


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Integer counts summing to ``total`` in proportion to ``weights`` (largest remainder)."""
    w = np.asarray(weights, dtype=float)
    exact = total * w / w.sum()
    base = np.floor(exact).astype(int)
    rest = total - int(base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:rest]] += 1
    return base.tolist()


def _uniform_in(poly: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniformly inside a (metric) polygon, by rejection in its bbox."""
    x0, y0, x1, y1 = poly.bounds
    shapely.prepare(poly)
    pts = np.empty((0, 2))
    while len(pts) < n:
        cand = rng.uniform((x0, y0), (x1, y1), size=(max(4 * (n - len(pts)), 16), 2))
        pts = np.vstack([pts, cand[shapely.contains_xy(poly, cand[:, 0], cand[:, 1])]])
    return pts[:n]


@dataclass(frozen=True)
class _Centres:
    """Metric centres of one township: seat, villages, industrial cluster; sigma of the seat."""

    seat: np.ndarray
    villages: np.ndarray
    industrial: np.ndarray
    seat_sigma: float


def _centres(district: District, rng: np.random.Generator) -> list[_Centres]:
    """Synthetic centres per township (metric CRS of the district).

    The county town is put where the urban streets meet (their polygons, buffered 500 m,
    intersect there); each street's seat is the part of the street within 2.5 km of that
    junction. Other townships' seats are their polygon centroids (or a point on the surface
    when the centroid falls outside); villages and the industrial cluster are seeded random
    points at least 400 m inside the boundary.
    """
    metric = district.metric_townships
    streets = [k for k, t in enumerate(district.townships) if t.town_class == "urban_street"]
    junction = None
    if len(streets) >= 2:
        meet = shapely.intersection_all([metric[k].buffer(500.0) for k in streets])
        if not meet.is_empty:
            junction = meet.centroid
    out = []
    for k, t in enumerate(district.townships):
        poly = metric[k]
        seat_geom = None
        if junction is not None and k in streets:
            near = poly.intersection(junction.buffer(COUNTY_TOWN_RADIUS_M))
            if not near.is_empty:
                c = near.centroid
                seat_geom = c if poly.contains(c) else near.representative_point()
        if seat_geom is None:
            c = poly.centroid
            seat_geom = c if poly.contains(c) else poly.representative_point()
        inner = poly.buffer(-INSET_M)
        if inner.is_empty:
            inner = poly
        n_vil = VILLAGES_PER_CLASS.get(t.town_class, VILLAGES_DEFAULT)
        pts = _uniform_in(inner, n_vil + 1, rng)
        sigma = SIGMA_M["seat_street" if t.town_class == "urban_street" else "seat_town"]
        out.append(_Centres(np.array([seat_geom.x, seat_geom.y]), pts[:n_vil], pts[n_vil],
                            sigma))
    return out


def _name(otype: str, town_short: str, rng: np.random.Generator) -> str:
    pattern = _NAMES[otype][int(rng.integers(len(_NAMES[otype])))]
    return pattern.format(s=_SURNAMES[int(rng.integers(len(_SURNAMES)))],
                          w=_WORDS[int(rng.integers(len(_WORDS)))],
                          v=_VILLAGES[int(rng.integers(len(_VILLAGES)))],
                          p=town_short)


def _short(name: str) -> str:
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def generate_objects(
    district: District,
    items: ItemList,
    seed: int = DEFAULT_SEED,
    count: int = DEFAULT_COUNT,
    locator: Locator | None = None,
) -> ObjectSet:
    """A synthetic, reproducible set of ``count`` inspection objects for ``district``.

    Same ``seed`` and inputs → the same objects and the same CSV bytes. Every point lies
    inside the township it is assigned to (checked with the locator).
    """
    if count <= 0:
        raise PlannerDataError([DataProblem("generator", "count",
                                               f"{count} must be a positive number of objects")])
    unknown = sorted(set(PLACEMENT) - set(items.types))
    if unknown:
        raise PlannerDataError([DataProblem(
            "generator", "object_types",
            f"{', '.join(unknown)} not in item list {items.version}")])
    missing_grades = [g for g in "ABCD" if g not in items.grades]
    if missing_grades:
        raise PlannerDataError([DataProblem(
            "generator", "risk_grades",
            f"the generator draws grades A–D; the item list lacks {', '.join(missing_grades)}")])
    rng = np.random.default_rng(seed)
    locator = locator or Locator(district)
    towns = district.townships
    weights = [CHANGSHAN_WEIGHTS.get(t.code, 0.0) if district.code == "changshan"
               else CLASS_WEIGHTS.get(t.town_class, 1.0) for t in towns]
    counts = _apportion(count, weights)
    type_codes = list(PLACEMENT)

    t_idx, otypes = [], []
    for k, (t, n) in enumerate(zip(towns, counts, strict=True)):
        mix = dict(TYPE_MIX.get(t.town_class, TYPE_MIX["rural_township"]))
        mix.update(TYPE_MIX_OVERRIDES.get(t.code, {}) if district.code == "changshan" else {})
        w = np.array([mix.get(c, 0.0) for c in type_codes])
        otypes += [type_codes[j] for j in rng.choice(len(type_codes), size=n, p=w / w.sum())]
        t_idx += [k] * n
    t_idx_a = np.array(t_idx, dtype=np.int64)
    n = len(otypes)

    grades = []
    hours = []
    for ot in otypes:
        mix = RISK_MIX.get(ot, RISK_MIX["default"])
        grades.append("ABCD"[int(rng.choice(4, p=mix))])
        options = HOURS[ot]
        w = np.array([o[2] for o in options])
        o = options[int(rng.choice(len(options), p=w / w.sum()))]
        hours.append(parse_window(f"{o[0]}-{o[1]}"))

    # Anchor every object: a centre and a spread (sigma 0 = uniform over the township).
    centres = _centres(district, rng)
    ax = np.zeros(n)
    ay = np.zeros(n)
    sigma = np.zeros(n)
    for i, ot in enumerate(otypes):
        c = centres[t_idx[i]]
        kind = int(rng.choice(4, p=PLACEMENT[ot]))
        if kind == 0:
            (ax[i], ay[i]), sigma[i] = c.seat, c.seat_sigma
        elif kind == 1:
            (ax[i], ay[i]) = c.villages[int(rng.integers(len(c.villages)))]
            sigma[i] = SIGMA_M["village"]
        elif kind == 2:
            (ax[i], ay[i]), sigma[i] = c.industrial, SIGMA_M["industrial"]
    lon, lat = _place(district, locator, t_idx_a, ax, ay, sigma, rng)

    objs = []
    seq = Counter()
    names: set[str] = set()
    for i, ot in enumerate(otypes):
        t = towns[t_idx[i]]
        seq[t.code] += 1
        name = _name(ot, _short(t.name), rng)
        for _ in range(8):
            if name not in names:
                break
            name = _name(ot, _short(t.name), rng)
        base, copy = name, 0
        while name in names:
            name = f"{base}（{_COPY[copy] if copy < len(_COPY) else copy + 2}）"
            copy += 1
        names.add(name)
        objs.append(InspectionObject(
            id=f"{t.code}-{seq[t.code]:04d}", name=name, object_type=ot, township=t.code,
            lon=float(lon[i]), lat=float(lat[i]), risk_grade=grades[i],
            open_min=hours[i][0], close_min=hours[i][1]))
    note = (f"SYNTHETIC DATA — 合成数据，非真实经营主体。{n} invented inspection objects for "
            f"{district.name} ({district.code}), made by `whistle planner-data objects generate "
            f"--seed {seed} --count {count}` for item list {items.version}. Names, positions, "
            f"risk grades and hours are made up; any match with a real business is chance.")
    return ObjectSet(tuple(objs), note=note)


def _place(
    district: District,
    locator: Locator,
    town: np.ndarray,
    ax: np.ndarray,
    ay: np.ndarray,
    sigma: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 positions (rounded to 1e-6°) inside each object's township, vectorised.

    Clustered objects are drawn from a normal spread around their anchor and redrawn until the
    locator puts the rounded point in the wanted township; after ``MAX_ROUNDS`` tries (an
    anchor hard against the boundary) and for uniform objects, points are drawn in the
    township's bounding box until one falls inside.
    """
    n = town.size
    lon = np.zeros(n)
    lat = np.zeros(n)
    pending = np.ones(n, dtype=bool)
    clustered = sigma > 0
    epsg = district.metric_epsg
    for _ in range(MAX_ROUNDS):
        todo = np.flatnonzero(pending & clustered)
        if todo.size == 0:
            break
        dx = rng.normal(0.0, 1.0, size=(todo.size, 2)) * sigma[todo, None]
        x, y = to_wgs84(ax[todo] + dx[:, 0], ay[todo] + dx[:, 1], epsg)
        x, y = np.round(x, 6), np.round(y, 6)
        ok = locator.township_index(x, y) == town[todo]
        lon[todo[ok]], lat[todo[ok]] = x[ok], y[ok]
        pending[todo[ok]] = False
    bounds = np.array([t.geometry.bounds for t in district.townships])
    while pending.any():
        todo = np.flatnonzero(pending)
        b = bounds[town[todo]]
        x = np.round(rng.uniform(b[:, 0], b[:, 2]), 6)
        y = np.round(rng.uniform(b[:, 1], b[:, 3]), 6)
        ok = locator.township_index(x, y) == town[todo]
        lon[todo[ok]], lat[todo[ok]] = x[ok], y[ok]
        pending[todo[ok]] = False
    return lon, lat

