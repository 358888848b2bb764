"""综合查一次: what must be checked when, who inspects it, and how checks group into visits.

The inspection calendar (:mod:`planner.calendar`) places *parts* on working days. This module
builds them from a zone's :class:`~planner.objects.Demand`:

Due windows
    Each required visit of an item at an object is a due instant of the phase rule in
    :mod:`planner.items` (``k / r − offset`` in month positions). Its window runs from the day of
    the instant to the day of the next one, cut at the end of the instant's calendar month and
    at the horizon. Items at most monthly fall due on the first of a month, so their window is
    that month, and an object's yearly, twice-yearly and quarterly items share their due month
    (the data aligns them) — that shared month is what makes a combined visit possible.

Who inspects (the *team* of a check)
    The authority competent on the window's first day: the zone's township or hub team
    (the team of the object's township, or the hub team whose "1+X" cluster covers it) when the
    power catalogue has every matter of the item in force for that township; otherwise the
    department's brigades (department and city-level teams serving the item's department code),
    pooled as one team ``dept:<code>``. Items without catalogue matters stay with the department.

Availability and capacity
    A team can inspect on a working day (:func:`dispatch.tickets.sla.is_working_day`) when it
    fields at least one crew: ``officers_per_crew`` officers holding an enforcement certificate
    valid that day (the two-officer minimum of 《行政处罚法》第四十二条 by default), and the day is
    not listed unavailable. Its capacity is crews × (shift − the round trip from its base to
    the zone) minutes, times ``department_share`` for county departments, which serve every
    zone. Each visit also costs a travel allowance (:func:`travel_allowance`).

Night duty
    A check whose hours (the item's visit window, else the object's opening hours) leave no
    room inside the day shift but do at night (:mod:`planner.duty`: 渣土运输夜查, 工地夜间施工
    噪声) cannot take a day crew's time. It books the team's *night duty* instead: up to
    ``night_crews`` of the day's crews, ``night_min`` minutes each less the round trip. The
    capacity arrays hold one row per team for the day duty, then one per team for the night
    duty (a part's ``slot``). Combinable night checks of one object (a venue open only at
    night) still form one joint night visit, never joined with a day visit; the anti-repeat
    rule counts a day and a night visit of one object as separate visits.

Parts
    A *joint* part is what one team checks at one object in one window: all its combinable
    checks there. Parts of different teams placed on the same day at the same object form one
    joint visit with every team present. A stand-alone (non-combinable) check is a part and a
    visit of its own. The *department* parts of the baseline split further by the item's
    department: each department inspects alone, as before 综合查一次.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Literal

import numpy as np

from dispatch.catalog.service import Catalogue
from dispatch.teams.loader import TeamRoster
from dispatch.teams.models import Team
from dispatch.tickets.sla import calendar_source, is_working_day
from geo.traveltime import TravelTimes
from planner.calendar_result import CalendarPlan, Check, SolverStats, TeamDay, Unplaced, Visit
from planner.duty import DAY_SHIFT, duty_of
from planner.items import EPOCH_YEAR, PatrolItem, due_offset, format_window
from planner.objects import Demand

UnitKind = Literal["township", "department"]
PartMode = Literal["joint", "department"]


class CalendarInputError(ValueError):
    """Bad calendar input (options, unavailable days); the message names the field."""


@dataclass(frozen=True)
class CalendarOptions:
    """Knobs of the inspection calendar; every default is documented where it is used.

    Parameters
    ----------
    anti_repeat_days
        No object sees two separate combinable visits within this many calendar days.
    shift_min
        Minutes a crew works on a working day (7.5 h office day).
    officers_per_crew
        Certified officers a crew needs (《行政处罚法》第四十二条: 执法人员不得少于两人).
    department_share
        Share of a county department's crews this zone's plan may use (0–1].
    visits_per_crew_day
        Stops a crew makes in a day, used to size the travel allowance.
    unavailable
        Days a team cannot inspect: key a department code (``"scjg"``), a team id
        (``"CS01-zfd"``) or a township code of the zone (its township/hub team).
    time_limit_s
        Wall-clock budget of the solver over the whole horizon, seconds.
    num_workers
        CP-SAT search workers.
    decompose
        ``"month"`` solves month by month (windows never cross a month), each month fixed
        before the next; ``"none"`` solves the horizon in one model.
    seed
        Seed of the travel sampling and the baseline's tie-breaking.
    day_shift
        The day crews' office hours (minutes after midnight); a check that cannot be made
        inside them but can at night goes to the night duty (:mod:`planner.duty`).
    night_crews
        Crews a team may send out on a working day's night duty (夜查); 0: none.
    night_min
        Minutes a night crew works.
    """

    anti_repeat_days: int = 7
    shift_min: int = 450
    officers_per_crew: int = 2
    department_share: float = 1.0
    visits_per_crew_day: int = 8
    unavailable: Mapping[str, Iterable[date]] = field(default_factory=dict)
    time_limit_s: float = 50.0
    num_workers: int = 2
    decompose: Literal["month", "none"] = "month"
    seed: int = 7
    day_shift: tuple[int, int] = DAY_SHIFT
    night_crews: int = 1
    night_min: int = 300

    def validate(self) -> None:
        checks = (
            ("anti_repeat_days", self.anti_repeat_days, 0, 92),
            ("shift_min", self.shift_min, 30, 24 * 60),
            ("officers_per_crew", self.officers_per_crew, 1, 10),
            ("visits_per_crew_day", self.visits_per_crew_day, 1, 100),
            ("num_workers", self.num_workers, 1, 64),
            ("night_crews", self.night_crews, 0, 10),
            ("night_min", self.night_min, 30, 12 * 60),
        )
        for name, value, lo, hi in checks:
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise CalendarInputError(f"{name}: {value!r} must be a whole number from {lo} "
                                         f"to {hi}")
        if not 0 < self.department_share <= 1:
            raise CalendarInputError(f"department_share: {self.department_share!r} must be > 0 "
                                     "and ≤ 1")
        if not self.time_limit_s > 0:
            raise CalendarInputError(f"time_limit_s: {self.time_limit_s!r} must be > 0")
        if self.decompose not in ("month", "none"):
            raise CalendarInputError(f"decompose: {self.decompose!r} is not month or none")
        s0, s1 = self.day_shift
        if not 0 <= s0 < s1 <= 24 * 60:
            raise CalendarInputError(f"day_shift: {format_window(self.day_shift)} must start "
                                     "before it ends, within the day")

    def as_dict(self) -> dict[str, object]:
        return {"anti_repeat_days": self.anti_repeat_days, "shift_min": self.shift_min,
                "officers_per_crew": self.officers_per_crew,
                "department_share": self.department_share,
                "visits_per_crew_day": self.visits_per_crew_day,
                "unavailable": {k: sorted(d.isoformat() for d in v)
                                for k, v in self.unavailable.items()},
                "time_limit_s": self.time_limit_s, "num_workers": self.num_workers,
                "decompose": self.decompose, "seed": self.seed,
                "day_shift": format_window(self.day_shift), "night_crews": self.night_crews,
                "night_min": self.night_min}


# -- due windows --------------------------------------------------------------------------------


def _month_start(m: int) -> date:
    y, mo = divmod(m, 12)
    return date(EPOCH_YEAR + y, mo + 1, 1)


def _position(day: date) -> Fraction:
    """Month position of a day (see :mod:`planner.items`)."""
    m = 12 * (day.year - EPOCH_YEAR) + day.month - 1
    dim = (_month_start(m + 1) - _month_start(m)).days
    return m + Fraction(day.day - 1, dim)


def _day_of(p: Fraction) -> date:
    """The day whose span of month positions holds ``p``."""
    m = math.floor(p)
    start = _month_start(m)
    dim = (_month_start(m + 1) - start).days
    return start + timedelta(days=math.floor((p - m) * dim))


def due_windows(rate: Fraction, offset: int, start: date, end: date
                ) -> list[tuple[date, date, date]]:
    """(due day, window start, window end exclusive) of each due instant in ``[start, end)``.

    Same instants as :func:`planner.items.required_visits` (``ceil(r · (position + offset))``
    instants lie before a day), so the count always equals the required visits.
    """
    lo = math.ceil(rate * (_position(start) + offset))
    hi = math.ceil(rate * (_position(end) + offset))
    out = []
    for k in range(lo, hi):
        p = Fraction(k) / rate - offset
        due = _day_of(p)
        w_end = min(_day_of(p + 1 / rate), _month_start(math.floor(p) + 1), end)
        out.append((due, max(due, start), max(w_end, due + timedelta(days=1))))
    return out


# -- teams --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A team as the calendar sees it: the zone's township/hub team or a pooled department."""

    key: str
    name: str
    kind: UnitKind
    teams: tuple[Team, ...]
    department: str | None = None

    @property
    def team_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.teams)


@dataclass(frozen=True)
class ItemVisit:
    """One required visit of one item at one object, with its window and who inspects it.

    ``unit`` is -1 when nobody can (``reason`` says why, ``kind`` classifies it).
    """

    obj: int
    item: int
    seq: int
    due: date
    start: date
    end: date
    department: str
    unit: int
    reason: str = ""
    kind: str = ""


@dataclass(frozen=True)
class Part:
    """What one team checks at one object in one window, placed on one day by the calendar.

    ``cand`` holds the working-day indices it may use (window, team available, capacity at
    least its load); ``load_min`` is the team's minutes for it including travel. ``slot`` is
    its row in the capacity arrays: ``unit`` for the day duty, ``unit`` + the number of
    teams for the night duty (``night``).
    """

    id: int
    obj: int
    unit: int
    visits: tuple[int, ...]
    combinable: bool
    start: date
    end: date
    load_min: int
    cand: np.ndarray
    department: str | None = None
    night: bool = False
    slot: int = -1


def _catalogue_holds(cat: Catalogue, item: PatrolItem, township: str, day: date) -> bool:
    return bool(item.matters) and all(
        any(phase == "in_force" for _, phase in cat.states_at(m, township, day))
        for m in item.matters)


def travel_allowance(demand: Demand, travel: TravelTimes, stops: int, seed: int,
                     draws: int = 24) -> tuple[float, dict[str, object]]:
    """Minutes of travel to charge each visit, and how it was found.

    A crew's day is a tour of about ``stops`` objects of the zone; the time from one stop to
    the next is estimated as the mean travel time from an object to its nearest neighbour
    among ``stops`` objects drawn at random from the zone (``draws`` seeded draws, one travel
    matrix). Dense streets give a few minutes, scattered villages much more. The routing stage
    replaces this allowance with real routes.
    """
    n = len(demand)
    if n < 2:
        return 0.0, {"method": "too few objects", "eta_source": travel.eta_source}
    rng = np.random.default_rng(seed)
    k = min(max(stops, 2), n)
    groups = [rng.choice(n, size=k, replace=False) for _ in range(draws)]
    pts = np.unique(np.concatenate(groups))
    pos = {int(p): i for i, p in enumerate(pts)}
    m = travel.matrix(demand.lon[pts], demand.lat[pts], demand.lon[pts], demand.lat[pts])
    sec = np.array(m.seconds, dtype=float)
    nn = []
    for g in groups:
        idx = [pos[int(p)] for p in g]
        sub = sec[np.ix_(idx, idx)]
        np.fill_diagonal(sub, np.inf)
        best = sub.min(axis=1)
        nn.extend(best[np.isfinite(best)].tolist())
    minutes = float(np.mean(nn)) / 60.0 if nn else 0.0
    return minutes, {"method": f"mean nearest-neighbour travel among {k} random objects of "
                               f"the zone ({draws} draws)",
                     "minutes_per_visit": round(minutes, 2), "eta_source": m.eta_source}


def _depot_round_trip(teams: Sequence[Team], demand: Demand, travel: TravelTimes,
                      sample: np.ndarray) -> float:
    """Minutes from the nearest base of ``teams`` to the zone's objects and back (median)."""
    if not teams or sample.size == 0:
        return 0.0
    lon = [t.base_lon for t in teams]
    lat = [t.base_lat for t in teams]
    sec = np.asarray(travel.matrix(lon, lat, demand.lon[sample], demand.lat[sample]).seconds)
    med = np.median(np.where(np.isfinite(sec), sec, np.nan), axis=1)
    med = med[np.isfinite(med)]
    return 2.0 * float(med.min()) / 60.0 if med.size else 0.0


# -- the instance -------------------------------------------------------------------------------


@dataclass
class CalendarInstance:
    """Everything the calendar and the baseline place, for one zone and horizon.

    Arrays over teams × working days: ``officers`` (certified that day) and ``crews``;
    ``capacity`` (minutes) and ``available`` have a row per team for the day duty, then one
    per team for the night duty (see the module docstring).
    """

    demand: Demand
    options: CalendarOptions
    days: tuple[date, ...]
    ordinal: np.ndarray
    units: tuple[Unit, ...]
    officers: np.ndarray
    crews: np.ndarray
    capacity: np.ndarray
    available: np.ndarray
    unavailable: np.ndarray
    visits: tuple[ItemVisit, ...]
    travel_min: float
    travel: dict[str, object]
    depot_min: np.ndarray
    department_names: dict[str, str]
    township_names: dict[str, str]
    horizon_days: int

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def build(cls, demand: Demand, roster: TeamRoster, catalogue: Catalogue,
              travel: TravelTimes, options: CalendarOptions | None = None
              ) -> CalendarInstance:
        """Derive days, teams, availability, due windows and travel for ``demand``."""
        options = options or CalendarOptions()
        options.validate()
        start, end = demand.start, demand.end
        horizon = (end - start).days
        if horizon <= 0:
            raise CalendarInputError(f"horizon: end {end} must be after start {start}")
        if horizon > 400:
            raise CalendarInputError(f"horizon: {horizon} days; plan at most a year at a time")
        days = tuple(start + timedelta(days=i) for i in range(horizon)
                     if is_working_day(start + timedelta(days=i)))
        ordinal = np.array([(d - start).days for d in days], dtype=np.int64)
        district = catalogue.district
        towns = {t.code: t.name for t in district.townships}
        zone_towns = sorted({o.township for o in demand.objects})

        # Teams: the township/hub team of each township in the zone, then departments.
        units: list[Unit] = []
        town_unit: dict[str, int] = {}
        for code in zone_towns:
            team = _township_team(roster, code)
            if team is None:
                continue
            key = team.id
            if key not in {u.key for u in units}:
                units.append(Unit(key, team.name, "township", (team,)))
            town_unit[code] = next(i for i, u in enumerate(units) if u.key == key)
        dept_names = {code: d.name for code, d in catalogue.departments.items()}
        dept_unit: dict[str, int] = {}
        needed = sorted({it.department for it in demand.items})
        for code in needed:
            teams = tuple(t for t in roster.teams
                          if t.kind in ("department", "city") and t.department == code)
            if teams:
                dept_unit[code] = len(units)
                units.append(Unit(f"dept:{code}", dept_names.get(code, code), "department",
                                  teams, code))

        # Unavailable days per team, keyed by department code, team id or township code.
        unavail = np.zeros((len(units), len(days)), dtype=bool)
        day_index = {d: i for i, d in enumerate(days)}
        aliases = [{u.key, *u.team_ids, *([u.department] if u.department else []),
                    *(c for c, k in town_unit.items() if k == i)}
                   for i, u in enumerate(units)]
        for key, dates in options.unavailable.items():
            hit = [i for i, names in enumerate(aliases) if key in names]
            if not hit:
                known = sorted({a for names in aliases for a in names})
                raise CalendarInputError(
                    f"unavailable: {key!r} names no team of this zone's plan "
                    f"(known: {', '.join(known)})")
            for d in dates:
                if not isinstance(d, date):
                    raise CalendarInputError(f"unavailable[{key!r}]: {d!r} is not a date")
                if d in day_index:
                    unavail[hit, day_index[d]] = True

        officers = np.zeros((len(units), len(days)), dtype=np.int64)
        for u, unit in enumerate(units):
            for i, d in enumerate(days):
                officers[u, i] = sum(len(t.certified_on(d)) for t in unit.teams)
        crews = officers // options.officers_per_crew

        allowance, info = travel_allowance(demand, travel, options.visits_per_crew_day,
                                           options.seed)
        rng = np.random.default_rng(options.seed)
        sample = (rng.choice(len(demand), size=min(len(demand), 60), replace=False)
                  if len(demand) else np.empty(0, dtype=np.int64))
        depot = np.array([_depot_round_trip(u.teams, demand, travel, sample) for u in units])
        share = np.array([1.0 if u.kind == "township" else options.department_share
                          for u in units])
        per_crew = np.maximum(options.shift_min - depot, 0.0) * share
        per_night = np.maximum(options.night_min - depot, 0.0) * share
        capacity = np.vstack([
            np.floor(crews * per_crew[:, None]),
            np.floor(np.minimum(crews, options.night_crews) * per_night[:, None]),
        ]).astype(np.int64)
        off = np.vstack([~unavail & (crews > 0)] * 2)
        available = off & (capacity > 0)
        info["depot_round_trip_min"] = {u.key: round(float(x), 1)
                                        for u, x in zip(units, depot, strict=True)}

        visits = _item_visits(demand, catalogue, town_unit, dept_unit, units, towns)
        return cls(demand=demand, options=options, days=days, ordinal=ordinal,
                   units=tuple(units), officers=officers, crews=crews, capacity=capacity,
                   available=available, unavailable=unavail, visits=tuple(visits),
                   travel_min=allowance, travel=info, depot_min=depot,
                   department_names=dept_names, township_names=towns, horizon_days=horizon)

    # -- derived views --------------------------------------------------------------------

    @property
    def calendar_source(self) -> str:
        """Where working days come from; "provisional" if any year is Monday–Friday only."""
        years = range(self.demand.start.year, self.demand.end.year + 1)
        sources = {calendar_source(date(y, 6, 1)) for y in years}
        for s in ("provisional", "override"):
            if s in sources:
                return s
        return "chinesecalendar"

    def day_range(self, start: date, end: date) -> np.ndarray:
        """Working-day indices inside ``[start, end)``."""
        a = np.searchsorted(self.ordinal, (start - self.demand.start).days, side="left")
        b = np.searchsorted(self.ordinal, (end - self.demand.start).days, side="left")
        return np.arange(a, b)

    def load(self, items: Sequence[int], combinable: bool) -> int:
        """Team minutes of a part: setup once, each item's own time, and travel."""
        setup = self.demand.visit_setup_min
        its = [self.demand.items[k] for k in items]
        if combinable:
            on_site = setup + sum(i.duration_min - setup for i in its)
        else:
            on_site = sum(i.duration_min for i in its)
        return math.ceil(on_site + self.travel_min)

    @property
    def n_units(self) -> int:
        return len(self.units)

    def is_night(self, iv: ItemVisit) -> bool:
        """True when the check can only be made on the night duty (:mod:`planner.duty`)."""
        obj, item = self.demand.objects[iv.obj], self.demand.items[iv.item]
        return duty_of(obj.open_min, obj.close_min, item.visit_window, item.duration_min,
                       self.options.day_shift) == "night"

    def parts(self, mode: PartMode) -> list[Part]:
        """Group the placeable checks into parts (see the module docstring)."""
        groups: dict[tuple, list[int]] = defaultdict(list)
        night: set[int] = set()
        for v, iv in enumerate(self.visits):
            if iv.unit < 0:
                continue
            item = self.demand.items[iv.item]
            if self.is_night(iv):
                night.add(v)
            if not item.combinable:
                key: tuple = ("solo", v)
            elif mode == "joint":
                key = (iv.obj, iv.start, iv.end, iv.unit, v in night)
            else:
                key = (iv.obj, iv.start, iv.end, iv.unit, iv.department, v in night)
            groups[key].append(v)
        parts = []
        for members in groups.values():
            first = self.visits[members[0]]
            is_night = members[0] in night
            comb = self.demand.items[first.item].combinable
            load = self.load([self.visits[v].item for v in members], comb)
            window = self.day_range(first.start, first.end)
            slot = first.unit + self.n_units * is_night
            ok = self.available[slot, window] & (self.capacity[slot, window] >= load)
            parts.append(Part(
                id=len(parts), obj=first.obj, unit=first.unit, visits=tuple(members),
                combinable=comb, start=first.start, end=first.end, load_min=load,
                cand=window[ok],
                department=first.department if mode == "department" or not comb else None,
                night=is_night, slot=slot))
        parts.sort(key=lambda p: (p.start, p.obj, p.unit, p.visits))
        return [replace(p, id=i) for i, p in enumerate(parts)]

    def spacing(self, parts: Sequence[Part]) -> dict[tuple[int, int], int]:
        """(earlier part, later part) → least calendar days between them (same item, object)."""
        part_of = {v: p.id for p in parts for v in p.visits}
        chains: dict[tuple[int, int], list[ItemVisit]] = defaultdict(list)
        for v, iv in enumerate(self.visits):
            if v in part_of:
                chains[(iv.obj, iv.item)].append(iv)
        index = {id(iv): v for v, iv in enumerate(self.visits)}
        out: dict[tuple[int, int], int] = {}
        for (_, k), chain in chains.items():
            gap = self.demand.items[k].min_spacing_days
            if gap <= 0:
                continue
            chain.sort(key=lambda iv: iv.seq)
            for a, b in pairwise(chain):
                key = (part_of[index[id(a)]], part_of[index[id(b)]])
                out[key] = max(out.get(key, 0), gap)
        return out

    def why_no_day(self, part: Part) -> tuple[str, str]:
        """(kind, reason) for a part with no candidate day at all."""
        unit = self.units[part.unit]
        window = self.day_range(part.start, part.end)
        span = f"{part.start.isoformat()}–{(part.end - timedelta(days=1)).isoformat()}"
        if window.size == 0:
            return "no_working_day", f"the due window {span} has no working day"
        off = self.officers[part.unit, window]
        if off.max() == 0:
            return "no_certified_officer", (
                f"no certified officer in {unit.name} ({unit.key}) on any working day of "
                f"{span}: no member holds an enforcement certificate valid then")
        if self.crews[part.unit, window].max() == 0:
            return "no_certified_officer", (
                f"{unit.name} ({unit.key}) has at most {int(off.max())} certified officer(s) "
                f"in {span}; a crew needs {self.options.officers_per_crew}")
        crew_days = self.crews[part.unit, window] > 0
        if not (crew_days & ~self.unavailable[part.unit, window]).any():
            return "unavailable", (f"{unit.name} ({unit.key}) is marked unavailable on every "
                                   f"working day of {span}")
        if part.night and self.options.night_crews == 0:
            return "no_night_duty", (f"a night check (its hours leave no room in the day shift "
                                     f"{format_window(self.options.day_shift)}) and the plan "
                                     "fields no night crews (night_crews 0)")
        duty = "night duty" if part.night else "day"
        return "capacity", (f"the visit needs {part.load_min} min but {unit.name} "
                            f"({unit.key}) has at most "
                            f"{int(self.capacity[part.slot, window].max())} min on a {duty} "
                            f"in {span}")


def _township_team(roster: TeamRoster, township: str) -> Team | None:
    for t in roster.teams:
        if t.kind == "township" and t.township == township:
            return t
    for t in roster.teams:
        if t.kind == "hub" and township in t.serves:
            return t
    return None


def _item_visits(demand: Demand, catalogue: Catalogue, town_unit: dict[str, int],
                 dept_unit: dict[str, int], units: list[Unit], towns: dict[str, str]
                 ) -> list[ItemVisit]:
    held: dict[tuple[str, str, date], bool] = {}
    kidx = {it.code: k for k, it in enumerate(demand.items)}
    out = []
    for i, obj in enumerate(demand.objects):
        offset = due_offset(obj.id)
        for req in demand.requirements(i):
            item = req.item
            k = kidx[item.code]
            windows = due_windows(item.rates[obj.risk_grade], offset, demand.start, demand.end)
            if len(windows) != req.visits:  # both apply the same phase rule
                raise AssertionError(f"{obj.id}/{item.code}: {len(windows)} windows for "
                                     f"{req.visits} required visits")
            for seq, (due, ws, we) in enumerate(windows):
                key = (item.code, obj.township, ws)
                if key not in held:
                    held[key] = _catalogue_holds(catalogue, item, obj.township, ws)
                unit, reason, kind = -1, "", ""
                if held[key]:
                    if obj.township in town_unit:
                        unit = town_unit[obj.township]
                    else:
                        kind = "no_team"
                        reason = (f"{towns.get(obj.township, obj.township)} holds item "
                                  f"{item.code}'s matters but the roster has no township or "
                                  "hub team covering it")
                elif item.department in dept_unit:
                    unit = dept_unit[item.department]
                else:
                    kind = "no_team"
                    reason = (f"no team of department {item.department} "
                              f"({catalogue.departments[item.department].name if item.department in catalogue.departments else item.department}) "  # noqa: E501
                              f"in the roster, and {towns.get(obj.township, obj.township)} "
                              f"does not hold item {item.code}'s matters")
                out.append(ItemVisit(i, k, seq, due, ws, we, item.department, unit, reason,
                                     kind))
    return out


# -- greedy placement ---------------------------------------------------------------------------


def repeats_visit(visited: Iterable[tuple[int, bool]], d: int, night: bool,
                  ordinal: np.ndarray, gap: int) -> bool:
    """True when a combinable visit on working day ``d`` (``night``: on the night duty) would
    be a separate visit within ``gap`` days of an object's ``visited`` (day, night) visits.

    The anti-repeat rule as the greedy placement, the solver's candidate days and the
    diagnosis all apply it: the same day and duty is the same (joint) visit; a day and a
    night visit are separate.
    """
    t = int(ordinal[d])
    return any((h, hn) != (d, night) and abs(int(ordinal[h]) - t) < gap for h, hn in visited)


@dataclass
class Placement:
    """Day index per part (-1: not placed) and the team minutes booked per working day."""

    day: np.ndarray
    booked: np.ndarray


def place_greedy(inst: CalendarInstance, parts: Sequence[Part],
                 spacing: Mapping[tuple[int, int], int], *, coordinate: bool,
                 fixed: Mapping[int, int] | None = None, only: Iterable[int] | None = None,
                 rng: np.random.Generator | None = None) -> Placement:
    """Place parts on days, first fit by window, respecting every hard rule.

    ``coordinate=True`` is the joint planner's construction (and the solver's hint): an
    object's combinable parts of one window go to one day every team can make, preferring a
    day the object is already visited, else the day that keeps the busiest of those teams
    least loaded; the anti-repeat rule holds. ``coordinate=False`` is the baseline: each part
    is placed by its own department, on the day its team is least loaded (ties broken at
    random), with no regard for other departments. ``fixed`` pins parts already placed
    (earlier months); ``only`` limits placement to some parts.
    """
    n_days = len(inst.days)
    day = np.full(len(parts), -1, dtype=np.int64)
    booked = np.zeros_like(inst.capacity)
    cap = inst.capacity
    ordn = inst.ordinal
    gap_n = inst.options.anti_repeat_days
    preds: dict[int, list[tuple[int, int]]] = defaultdict(list)
    succs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (a, b), g in spacing.items():
        preds[b].append((a, g))
        succs[a].append((b, g))
    obj_days: dict[int, set[tuple[int, bool]]] = defaultdict(set)  # (day, night) visited

    def put(p: Part, d: int) -> None:
        day[p.id] = d
        booked[p.slot, d] += p.load_min
        if p.combinable:
            obj_days[p.obj].add((d, p.night))

    for pid, d in (fixed or {}).items():
        put(parts[pid], d)

    def ok(p: Part, d: int) -> bool:
        if booked[p.slot, d] + p.load_min > cap[p.slot, d]:
            return False
        t = ordn[d]
        for q, g in preds[p.id]:
            if day[q] >= 0 and t - ordn[day[q]] < g:
                return False
        for q, g in succs[p.id]:
            if day[q] >= 0 and ordn[day[q]] - t < g:
                return False
        return not (coordinate and p.combinable
                    and repeats_visit(obj_days[p.obj], d, p.night, ordn, gap_n))

    def util(u: int, d: int, extra: int) -> float:
        return (booked[u, d] + extra) / cap[u, d] if cap[u, d] > 0 else math.inf

    allowed = None if only is None else set(only)
    todo = [p for p in parts if day[p.id] < 0 and (allowed is None or p.id in allowed)]
    if not coordinate:
        rng = rng or np.random.default_rng(inst.options.seed)
        jitter = rng.random(n_days)
        for p in sorted(todo, key=lambda p: (p.start, p.cand.size)):
            best = [d for d in p.cand.tolist() if ok(p, d)]
            if best:
                put(p, min(best, key=lambda d: (util(p.slot, d, p.load_min), jitter[d])))
        return Placement(day, booked)

    slots: dict[tuple, list[Part]] = defaultdict(list)
    for p in todo:
        slots[(p.obj, p.start, p.end, p.night) if p.combinable else ("solo", p.id)].append(p)

    def common(ps: list[Part]) -> np.ndarray:
        c = ps[0].cand
        for q in ps[1:]:
            c = np.intersect1d(c, q.cand, assume_unique=True)
        return c

    order = sorted(slots.values(), key=lambda ps: (ps[0].start, common(ps).size, ps[0].obj))
    for ps in order:
        c = common(ps)
        if len(ps) > 1 and c.size:
            fits = [d for d in c.tolist() if all(ok(p, d) for p in ps)]
            if fits:
                d = min(fits, key=lambda d: ((d, ps[0].night) not in obj_days[ps[0].obj],
                                             max(util(p.slot, d, p.load_min) for p in ps)))
                for p in ps:
                    put(p, d)
                continue
        for p in ps:  # alone, or no common day: each team on its own best day
            fits = [d for d in p.cand.tolist() if ok(p, d)]
            if fits:
                put(p, min(fits, key=lambda d: (p.combinable
                                                and (d, p.night) not in obj_days[p.obj],
                                                util(p.slot, d, p.load_min))))
    return Placement(day, booked)


# -- from placements to a plan ------------------------------------------------------------------


def diagnose(inst: CalendarInstance, parts: Sequence[Part], spacing: Mapping[tuple[int, int], int],
             day: np.ndarray, booked: np.ndarray, pid: int, coordinate: bool) -> tuple[str, str]:
    """(kind, reason) why part ``pid`` has no day in a finished placement."""
    p = parts[pid]
    if p.cand.size == 0:
        return inst.why_no_day(p)
    unit = inst.units[p.unit]
    ordn = inst.ordinal
    span = f"{p.start.isoformat()}–{(p.end - timedelta(days=1)).isoformat()}"
    free = [d for d in p.cand.tolist()
            if booked[p.slot, d] + p.load_min <= inst.capacity[p.slot, d]]
    if not free:
        window = inst.day_range(p.start, p.end)
        cap = int(inst.capacity[p.slot, window].sum())
        need = sum(q.load_min for q in parts if q.slot == p.slot and q.cand.size
                   and p.start <= q.start and q.end <= p.end)
        over = f", exceeded by {need - cap} min" if need > cap else ""
        duty = "night-duty " if p.night else ""
        return "capacity", (
            f"{duty}capacity of {unit.name} ({unit.key}) on the {int(window.size)} working days "
            f"of {span} is {cap} min; the {duty}visits due there need {need} min{over}; no day "
            f"has {p.load_min} min left for this one")
    others = [(int(day[q.id]), q.night) for q in parts
              if q.obj == p.obj and q.combinable and q.id != pid and day[q.id] >= 0]
    kinds = set()
    for d in free:
        t = int(ordn[d])
        near = [(a, b, g) for (a, b), g in spacing.items() if pid in (a, b)]
        if any(day[b if a == pid else a] >= 0
               and abs(t - int(ordn[day[b if a == pid else a]])) < g for a, b, g in near):
            kinds.add("spacing")
        elif coordinate and p.combinable and repeats_visit(
                others, d, p.night, ordn, inst.options.anti_repeat_days):
            kinds.add("anti_repeat")
        else:
            kinds.add("open")
    if "open" in kinds:
        return "not_placed", (f"a day of {span} was still open; the solver stopped at its time "
                              "limit without placing this visit")
    if kinds == {"spacing"}:
        return "spacing", (f"every day of {span} with capacity left is too close to another "
                           "visit of the same item at this object (minimum spacing)")
    return "anti_repeat", (
        f"the days of {span} with capacity left are too close to other visits of this object "
        f"(spacing, or another visit within {inst.options.anti_repeat_days} days whose teams "
        "could not join this one)")


def assemble_plan(inst: CalendarInstance, parts: Sequence[Part], day: np.ndarray,
                  reasons: Mapping[int, tuple[str, str]], solver: SolverStats, *,
                  merge: bool) -> CalendarPlan:
    """Turn placed parts into visits: with ``merge``, an object's combinable parts on one day
    are one (joint) visit; without, every part is a trip of its own (the baseline)."""
    dem = inst.demand
    setup = dem.visit_setup_min
    groups: dict[tuple, list[Part]] = defaultdict(list)
    for p in parts:
        d = int(day[p.id])
        if d >= 0:
            key = (p.obj, d, p.night) if (merge and p.combinable) else ("part", p.id)
            groups[key].append(p)
    booked = np.zeros_like(inst.capacity)
    visits = []
    for ps in groups.values():
        d = int(day[ps[0].id])
        obj = dem.objects[ps[0].obj]
        checks = []
        team_min: dict[str, int] = {}
        for p in ps:
            key = inst.units[p.unit].key
            team_min[key] = team_min.get(key, 0) + p.load_min
            booked[p.slot, d] += p.load_min
            for v in p.visits:
                iv = inst.visits[v]
                it = dem.items[iv.item]
                checks.append(Check(it.code, it.name, it.department, key, iv.due, iv.start,
                                    iv.end))
        its = [dem.items[inst.visits[v].item] for p in ps for v in p.visits]
        comb = ps[0].combinable
        minutes = (setup + sum(i.duration_min - setup for i in its) if comb
                   else sum(i.duration_min for i in its))
        visits.append(Visit(inst.days[d], obj.id, obj.name, obj.township,
                            tuple(sorted(checks, key=lambda c: c.item)), comb, minutes,
                            dict(sorted(team_min.items())),
                            "night" if ps[0].night else "day"))
    visits.sort(key=lambda v: (v.day, v.object_id, v.teams))

    unplaced = []
    for p in parts:
        if day[p.id] < 0:
            kind, reason = reasons.get(p.id, ("unknown", "not placed"))
            for v in p.visits:
                unplaced.append(_unplaced(inst, inst.visits[v], inst.units[p.unit].key,
                                          kind, reason))
    for iv in inst.visits:
        if iv.unit < 0:
            unplaced.append(_unplaced(inst, iv, None, iv.kind, iv.reason))
    unplaced.sort(key=lambda u: (u.start, u.object_id, u.item))

    n = inst.n_units
    workload = tuple(
        TeamDay(u.key, d, int(inst.officers[i, k]), bool(inst.available[i, k]),
                int(inst.capacity[i, k]), int(booked[i, k]), bool(inst.available[n + i, k]),
                int(inst.capacity[n + i, k]), int(booked[n + i, k]))
        for i, u in enumerate(inst.units) for k, d in enumerate(inst.days))
    zone = dem.area.name if dem.area is not None else "objects"
    return CalendarPlan(
        zone=zone, start=dem.start, end=dem.end, calendar_source=inst.calendar_source,
        working_days=inst.days, visits=tuple(visits), unplaced=tuple(unplaced),
        workload=workload, teams={u.key: u.name for u in inst.units},
        departments=dict(inst.department_names), townships=dict(inst.township_names),
        object_ids=tuple(o.id for o in dem.objects),
        spacing_days={it.code: it.min_spacing_days for it in dem.items},
        anti_repeat_days=inst.options.anti_repeat_days,
        solver=solver, travel=dict(inst.travel), options=inst.options.as_dict())


def _unplaced(inst: CalendarInstance, iv: ItemVisit, team: str | None, kind: str, reason: str
              ) -> Unplaced:
    obj = inst.demand.objects[iv.obj]
    item = inst.demand.items[iv.item]
    return Unplaced(obj.id, item.code, item.department, team, iv.due, iv.start, iv.end, kind,
                    reason)
