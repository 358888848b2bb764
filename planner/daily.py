"""The day's routes of a zone: who drives where, in which order, and when.

The inspection calendar (:mod:`planner.calendar`) says which objects are visited on a working
day and which teams each visit needs. This module turns one such day into routes: it forms
the day's *crews* from the certified officers of those teams, builds a
:class:`~planner.model.RoutingProblem` (crews are vehicles leaving from and returning to their
base within the shift, with a lunch break; visits have service times and the object's opening
hours), solves it with the routing core (:func:`planner.routes.solve`) and returns a
:class:`DayPlan` with ordered stops, clock times, distances and the visits left out, each
with its reason. A plan is saved and loaded as JSON, so :mod:`planner.replan` can insert an
urgent inspection into it later in the day.

How a joint visit is synchronised
---------------------------------
A joint visit (联合检查) needs every unit on its list on site at the same time (a *unit* is
what the calendar calls a team: a township or hub team, or a department's pooled brigades
``dept:<code>``). Whistle models that by **forming crews that travel together**: a crew is
one vehicle (or a convoy moving as one) holding one officer pair (``officers_per_crew``
certified officers, the two-officer minimum of 《行政处罚法》第四十二条) of each unit it
includes, and a visit may only go to a crew whose units cover all of its units (the routing
core's vehicle *skills*). Synchronisation then holds by construction: the departments
arrive, inspect and leave together because they travel together, and
:meth:`DayPlan.problems` checks the cover for every stop. Separate vehicles per department
with equal service start times would need synchronisation constraints the routing core does
not have; and departments joining a township for a 综合查一次 day travel with its team.

Crews are formed per day by a small CP-SAT model (:func:`form_crews`): a crew *type* is a set
of units (each set some visit needs, and each single unit). It chooses how many crews of each
type to field, within each unit's officer pairs certified on the day, so that the visits'
work (service plus the travel to the nearest other visit) fits the crews' working time
(shift − lunch, times ``utilisation``, less the round trip from the base). It maximises the
work covered (weighted by priority), then minimises the officer pairs sent out, so the others
stay available for incidents. A joint crew starts from the base of its township team when it
has one (the departments meet it there), else from the base of its first department's team.

Times
-----
Inputs use minutes after midnight of the plan's day (the calendar's and the object file's
unit); the plan stores seconds after midnight and shows local clock times ``HH:MM``. A
visit's service must *start and end* inside the object's opening hours, or inside the visit
window of its items when they set one (a night check is made when the site should be
closed), so its start window is ``[open, close − service]``.

Day and night duty
------------------
A plan routes one duty (:mod:`planner.duty`, :attr:`DayOptions.duty`): the day crews
(08:30–17:30 with lunch) or the night duty (夜查, 19:00–01:00, no lunch break). A visit whose
hours leave no room in the day shift but do at night is a night visit (the calendar books it
on the night duty); each plan lists the other duty's visits (``other_duty``, kind
``night_duty`` or ``day_duty``) apart from the visits it leaves out, so nothing is dropped
silently.
On a joint visit each unit checks its own items at the same time (setup once each) and the
crew leaves together, so the visit lasts as long as the longest unit's part
(:func:`joint_minutes`). The lunch break (``lunch_min``, default 60 min) lies wholly inside
``lunch_window`` (default 11:30–13:30), between two visits, never during one. The solver
chooses the order of each route; its clock times are the shortest working day for that order
(:func:`schedule_route`: every place for lunch is tried, departure is delayed to cut waiting).

Visits left out
---------------
Nothing fails for lack of crews or time: every visit is optional in the routing model with a
large prize (``PRIZE`` × priority, far above any detour), so the solver serves all it can and
the rest are listed with a reason: ``opening_hours`` (no start time inside the opening hours
and item windows), ``outside_shift`` (no crew can reach it and be back within the shift),
``no_certified_crew`` (a unit it needs has no certified officer pair that day),
``no_crew_capacity`` (pairs exist but all of them cover more work in other crews) and
``no_time`` (compatible crews exist but their days are full). Re-planning adds
``displaced`` (:mod:`planner.replan`).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from dispatch.catalog.service import Catalogue
from dispatch.teams.loader import TeamRoster
from dispatch.teams.models import Member, Team
from geo.boundaries import District
from geo.traveltime import EstimateTravelTimes, TravelTimes
from planner.duty import DAY_SHIFT, DUTIES, NIGHT_SHIFT, Duty, duty_of
from planner.items import ItemList, format_clock, format_window, parse_clock, parse_window
from planner.model import (
    Break,
    Client,
    Depot,
    FrozenPrefix,
    RoutingProblem,
    TimeWindow,
    VehicleType,
)
from planner.objects import ObjectSet
from planner.result import RoutingResult, evaluate
from planner.routes import Progress, solve

FORMAT = "whistle-day-plan/1"
PRIZE = 1_000_000.0  # metres-equivalent per priority unit: far above any detour in a county
DEPT_PREFIX = "dept:"

ProgressFn = Callable[[str], None]


class DayPlanError(ValueError):
    """Bad day-plan input (options, visits, a plan file); the message names the field."""


# -- inputs -----------------------------------------------------------------------------------


def clock(seconds: float) -> str:
    """``HH:MM`` of seconds after midnight, rounded to the minute (past 24:00 wraps)."""
    return format_clock(round(seconds / 60.0))


@dataclass(frozen=True)
class DayOptions:
    """Knobs of a day's routes; times are minutes after midnight.

    Parameters
    ----------
    duty
        Which visits this plan routes (:mod:`planner.duty`): ``"day"`` (the day crews) or
        ``"night"`` (the night duty, 夜查); visits of the other duty are listed as left to it.
    shift
        When crews may leave their base and must be back (day 08:30–17:30, night
        19:00–01:00; an end before the start is the next morning).
    lunch_window, lunch_min
        The lunch break lasts ``lunch_min`` minutes and lies wholly inside the window.
    officers_per_crew
        Certified officers each team puts in a crew (《行政处罚法》第四十二条: at least two).
    department_crews
        Most crews a department (``dept:<code>``) may field in this zone on the day; ``None``:
        every certified pair of its brigades.
    utilisation
        Share of a crew's working time the crew formation plans to fill (the rest absorbs
        travel the per-visit allowance misses).
    time_limit_s
        Routing budget, seconds.
    seed
        Seed of the routing search.
    """

    shift: tuple[int, int] = DAY_SHIFT
    lunch_window: tuple[int, int] = (690, 810)
    lunch_min: int = 60
    officers_per_crew: int = 2
    department_crews: int | None = None
    utilisation: float = 0.8
    time_limit_s: float = 10.0
    seed: int = 0
    duty: Duty = "day"

    def validate(self) -> None:
        if self.duty not in DUTIES:
            raise DayPlanError(f"duty: {self.duty!r} is not one of {', '.join(DUTIES)}")
        s0, s1 = self.shift
        if not (0 <= s0 < s1 <= 36 * 60):
            raise DayPlanError(f"shift: {format_clock(s0)}-{format_clock(s1)} must start before "
                               "it ends, within the day")
        l0, l1 = self.lunch_window
        if self.lunch_min < 0:
            raise DayPlanError(f"lunch_min: {self.lunch_min} must be >= 0 (0: no break)")
        if self.lunch_min and not (s0 <= l0 and l1 <= s1 and l1 - l0 >= self.lunch_min):
            raise DayPlanError(f"lunch: a {self.lunch_min} min break must fit in "
                               f"{format_clock(l0)}-{format_clock(l1)}, inside the shift "
                               f"{format_clock(s0)}-{format_clock(s1)}")
        if not 1 <= self.officers_per_crew <= 10:
            raise DayPlanError(f"officers_per_crew: {self.officers_per_crew} must be 1..10")
        if self.department_crews is not None and self.department_crews < 0:
            raise DayPlanError(f"department_crews: {self.department_crews} must be >= 0")
        if not 0 < self.utilisation <= 1:
            raise DayPlanError(f"utilisation: {self.utilisation} must be > 0 and <= 1")
        if not self.time_limit_s > 0:
            raise DayPlanError(f"time_limit_s: {self.time_limit_s} must be > 0")

    @classmethod
    def parse(cls, shift: str = "08:30-17:30", lunch: str = "11:30-13:30", lunch_min: int = 60,
              **kw: Any) -> DayOptions:
        """Options from clock text (``"HH:MM-HH:MM"``); other fields as keywords.

        A shift whose end is before its start ends the next morning (``"19:00-01:00"``).
        """
        def window(text: str, name: str, wrap: bool) -> tuple[int, int]:
            try:
                if wrap:
                    return parse_window(text)
                a, b = (parse_clock(p) for p in text.split("-"))
            except ValueError as exc:
                raise DayPlanError(f"{name}: {text!r} is not HH:MM-HH:MM ({exc})") from exc
            return a, b
        s = window(shift, "shift", True)
        lw = window(lunch, "lunch", False)
        if lw[1] <= s[0] and s[1] > 24 * 60:  # a lunch window after midnight of a night shift
            lw = (lw[0] + 24 * 60, lw[1] + 24 * 60)
        opts = cls(shift=s, lunch_window=lw, lunch_min=lunch_min, **kw)
        opts.validate()
        return opts

    @classmethod
    def for_duty(cls, duty: str = "day", shift: str | None = None, lunch: str | None = None,
                 lunch_min: int | None = None, **kw: Any) -> DayOptions:
        """Options for one duty; the shift and break not given are that duty's defaults
        (day 08:30–17:30 with a 60 min lunch in 11:30–13:30, night 19:00–01:00 without one)."""
        if duty not in DUTIES:
            raise DayPlanError(f"duty: {duty!r} is not one of {', '.join(DUTIES)}")
        night = duty == "night"
        return cls.parse(shift or format_window(NIGHT_SHIFT if night else DAY_SHIFT),
                         lunch or "11:30-13:30",
                         (0 if night else 60) if lunch_min is None else lunch_min,
                         duty=duty, **kw)

    def as_dict(self) -> dict[str, Any]:
        return {"duty": self.duty,
                "shift": f"{format_clock(self.shift[0])}-{format_clock(self.shift[1])}",
                "lunch_window": f"{format_clock(self.lunch_window[0])}-"
                                f"{format_clock(self.lunch_window[1])}",
                "lunch_min": self.lunch_min, "officers_per_crew": self.officers_per_crew,
                "department_crews": self.department_crews, "utilisation": self.utilisation,
                "time_limit_s": self.time_limit_s, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DayOptions:
        keep = {k: d[k] for k in ("officers_per_crew", "department_crews", "utilisation",
                                  "time_limit_s", "seed", "duty") if k in d}
        return cls.parse(d.get("shift", "08:30-17:30"), d.get("lunch_window", "11:30-13:30"),
                         int(d.get("lunch_min", 60)), **keep)


@dataclass(frozen=True)
class DayVisit:
    """One visit to make on the day.

    ``units`` are the inspecting units that must all be present — the calendar's teams: a
    township or hub team id (``CS01-zfd``) or a department's pooled brigades
    (``dept:scjg``); more than one makes it a joint visit. ``minutes`` is the time on site
    (for a joint visit the longest unit's part, :func:`joint_minutes`). ``departments`` are the item
    departments (for the record). ``open_min``/``close_min`` are the object's opening hours
    and ``item_window`` the intersection of its items' visit windows, minutes after midnight
    (ends may pass 1440). ``deadline`` further bounds the service *start* (an urgent visit:
    now … now + 2 h). ``priority`` scales the prize for serving it (routine 1). ``duty`` is
    the duty that makes it (:func:`planner.duty.duty_of` unless the calendar said).
    """

    id: str
    object_id: str
    name: str
    township: str
    lon: float
    lat: float
    units: tuple[str, ...]
    minutes: int
    open_min: int
    close_min: int
    item_window: tuple[int, int] | None = None
    deadline: tuple[int, int] | None = None
    items: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    priority: int = 1
    duty: Duty | None = None

    def __post_init__(self) -> None:
        if self.duty is None:
            object.__setattr__(self, "duty", duty_of(self.open_min, self.close_min,
                                                     self.item_window, self.minutes))
        elif self.duty not in DUTIES:
            raise DayPlanError(f"visits[{self.id}].duty: {self.duty!r} is not one of "
                               f"{', '.join(DUTIES)}")

    @property
    def joint(self) -> bool:
        return len(self.units) > 1

    def start_window(self) -> tuple[int, int] | None:
        """Minutes in which service may start so it starts and ends inside its hours.

        The items' visit window, when they set one, replaces the opening hours: a night check
        of a construction site is made when the site should be closed.
        """
        lo, hi = self.item_window if self.item_window is not None else (self.open_min,
                                                                          self.close_min)
        hi -= self.minutes
        if self.deadline is not None:
            lo, hi = max(lo, self.deadline[0]), min(hi, self.deadline[1])
        return (lo, hi) if lo <= hi else None

    def hours_text(self) -> str:
        if self.item_window is not None:
            text = f"item window {format_window(self.item_window)}"
        else:
            text = f"opening hours {format_clock(self.open_min)}-{format_clock(self.close_min)}"
        if self.deadline is not None:
            text += (f", to start between {format_clock(self.deadline[0])} and "
                     f"{format_clock(self.deadline[1])}")
        return text

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["joint"] = self.joint
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DayVisit:
        def pair(v: Any) -> tuple[int, int] | None:
            return None if v is None else (int(v[0]), int(v[1]))
        return cls(id=str(d["id"]), object_id=str(d["object_id"]), name=str(d.get("name", "")),
                   township=str(d.get("township", "")), lon=float(d["lon"]),
                   lat=float(d["lat"]), units=tuple(d["units"]), minutes=int(d["minutes"]),
                   open_min=int(d["open_min"]), close_min=int(d["close_min"]),
                   item_window=pair(d.get("item_window")), deadline=pair(d.get("deadline")),
                   items=tuple(d.get("items", ())), departments=tuple(d.get("departments", ())),
                   priority=int(d.get("priority", 1)), duty=d.get("duty"))


def item_window(codes: Iterable[str], items: ItemList | None) -> tuple[int, int] | None:
    """Intersection of the visit windows of the items (None when none sets one).

    An empty intersection is returned as an inverted pair, so the visit is left out with its
    reason rather than silently given the object's hours.
    """
    if items is None:
        return None
    wins = [items.by_code[c].visit_window for c in codes
            if c in items.by_code and items.by_code[c].visit_window is not None]
    if not wins:
        return None
    return max(w[0] for w in wins), min(w[1] for w in wins)


def joint_minutes(codes_by_unit: Mapping[str, Sequence[str]], items: ItemList,
                  combinable: bool = True) -> int | None:
    """Minutes on site of a visit whose units check their items in parallel.

    Each unit's part is :meth:`ItemList.visit_duration` of its items (setup once); the visit
    lasts the longest part. A stand-alone (non-combinable) check lasts its own duration.
    ``None`` if an item code is not in the list.
    """
    if any(c not in items.by_code for codes in codes_by_unit.values() for c in codes):
        return None
    parts = []
    for codes in codes_by_unit.values():
        its = [items.by_code[c] for c in codes]
        parts.append(items.visit_duration(its) if combinable
                     else sum(i.duration_min for i in its))
    return max(parts, default=0)


def _unique_ids(object_ids: Sequence[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for o in object_ids:
        seen[o] += 1
        out.append(o if seen[o] == 1 else f"{o}#{seen[o]}")
    return out


def visits_from_calendar(doc: Mapping[str, Any], day: date, objects: ObjectSet,
                         items: ItemList | None = None) -> list[DayVisit]:
    """The visits a calendar (its JSON form, :meth:`CalendarPlan.as_dict`) puts on ``day``.

    Positions and opening hours come from ``objects``; item windows from ``items``. Raises
    :class:`DayPlanError` naming the field when the document is not a calendar, the day is
    not in it, or a visit names an unknown object.
    """
    days = doc.get("days")
    if not isinstance(days, list):
        raise DayPlanError("calendar: no 'days' list (expected the JSON of `whistle plan "
                           "calendar --json`)")
    wanted = day.isoformat()
    entry = next((d for d in days if isinstance(d, dict) and d.get("date") == wanted), None)
    if entry is None:
        have = [d.get("date") for d in days if isinstance(d, dict)]
        span = f"{have[0]} … {have[-1]}" if have else "no days"
        raise DayPlanError(f"--date: {wanted} is not a working day of the calendar ({span})")
    raw = entry.get("visits") or []
    ids = _unique_ids([str(v.get("object_id")) for v in raw])
    out = []
    for k, (v, vid) in enumerate(zip(raw, ids, strict=True)):
        oid = str(v.get("object_id"))
        obj = objects.by_id.get(oid)
        if obj is None:
            raise DayPlanError(f"calendar: days[{wanted}].visits[{k}].object_id: {oid!r} is not "
                               "in the object file")
        units = tuple(v.get("teams") or ())
        if not units:
            raise DayPlanError(f"calendar: days[{wanted}].visits[{k}].teams: empty")
        codes = tuple(v.get("items") or ())
        minutes = int(v.get("minutes") or 0)
        by_unit: dict[str, list[str]] = defaultdict(list)
        for c in v.get("checks") or ():
            by_unit[str(c.get("team"))].append(str(c.get("item")))
        if items is not None and by_unit and set(by_unit) == set(units):
            minutes = joint_minutes(by_unit, items, bool(v.get("combinable", True))) or minutes
        out.append(DayVisit(
            id=vid, object_id=oid, name=obj.name, township=obj.township, lon=obj.lon,
            lat=obj.lat, units=tuple(sorted(units)), minutes=minutes,
            open_min=obj.open_min, close_min=obj.close_min, item_window=item_window(codes, items),
            items=codes, departments=tuple(v.get("departments") or ()), duty=v.get("duty")))
    return out


def load_calendar_day(path: Path | str, day: date, objects: ObjectSet,
                      items: ItemList | None = None) -> list[DayVisit]:
    """Read a calendar JSON file and return the visits of ``day``."""
    return visits_from_calendar(_read_json_file(path, "--from-calendar"), day, objects, items)


def _read_json_file(path: Path | str, option: str) -> dict[str, Any]:
    """The JSON object in ``path``; errors name the command-line ``option`` and the reason."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DayPlanError(f"{option}: {path}: no such file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DayPlanError(f"{option}: {path.name}: cannot read JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise DayPlanError(f"{option}: {path.name}: expected a JSON object")
    return doc


def sample_visits(zone: str, day: date, n: int, *, seed: int = 0,
                  district: District | None = None, items: ItemList | None = None,
                  objects: ObjectSet | None = None, roster: TeamRoster | None = None,
                  catalogue: Catalogue | None = None, travel: TravelTimes | None = None
                  ) -> list[DayVisit]:
    """A day of ``n`` visits drawn from the zone's objects with checks due in ``day``'s month.

    Each drawn object gets what the calendar would give it if all its checks due that
    month were done on ``day``: one visit with every combinable check (each check's
    competent team present, :mod:`planner.joint`) and one visit per stand-alone check. Any
    input not given is the bundled sample data (synthetic objects, sample teams).
    """
    from dispatch.catalog.loader import bundled_catalog_path, load_catalog
    from dispatch.teams.loader import bundled_teams
    from geo.boundaries import bundled_district
    from geo.traveltime import travel_times_for
    from planner.items import load_items
    from planner.joint import CalendarInstance, CalendarOptions
    from planner.objects import load_objects, zone_demand

    if n <= 0:
        raise DayPlanError(f"--objects: {n} must be a positive number of objects")
    district = district or bundled_district("changshan")
    items = items or load_items()
    objects = objects or load_objects(None, items, district)
    roster = roster or bundled_teams(district)
    catalogue = catalogue or load_catalog(bundled_catalog_path(), district)
    month = date(day.year, day.month, 1)
    end = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    demand = zone_demand(objects, items, district, zone, month, end)
    inst = CalendarInstance.build(demand, roster, catalogue,
                                  travel or travel_times_for(district), CalendarOptions())
    per_obj: dict[int, list] = defaultdict(list)
    for p in inst.parts("joint"):
        if p.start <= day < p.end:
            per_obj[p.obj].append(p)
    if not per_obj:
        raise DayPlanError(f"--objects: no object of {zone} has a check due on {day}")
    rng = np.random.default_rng(seed)
    keys = sorted(per_obj)
    chosen = sorted(rng.choice(len(keys), size=min(n, len(keys)), replace=False).tolist())
    out: list[DayVisit] = []
    for k in chosen:
        o = keys[k]
        obj = demand.objects[o]
        comb = [p for p in per_obj[o] if p.combinable]
        groups = ([comb] if comb else []) + [[p] for p in per_obj[o] if not p.combinable]
        for parts in groups:
            its = [demand.items[inst.visits[v].item] for p in parts for v in p.visits]
            codes = tuple(i.code for i in its)
            by_unit: dict[str, list[str]] = defaultdict(list)
            for p in parts:
                by_unit[inst.units[p.unit].key] += [demand.items[inst.visits[v].item].code
                                                    for v in p.visits]
            minutes = joint_minutes(by_unit, items, parts[0].combinable) or 0
            out.append(DayVisit(
                id=obj.id, object_id=obj.id, name=obj.name, township=obj.township, lon=obj.lon,
                lat=obj.lat, units=tuple(sorted({inst.units[p.unit].key for p in parts})),
                minutes=int(minutes), open_min=obj.open_min, close_min=obj.close_min,
                item_window=item_window(codes, items), items=codes,
                departments=tuple(sorted({i.department for i in its}))))
    ids = _unique_ids([v.object_id for v in out])
    return [replace(v, id=i) for v, i in zip(out, ids, strict=True)]


# -- crews ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrewOfficer:
    """A certified officer riding with a crew."""

    member_id: str
    name: str
    team: str
    certificate: str


@dataclass(frozen=True)
class Crew:
    """One vehicle of the day: an officer pair of each unit in ``units``, from one base."""

    id: str
    name: str
    units: tuple[str, ...]
    officers: tuple[CrewOfficer, ...]
    base_team: str
    base_lon: float
    base_lat: float
    base_name: str = ""

    @property
    def joint(self) -> bool:
        return len(self.units) > 1

    def covers(self, units: Iterable[str]) -> bool:
        return set(units) <= set(self.units)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "units": list(self.units),
                "officers": [asdict(o) for o in self.officers], "base_team": self.base_team,
                "base": {"lon": self.base_lon, "lat": self.base_lat, "name": self.base_name}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Crew:
        return cls(id=str(d["id"]), name=str(d.get("name", "")), units=tuple(d["units"]),
                   officers=tuple(CrewOfficer(**o) for o in d.get("officers", ())),
                   base_team=str(d.get("base_team", "")), base_lon=float(d["base"]["lon"]),
                   base_lat=float(d["base"]["lat"]), base_name=str(d["base"].get("name", "")))


@dataclass(frozen=True)
class Pair:
    """``officers_per_crew`` certified officers of one team, who ride together."""

    team: Team
    members: tuple[Member, ...]


def unit_teams(unit: str, roster: TeamRoster) -> tuple[Team, ...]:
    """The roster teams behind a calendar unit key (a team id, or ``dept:<code>``)."""
    if unit.startswith(DEPT_PREFIX):
        code = unit[len(DEPT_PREFIX):]
        teams = [t for t in roster.teams if t.kind in ("department", "city")
                 and t.department == code]
        return tuple(sorted(teams, key=lambda t: t.kind != "department"))
    return tuple(t for t in roster.teams if t.id == unit)


def unit_name(unit: str, roster: TeamRoster) -> str:
    teams = unit_teams(unit, roster)
    return teams[0].name if teams else unit


def certified_pairs(unit: str, roster: TeamRoster, day: date, options: DayOptions,
                    busy: Iterable[str] = ()) -> list[Pair]:
    """The officer pairs a unit can field on ``day`` (certificates valid that day).

    Pairs are made within a team, in roster order; members in ``busy`` (already in a crew)
    are skipped; a department's pairs are capped at ``options.department_crews``.
    """
    taken = set(busy)
    out: list[Pair] = []
    k = options.officers_per_crew
    for team in unit_teams(unit, roster):
        free = [m for m in team.certified_on(day) if m.id not in taken]
        out += [Pair(team, tuple(free[i:i + k])) for i in range(0, len(free) - k + 1, k)]
    if unit.startswith(DEPT_PREFIX) and options.department_crews is not None:
        out = out[: options.department_crews]
    return out


def _is_township(unit: str, roster: TeamRoster) -> bool:
    teams = unit_teams(unit, roster)
    return bool(teams) and teams[0].kind in ("township", "hub")


def crew_base(units: Sequence[str], pairs: Mapping[str, Sequence[Pair]], roster: TeamRoster
              ) -> Team | None:
    """The team whose base a crew of ``units`` starts from (see the module docstring)."""
    ordered = sorted(units, key=lambda u: (not _is_township(u, roster), u))
    for u in ordered:
        if pairs.get(u):
            return pairs[u][0].team
    for u in ordered:
        teams = unit_teams(u, roster)
        if teams:
            return teams[0]
    return None


@dataclass(frozen=True)
class CrewFormation:
    """The crews of the day and the visits no crew could be formed for (id → reason)."""

    crews: tuple[Crew, ...]
    uncovered: dict[str, tuple[str, str]]
    stats: dict[str, Any]


def form_crews(visits: Sequence[DayVisit], roster: TeamRoster, day: date, options: DayOptions,
               nn_min: Mapping[str, float], base_trip_min: Callable[[Team, Sequence[DayVisit]],
                                                                    float],
               time_limit_s: float = 2.0) -> CrewFormation:
    """Choose the day's crews with CP-SAT (see the module docstring).

    Visits are grouped by the set of units they need. The model chooses ``n[T]`` crews of
    each type ``T`` (a needed set, or a single unit) and ``m[S, T]`` minutes of group ``S``'s
    work for crews of a type covering it: ``Σ_T m[S, T] ≤ work(S)``,
    ``Σ_S m[S, T] ≤ capacity(T) · n[T]`` and, per unit, ``Σ_{T ∋ u} n[T] ≤ pairs(u)``. It
    maximises the priority-weighted minutes covered, then minimises the officer pairs sent
    out (``Σ |T| · n[T]``). Minutes are divisible here; the routing then decides which
    visits actually fit.

    Parameters
    ----------
    visits
        The visits to cover (already checked against opening hours and the shift).
    nn_min
        Travel minutes each visit is charged (to its nearest neighbour).
    base_trip_min
        Round-trip minutes from a team's base to a set of visits (a crew's first and last
        legs).
    """
    t0 = time.perf_counter()
    units = sorted({u for v in visits for u in v.units})
    pairs = {u: certified_pairs(u, roster, day, options) for u in units}
    uncovered: dict[str, tuple[str, str]] = {}
    live: list[DayVisit] = []
    for v in visits:
        missing = [u for u in v.units if not pairs[u]]
        if missing:
            uncovered[v.id] = ("no_certified_crew", _no_pair_reason(missing, roster, day,
                                                                    options))
        else:
            live.append(v)
    groups: dict[tuple[str, ...], list[DayVisit]] = defaultdict(list)
    for v in live:
        groups[tuple(sorted(v.units))].append(v)
    types = sorted(set(groups) | {(u,) for u in units if pairs[u]}, key=lambda t: (-len(t), t))
    work = (options.shift[1] - options.shift[0] - options.lunch_min) * options.utilisation
    cap: dict[tuple[str, ...], int] = {}
    for t in types:
        base = crew_base(t, pairs, roster)
        fits = [v for v in live if set(v.units) <= set(t)]
        trip = base_trip_min(base, fits) if base is not None and fits else 0.0
        cap[t] = max(0, int(work - trip))
    need = {g: sum(math.ceil(v.minutes + nn_min.get(v.id, 0.0)) for v in vs)
            for g, vs in groups.items()}
    prio = {g: max(v.priority for v in vs) for g, vs in groups.items()}

    m = cp_model.CpModel()
    count = {t: m.new_int_var(0, min(len(pairs[u]) for u in t), f"n{k}")
             for k, t in enumerate(types)}
    for u in units:
        if pairs[u]:
            m.add(sum(count[t] for t in types if u in t) <= len(pairs[u]))
    share: dict[tuple[tuple[str, ...], tuple[str, ...]], cp_model.IntVar] = {}
    for g in groups:
        for t in types:
            if set(g) <= set(t):
                share[(g, t)] = m.new_int_var(0, need[g], f"m{len(share)}")
        m.add(sum(share[(g, t)] for t in types if (g, t) in share) <= need[g])
    for t in types:
        terms = [share[(g, t)] for g in groups if (g, t) in share]
        if terms:
            m.add(sum(terms) <= cap[t] * count[t])
    big = sum(len(p) for p in pairs.values()) * max((len(t) for t in types), default=1) + 1
    covered = sum(prio[g] * var for (g, _), var in share.items())
    m.minimize(-big * covered + sum(len(t) * count[t] for t in types))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = options.seed
    status = solver.solve(m) if types else cp_model.OPTIMAL
    solved = status in (cp_model.OPTIMAL, cp_model.FEASIBLE) and bool(types)
    # Without a solution (not expected: all-zero is feasible) field one crew per needed set.
    n_of = {t: solver.value(count[t]) if solved else
            int(all(pairs[u] for u in t) and t in groups) for t in types}

    for g, vs in groups.items():
        if any(n_of[t] and set(g) <= set(t) for t in types):
            continue
        reason = ("every certified officer pair of " + ", ".join(
            f"{unit_name(u, roster)} ({u}: {len(pairs[u])} pair(s))" for u in g)
            + " is needed for crews that cover more work; no crew of the day has all of them")
        for v in vs:
            uncovered[v.id] = ("no_crew_capacity", reason)

    used = {u: 0 for u in units}
    crews: list[Crew] = []
    for t in types:
        for _ in range(n_of[t]):
            officers: list[CrewOfficer] = []
            for u in t:
                pair = pairs[u][used[u]]
                used[u] += 1
                officers += [CrewOfficer(mm.id, mm.name, pair.team.id,
                                         mm.certificate.number if mm.certificate else "")
                             for mm in pair.members]
            base = crew_base(t, {u: pairs[u][used[u] - 1:] for u in t}, roster)
            assert base is not None
            crews.append(Crew(id=f"C{len(crews) + 1:02d}",
                              name=" + ".join(unit_name(u, roster) for u in t), units=t,
                              officers=tuple(officers), base_team=base.id,
                              base_lon=base.base_lon, base_lat=base.base_lat,
                              base_name=base.base_address or base.name))
    stats = {"status": _STATUS.get(status, "FALLBACK") if solved or not types else "FALLBACK",
             "crew_types": len(types), "crews": len(crews),
             "pairs_available": {u: len(pairs[u]) for u in units},
             "pairs_used": dict(used),
             "work_min": sum(need.values()),
             "work_covered_min": int(sum(solver.value(v) for v in share.values())) if solved
             else None,
             "capacity_per_crew_min": {"/".join(t): cap[t] for t in types if n_of[t]},
             "wall_s": round(time.perf_counter() - t0, 3)}
    return CrewFormation(tuple(crews), uncovered, stats)


_STATUS = {cp_model.OPTIMAL: "OPTIMAL", cp_model.FEASIBLE: "FEASIBLE"}


def _no_pair_reason(missing: Sequence[str], roster: TeamRoster, day: date,
                    options: DayOptions) -> str:
    parts = []
    for u in missing:
        teams = unit_teams(u, roster)
        if not teams:
            parts.append(f"{u} has no team in the roster")
            continue
        n = sum(len(t.certified_on(day)) for t in teams)
        if unit_is_capped(u, options):
            parts.append(f"{unit_name(u, roster)} ({u}) may field no crew in this zone "
                         "(department_crews = 0)")
        elif n == 0:
            parts.append(f"{unit_name(u, roster)} ({u}) has no officer with an enforcement "
                         f"certificate valid on {day}")
        else:
            parts.append(f"{unit_name(u, roster)} ({u}) has {n} certified officer(s) on {day}; "
                         f"a crew needs {options.officers_per_crew} from one team")
    return "no certified crew: " + "; ".join(parts)


def unit_is_capped(unit: str, options: DayOptions) -> bool:
    return unit.startswith(DEPT_PREFIX) and options.department_crews == 0


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedStop:
    """A visit in a crew's route; times in seconds after midnight, travel from the previous
    place (base or stop)."""

    visit_id: str
    arrival_s: float
    start_s: float
    end_s: float
    travel_s: float
    distance_m: float

    @property
    def wait_s(self) -> float:
        return self.start_s - self.arrival_s


@dataclass(frozen=True)
class CrewRoute:
    """A crew's day: departure, stops, lunch and return (seconds after midnight)."""

    crew_id: str
    stops: tuple[PlannedStop, ...]
    departure_s: float
    return_s: float
    distance_m: float
    travel_s: float
    lunch: tuple[float, float] | None = None

    @property
    def duration_s(self) -> float:
        return self.return_s - self.departure_s if self.stops else 0.0


@dataclass(frozen=True)
class LeftOut:
    """A visit not in any route, and why (``kind`` classifies the reason)."""

    visit_id: str
    kind: str
    reason: str


@dataclass(frozen=True)
class DayPlan:
    """The routes of one zone on one day; self-contained, so it can be saved and re-planned.

    ``eta_source`` says where travel times came from (``"road"`` or ``"estimate"``);
    ``visits`` holds every visit asked for: routed, left out, or (``other_duty``) made by the
    other duty's plan (:mod:`planner.duty`); ``replanned_at`` is set (minutes after midnight)
    on a plan re-planned during the day.
    """

    zone: str
    day: date
    district: str
    options: DayOptions
    eta_source: str
    crews: tuple[Crew, ...]
    visits: tuple[DayVisit, ...]
    routes: tuple[CrewRoute, ...]
    left_out: tuple[LeftOut, ...]
    solver: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    replanned_at: int | None = None
    other_duty: tuple[LeftOut, ...] = ()

    # -- lookups ---------------------------------------------------------------------------
    @property
    def visit_by_id(self) -> dict[str, DayVisit]:
        return {v.id: v for v in self.visits}

    @property
    def crew_by_id(self) -> dict[str, Crew]:
        return {c.id: c for c in self.crews}

    def route_of(self, crew_id: str) -> CrewRoute:
        for r in self.routes:
            if r.crew_id == crew_id:
                return r
        raise KeyError(crew_id)

    def minutes_at(self, text: str) -> int:
        """Minutes after midnight of the plan's day for a clock time ``HH:MM``.

        On a shift that runs past midnight (the night duty), a time before the shift's start
        is the next morning: ``00:30`` is 1470. Raises ValueError for a bad time.
        """
        t = parse_clock(text)
        s0, s1 = self.options.shift
        return t + 24 * 60 if s1 > 24 * 60 and t < s0 and t + 24 * 60 <= 36 * 60 else t

    def stop_of(self, visit_id: str) -> tuple[str, int, PlannedStop] | None:
        """(crew id, position, stop) of a routed visit, else None."""
        for r in self.routes:
            for k, s in enumerate(r.stops):
                if s.visit_id == visit_id:
                    return r.crew_id, k, s
        return None

    # -- figures ----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        used = [r for r in self.routes if r.stops]
        return {
            "zone": self.zone, "date": self.day.isoformat(), "eta_source": self.eta_source,
            "visits": len(self.visits), "routed": sum(len(r.stops) for r in self.routes),
            "joint_routed": sum(self.visit_by_id[s.visit_id].joint
                                for r in self.routes for s in r.stops),
            "left_out": len(self.left_out), "crews": len(self.crews), "crews_used": len(used),
            "distance_km": round(sum(r.distance_m for r in self.routes) / 1000, 2),
            "travel_min": round(sum(r.travel_s for r in self.routes) / 60, 1),
            "service_min": sum(self.visit_by_id[s.visit_id].minutes
                               for r in self.routes for s in r.stops),
            "left_out_by_kind": dict(Counter(x.kind for x in self.left_out)),
            "duty": self.options.duty, "other_duty": len(self.other_duty),
        }

    def problems(self) -> list[str]:
        """Every broken rule, recomputed from the plan alone (empty for a valid plan).

        Checks: each routed visit once and not also left out; the crew covers the visit's
        units; service starts and ends inside its windows; stops in time order with travel;
        departure and return inside the shift; lunch of the right length inside its window
        and not during a service; every visit either routed, left out or the other
        duty's, and each of the latter of the other duty.
        """
        out: list[str] = []
        o = self.options
        s0, s1 = o.shift[0] * 60, o.shift[1] * 60
        l0, l1 = o.lunch_window[0] * 60, o.lunch_window[1] * 60
        vis, crews = self.visit_by_id, self.crew_by_id
        seen: set[str] = set()
        eps = 1.0  # seconds
        for r in self.routes:
            crew = crews.get(r.crew_id)
            if crew is None:
                out.append(f"route of unknown crew {r.crew_id}")
                continue
            if not r.stops:
                continue
            if r.departure_s < s0 - eps or r.return_s > s1 + eps:
                out.append(f"{crew.id}: {clock(r.departure_s)}-{clock(r.return_s)} outside the "
                           f"shift {format_clock(o.shift[0])}-{format_clock(o.shift[1])}")
            t = r.departure_s
            for s in r.stops:
                v = vis.get(s.visit_id)
                if v is None:
                    out.append(f"{crew.id}: unknown visit {s.visit_id}")
                    continue
                if s.visit_id in seen:
                    out.append(f"{s.visit_id}: routed twice")
                seen.add(s.visit_id)
                if not crew.covers(v.units):
                    out.append(f"{s.visit_id}: needs {'/'.join(v.units)} but crew {crew.id} "
                               f"has {'/'.join(crew.units)}")
                w = v.start_window()
                if w is None or not (w[0] * 60 - eps <= s.start_s <= w[1] * 60 + eps):
                    out.append(f"{s.visit_id}: starts {clock(s.start_s)}, outside its "
                               f"{v.hours_text()}")
                if s.arrival_s < t + s.travel_s - eps or s.start_s < s.arrival_s - eps:
                    out.append(f"{s.visit_id}: arrives {clock(s.arrival_s)} / starts "
                               f"{clock(s.start_s)} before the crew can be there")
                if abs(s.end_s - s.start_s - v.minutes * 60) > eps:
                    out.append(f"{s.visit_id}: service {s.end_s - s.start_s:.0f} s, not "
                               f"{v.minutes} min")
                t = s.end_s
            if r.return_s < t - eps:
                out.append(f"{crew.id}: returns {clock(r.return_s)} before its last visit ends")
            if o.lunch_min > 0 and (r.lunch is not None
                                    or r.departure_s <= l1 - o.lunch_min * 60 + eps):
                if r.lunch is None:
                    out.append(f"{crew.id}: no lunch break")
                else:
                    a, b = r.lunch
                    if a < l0 - eps or b > l1 + eps or abs(b - a - o.lunch_min * 60) > eps:
                        out.append(f"{crew.id}: lunch {clock(a)}-{clock(b)} is not "
                                   f"{o.lunch_min} min inside {format_clock(o.lunch_window[0])}"
                                   f"-{format_clock(o.lunch_window[1])}")
                    for s in r.stops:
                        if s.start_s < b - eps and a < s.end_s - eps:
                            out.append(f"{crew.id}: lunch {clock(a)}-{clock(b)} overlaps the "
                                       f"visit {s.visit_id}")
        left = {x.visit_id for x in self.left_out}
        other = {x.visit_id for x in self.other_duty}
        for vid in seen & left:
            out.append(f"{vid}: both routed and left out")
        for vid in (seen | left) & other:
            out.append(f"{vid}: in this plan and also left to the other duty")
        for vid in set(vis) - seen - left - other:
            out.append(f"{vid}: neither routed nor left out")
        for vid in other & set(vis):
            if vis[vid].duty == o.duty:
                out.append(f"{vid}: a {o.duty} visit left to the other duty")
        return out

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        vis, crews = self.visit_by_id, self.crew_by_id

        def stop(s: PlannedStop, k: int) -> dict[str, Any]:
            v = vis[s.visit_id]
            return {"seq": k + 1, "visit_id": s.visit_id, "object_id": v.object_id,
                    "name": v.name, "lon": v.lon, "lat": v.lat, "units": list(v.units),
                    "joint": v.joint, "arrival": clock(s.arrival_s), "start": clock(s.start_s),
                    "end": clock(s.end_s), "wait_min": round(s.wait_s / 60, 1),
                    "arrival_s": round(s.arrival_s, 3), "start_s": round(s.start_s, 3),
                    "end_s": round(s.end_s, 3), "travel_s": round(s.travel_s, 3),
                    "distance_m": round(s.distance_m, 1)}

        return {
            "format": FORMAT, "zone": self.zone, "date": self.day.isoformat(),
            "district": self.district, "source": self.source, "eta_source": self.eta_source,
            "replanned_at": (format_clock(self.replanned_at) if self.replanned_at is not None
                             else None),
            "options": self.options.as_dict(), "summary": self.summary(), "solver": self.solver,
            "crews": [c.as_dict() for c in self.crews],
            "routes": [{"crew_id": r.crew_id, "crew": crews[r.crew_id].name,
                        "units": list(crews[r.crew_id].units),
                        "departure": clock(r.departure_s) if r.stops else None,
                        "return": clock(r.return_s) if r.stops else None,
                        "departure_s": round(r.departure_s, 3),
                        "return_s": round(r.return_s, 3),
                        "duration_min": round(r.duration_s / 60, 1),
                        "distance_m": round(r.distance_m, 1), "travel_s": round(r.travel_s, 3),
                        "lunch": ([clock(r.lunch[0]), clock(r.lunch[1])] if r.lunch else None),
                        "lunch_s": list(r.lunch) if r.lunch else None,
                        "stops": [stop(s, k) for k, s in enumerate(r.stops)]}
                       for r in self.routes],
            "left_out": [asdict(x) for x in self.left_out],
            "other_duty": [asdict(x) for x in self.other_duty],
            "visits": [v.as_dict() for v in self.visits],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DayPlan:
        if d.get("format") != FORMAT:
            raise DayPlanError(f"plan: format {d.get('format')!r} is not {FORMAT!r}")
        try:
            routes = tuple(CrewRoute(
                crew_id=str(r["crew_id"]),
                stops=tuple(PlannedStop(str(s["visit_id"]), float(s["arrival_s"]),
                                        float(s["start_s"]), float(s["end_s"]),
                                        float(s["travel_s"]), float(s["distance_m"]))
                            for s in r["stops"]),
                departure_s=float(r["departure_s"]), return_s=float(r["return_s"]),
                distance_m=float(r["distance_m"]), travel_s=float(r["travel_s"]),
                lunch=tuple(r["lunch_s"]) if r.get("lunch_s") else None)
                for r in d["routes"])
            replanned = d.get("replanned_at")
            return cls(zone=str(d["zone"]), day=date.fromisoformat(d["date"]),
                       district=str(d.get("district", "")),
                       options=DayOptions.from_dict(d.get("options", {})),
                       eta_source=str(d.get("eta_source", "")),
                       crews=tuple(Crew.from_dict(c) for c in d["crews"]),
                       visits=tuple(DayVisit.from_dict(v) for v in d["visits"]),
                       routes=routes,
                       left_out=tuple(LeftOut(**x) for x in d.get("left_out", ())),
                       other_duty=tuple(LeftOut(**x) for x in d.get("other_duty", ())),
                       solver=dict(d.get("solver", {})), source=str(d.get("source", "")),
                       replanned_at=parse_clock(replanned) if replanned else None)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DayPlanError):
                raise
            raise DayPlanError(f"plan: not a readable day plan ({type(exc).__name__}: "
                               f"{exc})") from exc

    def save(self, path: Path | str) -> Path:
        """Write the plan as JSON via a temporary file (never half a file)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1),
                       encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str) -> DayPlan:
        return cls.from_dict(_read_json_file(path, "--plan"))


# -- the routing problem -----------------------------------------------------------------------


@dataclass(frozen=True)
class Matrix:
    """Travel between the places of a day: bases first, then visits (seconds, metres)."""

    lon: np.ndarray
    lat: np.ndarray
    seconds: np.ndarray
    metres: np.ndarray
    eta_source: str
    estimated_pairs: int = 0


def travel_matrix(lon: Sequence[float], lat: Sequence[float], travel: TravelTimes) -> Matrix:
    """Square travel matrix between the points; road pairs with no route are estimated.

    The routing model needs finite numbers; an ``inf`` road pair (possible only on networks
    not built from OSM) takes the straight-line estimate and is counted in
    ``estimated_pairs``.
    """
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    m = travel.matrix(lon_a, lat_a, lon_a, lat_a)
    sec, met = np.array(m.seconds, dtype=float), np.array(m.metres, dtype=float)
    bad = ~(np.isfinite(sec) & np.isfinite(met))
    if bad.any():
        est = EstimateTravelTimes().matrix(lon_a, lat_a, lon_a, lat_a)
        sec[bad], met[bad] = est.seconds[bad], est.metres[bad]
    np.fill_diagonal(sec, 0.0)
    np.fill_diagonal(met, 0.0)
    return Matrix(lon_a, lat_a, sec, met, m.eta_source, int(bad.sum()))


@dataclass(frozen=True)
class Built:
    """A day as a routing problem, with the maps back to crews and visits."""

    problem: RoutingProblem
    crews: tuple[Crew, ...]
    visits: tuple[DayVisit, ...]          # client c is visits[c] (checkpoints excluded)
    checkpoints: dict[int, int]           # client index → vehicle, for re-planning
    matrix: Matrix
    loc_of_crew: tuple[int, ...]
    loc_of_client: tuple[int, ...]


def build_problem(crews: Sequence[Crew], visits: Sequence[DayVisit], matrix: Matrix,
                  base_loc: Mapping[str, int], visit_loc: Mapping[str, int],
                  options: DayOptions, *, windows: Mapping[str, tuple[float, float]] | None = None,
                  required: Iterable[str] = (), frozen: Mapping[int, Sequence[str]] | None = None,
                  checkpoints: Mapping[int, tuple[int, float]] | None = None,
                  shift_start_s: Mapping[int, float] | None = None) -> Built:
    """The routing problem of a day.

    Parameters
    ----------
    base_loc, visit_loc
        Row of the matrix of each crew's base (by crew id) and each visit (by visit id).
    windows
        Start windows in seconds overriding :meth:`DayVisit.start_window` (re-planning pins
        visited stops and keeps the rest after "now").
    required
        Visit ids that must be routed (re-planning: stops already made).
    frozen
        Vehicle → visit ids committed first, in order (re-planning).
    checkpoints
        Vehicle → (matrix row, time in s): a zero-length stop where the crew is at that time
        (re-planning: where it continues from), placed after its frozen stops.
    shift_start_s
        Vehicle → earliest departure, seconds (a crew formed during the day leaves at "now").
    """
    o = options
    s0, s1 = o.shift[0] * 60.0, o.shift[1] * 60.0
    lunch = Break(TimeWindow(o.lunch_window[0] * 60.0, o.lunch_window[1] * 60.0
                             - o.lunch_min * 60.0), o.lunch_min * 60.0)
    locs = sorted({base_loc[c.id] for c in crews})
    depot_of = {loc: k for k, loc in enumerate(locs)}
    depots = tuple(Depot(loc, name=f"base {loc}") for loc in locs)
    must = set(required)
    clients: list[Client] = []
    for v in visits:
        if windows is not None and v.id in windows:
            lo, hi = windows[v.id]
        else:
            w = v.start_window()
            assert w is not None, f"visit {v.id} has no start window; leave it out first"
            lo, hi = w[0] * 60.0, w[1] * 60.0
        clients.append(Client(
            location=visit_loc[v.id], service_s=v.minutes * 60.0,
            windows=(TimeWindow(max(0.0, lo), max(0.0, hi)),),
            skills=frozenset(v.units), required=v.id in must, prize=PRIZE * v.priority,
            name=v.id))
    index = {v.id: c for c, v in enumerate(visits)}
    cps: dict[int, int] = {}
    for veh, (loc, t) in (checkpoints or {}).items():
        cps[len(clients)] = veh
        clients.append(Client(location=loc, service_s=0.0, windows=(TimeWindow(t, t + 1.0),),
                              required=True, name=f"checkpoint {veh}"))
    vtypes = []
    for k, c in enumerate(crews):
        start = (shift_start_s or {}).get(k, s0)
        vtypes.append(VehicleType(
            count=1, start_depot=depot_of[base_loc[c.id]], shift=TimeWindow(start, s1),
            max_duration_s=s1 - start, cost_per_distance=1.0, skills=frozenset(c.units),
            breaks=(lunch,) if o.lunch_min > 0 and lunch.window.latest >= start else (),
            name=c.id))
    prefixes = []
    cp_of = {veh: cl for cl, veh in cps.items()}
    for veh in range(len(crews)):
        seq = [index[vid] for vid in (frozen or {}).get(veh, ())]
        if veh in cp_of:
            seq.append(cp_of[veh])
        if seq:
            prefixes.append(FrozenPrefix(veh, tuple(seq)))
    problem = RoutingProblem(depots=depots, clients=tuple(clients), vehicle_types=tuple(vtypes),
                             travel_time=matrix.seconds, distance=matrix.metres,
                             frozen=tuple(prefixes),
                             coords=np.column_stack([matrix.lon, matrix.lat]))
    return Built(problem, tuple(crews), tuple(visits), cps, matrix,
                 tuple(base_loc[c.id] for c in crews),
                 tuple(visit_loc[v.id] for v in visits))


@dataclass(frozen=True)
class Schedule:
    """Clock times of one route in a fixed order (seconds): (arrival, start, end) per client."""

    departure: float
    times: tuple[tuple[float, float, float], ...]
    lunch: tuple[float, float] | None
    back: float


def schedule_route(p: RoutingProblem, vehicle: int, clients: Sequence[int],
                   prefer: Mapping[int, float] | None = None) -> Schedule | None:
    """The shortest working day for a route whose order is fixed, lunch included.

    Every place for the break is tried (taken where the crew is, before driving on); for
    each, service starts as early as it can and departure is then delayed by the slack
    that only removes waiting. The day with the least time between departure and return
    wins (then the earliest return). With ``prefer`` (client → planned start, seconds; used
    when re-planning) nothing is delayed and the placement keeping starts closest to the
    planned ones wins instead. ``None`` if no placement keeps the route valid.
    """
    vt = p.vehicle(vehicle)
    tt = p.travel_time
    d0 = max(vt.shift.earliest, p.depots[vt.start_depot].window.earliest)
    last = min(vt.shift.latest, p.depots[vt.end].window.latest)
    start_loc, end_loc = p.depots[vt.start_depot].location, p.depots[vt.end].location
    brk = vt.breaks[0] if vt.breaks else None

    def run(depart: float, at: int | None) -> tuple[Schedule, float] | None:
        t, loc = depart, start_loc
        wait, slack = 0.0, math.inf
        times: list[tuple[float, float, float]] = []
        lunch = None
        for i in range(len(clients) + 1):
            if brk is not None and at == i:
                s = max(t, brk.window.earliest)
                if s > brk.window.latest + 1e-6:
                    return None
                wait += s - t
                slack = min(slack, wait + brk.window.latest - s)
                lunch = (s, s + brk.duration_s)
                t = s + brk.duration_s
            if i == len(clients):
                break
            cl = p.clients[clients[i]]
            arr = t + tt[loc, cl.location]
            w = next((w for w in cl.windows if arr <= w.latest + 1e-6), None)
            if w is None:
                return None
            s = max(arr, w.earliest)
            wait += s - arr
            slack = min(slack, wait + w.latest - s)
            times.append((arr, s, s + cl.service_s))
            t, loc = s + cl.service_s, cl.location
        back = t + tt[loc, end_loc]
        if back > last + 1e-6:
            return None
        slack = max(0.0, min(slack, wait + last - back, wait))
        return Schedule(depart, tuple(times), lunch, back), slack

    best: tuple[tuple[float, float], Schedule] | None = None
    for at in (range(len(clients) + 1) if brk is not None else (None,)):
        first = run(d0, at)
        if first is None:
            continue
        sched, slack = first
        if slack > 1e-6 and prefer is None:
            later = run(d0 + slack, at)
            if later is not None and later[0].back <= sched.back + 1e-6:
                sched = later[0]
        key = _schedule_key(sched, clients, prefer)
        if best is None or key < best[0]:
            best = (key, sched)
    return best[1] if best is not None else None


def _schedule_key(sched: Schedule, clients: Sequence[int],
                  prefer: Mapping[int, float] | None) -> tuple[float, float]:
    if prefer is None:
        return (sched.back - sched.departure, sched.back)
    drift = sum(abs(t[1] - prefer[c]) for c, t in zip(clients, sched.times, strict=True)
                if c in prefer)
    return (round(drift), sched.back)


def routes_of(built: Built, result: RoutingResult,
              prefer: Mapping[int, float] | None = None) -> tuple[CrewRoute, ...]:
    """Crew routes (visits only; checkpoints dropped) from a routing result.

    The order and the legs are the solver's; the clock times are :func:`schedule_route`'s
    for that order (the checker's own schedule, which takes lunch at the first place it
    fits, is used only if that finds none). ``prefer`` maps clients to planned starts when
    re-planning.
    """
    p, m = result.problem, built.matrix  # the problem the plan was checked on
    by_vehicle = {r.vehicle: r for r in result.routes}
    out = []
    for veh, crew in enumerate(built.crews):
        r = by_vehicle.get(veh)
        if r is None:
            out.append(CrewRoute(crew.id, (), 0.0, 0.0, 0.0, 0.0, None))
            continue
        sched = schedule_route(p, veh, r.clients, prefer)
        if sched is None:
            sched = Schedule(float(r.departure),
                             tuple((s.arrival, s.start, s.departure) for s in r.stops),
                             (float(r.breaks[0].start), float(r.breaks[0].end))
                             if r.breaks else None, float(r.arrival))
        stops: list[PlannedStop] = []
        prev = built.loc_of_crew[veh]
        travel = 0.0
        for s, (arr, start, end) in zip(r.stops, sched.times, strict=True):
            loc = p.clients[s.client].location
            leg_t, leg_m = float(m.seconds[prev, loc]), float(m.metres[prev, loc])
            travel += leg_t
            if s.client < len(built.visits):  # checkpoints are not stops
                stops.append(PlannedStop(built.visits[s.client].id, float(arr), float(start),
                                         float(end), leg_t, leg_m))
            prev = loc
        travel += float(m.seconds[prev, built.loc_of_crew[veh]])
        lunch = (float(sched.lunch[0]), float(sched.lunch[1])) if sched.lunch else None
        out.append(CrewRoute(crew.id, tuple(stops), float(sched.departure), float(sched.back),
                             float(r.distance), travel, lunch))
    return tuple(out)


# -- the day ----------------------------------------------------------------------------------


def _nn_minutes(matrix: Matrix, rows: Sequence[int]) -> np.ndarray:
    """Per row: mean of the quickest way in and out among the other rows, minutes."""
    if len(rows) < 2:
        return np.zeros(len(rows))
    sub = matrix.seconds[np.ix_(rows, rows)].copy()
    np.fill_diagonal(sub, np.inf)
    return (sub.min(axis=0) + sub.min(axis=1)) / 2 / 60


def shift_reach(v: DayVisit, base_row: int, row: int, matrix: Matrix, options: DayOptions
                ) -> tuple[float, float]:
    """(earliest, latest) start in seconds for a crew from that base, ignoring other visits."""
    w = v.start_window()
    assert w is not None
    s0, s1 = options.shift[0] * 60.0, options.shift[1] * 60.0
    early = max(w[0] * 60.0, s0 + matrix.seconds[base_row, row])
    late = min(w[1] * 60.0, s1 - v.minutes * 60.0 - matrix.seconds[row, base_row])
    return early, late


def plan_day(visits: Sequence[DayVisit], roster: TeamRoster, day: date, *, zone: str,
             travel: TravelTimes, options: DayOptions | None = None, district: str = "",
             source: str = "", progress: ProgressFn | None = None) -> DayPlan:
    """Form the day's crews and route them; see the module docstring.

    Parameters
    ----------
    visits
        The day's visits (:func:`visits_from_calendar`, :func:`sample_visits`).
    roster
        Teams and their officers; certificates decide who may go out on ``day``.
    travel
        Travel times (:func:`geo.traveltime.travel_times_for`); its ``eta_source`` is
        reported.
    progress
        Called with one-line progress messages (for stderr).

    Returns
    -------
    DayPlan
        Always a plan: visits that cannot be served are listed in ``left_out`` with reasons.
    """
    t0 = time.perf_counter()
    options = options or DayOptions()
    options.validate()
    say = progress or (lambda _msg: None)
    ids = [v.id for v in visits]
    dup = [k for k, n in Counter(ids).items() if n > 1]
    if dup:
        raise DayPlanError(f"visits: duplicate visit id {dup[0]!r}")
    for v in visits:
        if v.minutes < 0:
            raise DayPlanError(f"visits[{v.id}].minutes: {v.minutes} must be >= 0")
        if not v.units:
            raise DayPlanError(f"visits[{v.id}].units: at least one unit must inspect")

    # The other duty's visits are listed for its own plan; nothing below needs their places.
    other = [LeftOut(v.id, f"{v.duty}_duty", (
                f"a {v.duty} visit ({v.hours_text()}): routed with the {v.duty} duty's crews "
                f"(duty {v.duty!r}), not in this {options.duty} plan"))
             for v in visits if v.duty != options.duty]
    mine = [v for v in visits if v.duty == options.duty]

    # Places: every base a crew of these units might start from, then the visits.
    units = sorted({u for v in mine for u in v.units})
    bases: dict[str, tuple[float, float]] = {}
    for u in units:
        for t in unit_teams(u, roster):
            bases.setdefault(t.id, (t.base_lon, t.base_lat))
    base_ids = sorted(bases)
    lon = [bases[b][0] for b in base_ids] + [v.lon for v in mine]
    lat = [bases[b][1] for b in base_ids] + [v.lat for v in mine]
    matrix = travel_matrix(lon, lat, travel)
    team_row = {b: k for k, b in enumerate(base_ids)}
    visit_row = {v.id: len(base_ids) + k for k, v in enumerate(mine)}
    say(f"{len(mine)} {options.duty} visits ({len(other)} for the other duty), {len(units)} "
        f"units, travel times: {matrix.eta_source}")

    left: dict[str, tuple[str, str]] = {}
    all_pairs = {u: certified_pairs(u, roster, day, options) for u in units}
    candidates: list[DayVisit] = []
    for v in mine:
        w = v.start_window()
        if w is None:
            left[v.id] = ("opening_hours", f"its {v.hours_text()} leave no time to start "
                          f"{v.minutes} min of checks")
            continue
        base = crew_base(v.units, all_pairs, roster)
        if base is not None:
            early, late = shift_reach(v, team_row[base.id], visit_row[v.id], matrix, options)
            if early > late:
                left[v.id] = ("outside_shift", (
                    f"its {v.hours_text()} do not meet the shift "
                    f"{format_clock(options.shift[0])}-{format_clock(options.shift[1])}: a crew "
                    f"from {base.name} could start at {clock(early)} at the earliest and must "
                    f"start by {clock(late)} to finish {v.minutes} min and be back in time"))
                continue
        candidates.append(v)

    nn = _nn_minutes(matrix, [visit_row[v.id] for v in candidates])
    nn_min = {v.id: float(x) for v, x in zip(candidates, nn, strict=True)}

    def trip(team: Team, fits: Sequence[DayVisit]) -> float:
        rows = [visit_row[v.id] for v in fits]
        b = team_row[team.id]
        return float(np.median(matrix.seconds[b, rows] + matrix.seconds[rows, b])) / 60

    formation = form_crews(candidates, roster, day, options, nn_min, trip)
    left.update(formation.uncovered)
    crews = formation.crews
    say(f"crews: {len(crews)} formed ({formation.stats['status']}): " + ", ".join(
        f"{c.id} {'/'.join(c.units)}" for c in crews))
    routable = tuple(v for v in candidates if v.id not in left)
    solver_info: dict[str, Any] = {"crew_formation": formation.stats}
    routes: tuple[CrewRoute, ...] = tuple(CrewRoute(c.id, (), 0.0, 0.0, 0.0, 0.0) for c in crews)
    if crews and routable:
        base_loc = {c.id: team_row[c.base_team] for c in crews}
        built = build_problem(crews, routable, matrix, base_loc, visit_row, options)
        budget = max(0.5, options.time_limit_s - (time.perf_counter() - t0))
        say(f"routing {len(routable)} visits on {len(crews)} crews, {budget:.1f} s budget")
        result = solve(built.problem, budget, seed=options.seed,
                       progress=_relay(say) if progress else None)
        routes = routes_of(built, result)
        served = {s.visit_id for r in routes for s in r.stops}
        for c, v in enumerate(routable):
            if v.id not in served:
                left[v.id] = explain_unrouted(built, result, c, options)
        solver_info.update({"routing": result.solver, "feasible": result.is_feasible(),
                            "routing_s": round(result.runtime_s, 3),
                            "violations": [x.message for x in result.violations
                                           if x.kind != "unassigned"]})
    elif routable:
        for v in routable:
            left.setdefault(v.id, ("no_certified_crew", "no crew could be formed"))
    solver_info["wall_s"] = round(time.perf_counter() - t0, 3)
    solver_info["estimated_pairs"] = matrix.estimated_pairs
    order = {v.id: k for k, v in enumerate(visits)}
    left_out = tuple(LeftOut(vid, kind, reason) for vid, (kind, reason)
                     in sorted(left.items(), key=lambda kv: order[kv[0]]))
    return DayPlan(zone=zone, day=day, district=district, options=options,
                   eta_source=matrix.eta_source, crews=crews, visits=tuple(visits),
                   routes=routes, left_out=left_out, solver=solver_info, source=source,
                   other_duty=tuple(other))


def _relay(say: ProgressFn) -> Callable[[Progress], None]:
    def show(ev: Progress) -> None:
        if ev.phase in ("first", "done") or ev.elapsed_s >= 1.0:
            say(f"  {ev.elapsed_s:5.1f} s  {ev.phase:8s} cost {ev.cost / 1000:,.1f}")
    return show


def serve_alone(p: RoutingProblem, client: int) -> tuple[list[int], str]:
    """Vehicles that could serve ``client`` after their committed stops with nothing else to
    do, and the first rule broken by the others (a :class:`~planner.result.Violation` kind)."""
    ok: list[int] = []
    first_issue = ""
    for k in range(p.n_vehicles):
        if not p.can_serve(k, client):
            continue
        plan: list[list[int]] = [[] for _ in range(p.n_vehicles)]
        plan[k] = [*p.frozen_prefix(k), client]
        issues = [x for x in evaluate(p, plan).violations
                  if x.kind != "unassigned" and x.vehicle == k]
        if not issues:
            ok.append(k)
        elif not first_issue:
            first_issue = issues[0].kind
    return ok, first_issue


def explain_unrouted(built: Built, result: RoutingResult, client: int, options: DayOptions
                     ) -> tuple[str, str]:
    """(kind, reason) for a visit the solver left out.

    If no compatible crew could serve it even with an otherwise empty day, the first rule it
    breaks is named; otherwise the compatible crews' days are full, with their booked time.
    """
    p = built.problem
    v = built.visits[client]
    vehicles = [k for k in range(p.n_vehicles) if p.can_serve(k, client)]
    if not vehicles:
        return "no_certified_crew", f"no crew of the day includes all of {'/'.join(v.units)}"
    alone_ok, first_issue = serve_alone(p, client)
    names = ", ".join(built.crews[k].id for k in vehicles)
    if not alone_ok:
        what = {"time_window": "cannot be reached inside its start window",
                "return": "cannot be done and be back before the end of the shift",
                "break": "leaves no room for the lunch break",
                "duration": "makes the day longer than the shift"}.get(first_issue, first_issue)
        return "outside_shift", (f"even with nothing else to do, no crew that includes "
                                 f"{'/'.join(v.units)} ({names}) can take it: it {what} "
                                 f"({v.hours_text()}, {v.minutes} min)")
    busy = []
    by_vehicle = {r.vehicle: r for r in result.routes}
    for k in vehicles:
        r = by_vehicle.get(k)
        booked = sum(p.clients[s.client].service_s for s in r.stops) / 60 if r else 0.0
        busy.append(f"{built.crews[k].id} {booked:.0f} min on site"
                    + (f", back {clock(r.arrival)}" if r else ""))
    shift = options.shift[1] - options.shift[0] - options.lunch_min
    return "no_time", (f"the crews that include {'/'.join(v.units)} have no room left for its "
                       f"{v.minutes} min within its {v.hours_text()} ({'; '.join(busy)}; "
                       f"{shift} min of work per crew)")
