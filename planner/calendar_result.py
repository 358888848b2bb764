"""The inspection calendar as plain data: visits per working day, what could not be placed and
why, team workloads, metrics and solver figures; an independent checker; public exports.

A :class:`CalendarPlan` carries what it needs to be checked on its own (:meth:`CalendarPlan.
problems`): the window of every check, each item's minimum spacing, every team's capacity and
availability per working day and the anti-repeat distance. The joint-inspection plan that a
zone publishes (联合行政检查年度计划, 厦湖府办〔2024〕11号 §三(六)3) is exported by
:func:`write_public_csv` and :func:`write_public_xlsx`: object, township, date, departments
and items only — never an officer's name or certificate.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

WEEKDAY_ZH = "一二三四五六日"


@dataclass(frozen=True)
class Check:
    """One item checked on a visit, by which team, for which due window ``[start, end)``."""

    item: str
    name: str
    department: str
    team: str
    due: date
    start: date
    end: date

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item, "name": self.name, "department": self.department,
                "team": self.team, "due": self.due.isoformat(),
                "window": [self.start.isoformat(), (self.end - timedelta(days=1)).isoformat()]}


@dataclass(frozen=True)
class Visit:
    """One trip to one object on one day.

    ``joint`` is true when more than one team must be present (联合检查); ``combinable`` is
    false for a stand-alone check that always needs its own trip. ``minutes`` is the time on
    site of all its checks (setup once, :meth:`planner.items.ItemList.visit_duration`);
    ``team_minutes`` is what each team books for it, travel allowance included. ``duty`` is
    ``"night"`` for a check made on the teams' night duty (:mod:`planner.duty`).
    """

    day: date
    object_id: str
    object_name: str
    township: str
    checks: tuple[Check, ...]
    combinable: bool
    minutes: int
    team_minutes: dict[str, int]
    duty: str = "day"

    @property
    def teams(self) -> tuple[str, ...]:
        return tuple(sorted(self.team_minutes))

    @property
    def departments(self) -> tuple[str, ...]:
        return tuple(sorted({c.department for c in self.checks}))

    @property
    def items(self) -> tuple[str, ...]:
        return tuple(c.item for c in self.checks)

    @property
    def joint(self) -> bool:
        return len(self.team_minutes) > 1

    def as_dict(self) -> dict[str, Any]:
        return {"object_id": self.object_id, "object_name": self.object_name,
                "township": self.township, "items": list(self.items),
                "departments": list(self.departments), "teams": list(self.teams),
                "joint": self.joint, "combinable": self.combinable, "duty": self.duty,
                "minutes": self.minutes, "team_minutes": dict(self.team_minutes),
                "checks": [c.as_dict() for c in self.checks]}


@dataclass(frozen=True)
class Unplaced:
    """A required check the plan could not place, and why (``kind`` classifies the reason)."""

    object_id: str
    item: str
    department: str
    team: str | None
    due: date
    start: date
    end: date
    kind: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"object_id": self.object_id, "item": self.item,
                "department": self.department, "team": self.team, "due": self.due.isoformat(),
                "window": [self.start.isoformat(), (self.end - timedelta(days=1)).isoformat()],
                "kind": self.kind, "reason": self.reason}


@dataclass(frozen=True)
class TeamDay:
    """One team on one working day: certified officers, capacity and minutes booked, for the
    day duty and (``night_*``) the night duty."""

    team: str
    day: date
    officers: int
    available: bool
    capacity_min: int
    booked_min: int
    night_available: bool = False
    night_capacity_min: int = 0
    night_booked_min: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"team": self.team, "day": self.day.isoformat(), "officers": self.officers,
                "available": self.available, "capacity_min": self.capacity_min,
                "booked_min": self.booked_min, "night_available": self.night_available,
                "night_capacity_min": self.night_capacity_min,
                "night_booked_min": self.night_booked_min}

    def of(self, duty: str) -> tuple[bool, int, int]:
        """(available, capacity, booked) of one duty."""
        if duty == "night":
            return self.night_available, self.night_capacity_min, self.night_booked_min
        return self.available, self.capacity_min, self.booked_min


@dataclass(frozen=True)
class SolverStats:
    """What the solver reports: status, objective, best bound, relative gap, wall time.

    ``best_bound`` is the larger of CP-SAT's own bound (``cp_sat_bound``) and the structural
    bound on visits (see :func:`planner.calendar.visits_lower_bound`); both are valid.
    """

    method: str
    status: str
    objective: float | None
    best_bound: float | None
    gap: float | None
    wall_s: float
    blocks: tuple[dict[str, Any], ...] = ()
    note: str = ""
    cp_sat_bound: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "status": self.status, "objective": self.objective,
                "best_bound": self.best_bound, "gap": self.gap,
                "cp_sat_bound": self.cp_sat_bound,
                "wall_s": round(self.wall_s, 3), "blocks": list(self.blocks),
                "note": self.note}


@dataclass(frozen=True)
class CalendarPlan:
    """An inspection calendar for one zone and horizon ``[start, end)``.

    ``teams`` maps team keys to names; ``departments`` and ``townships`` map codes to names.
    ``workload`` lists every team on every working day; ``spacing_days`` maps item codes to
    their minimum spacing. ``metrics`` holds the comparison with the baseline and the
    anti-repeat counts (see :func:`planner.calendar.plan_calendar`).
    """

    zone: str
    start: date
    end: date
    calendar_source: str
    working_days: tuple[date, ...]
    visits: tuple[Visit, ...]
    unplaced: tuple[Unplaced, ...]
    workload: tuple[TeamDay, ...]
    teams: dict[str, str]
    departments: dict[str, str]
    townships: dict[str, str]
    object_ids: tuple[str, ...]
    spacing_days: dict[str, int]
    anti_repeat_days: int
    solver: SolverStats
    travel: dict[str, Any]
    options: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)

    # -- views ----------------------------------------------------------------------------

    def by_day(self) -> dict[date, list[Visit]]:
        """Visits per working day (every working day present, possibly empty)."""
        out: dict[date, list[Visit]] = {d: [] for d in self.working_days}
        for v in self.visits:
            out.setdefault(v.day, []).append(v)
        return out

    def visits_per_object(self) -> dict[str, int]:
        """Trips per object over the horizon (objects with nothing due count 0)."""
        counts = Counter(v.object_id for v in self.visits)
        return {o: counts.get(o, 0) for o in self.object_ids}

    def team_days(self) -> dict[tuple[str, date], TeamDay]:
        return {(w.team, w.day): w for w in self.workload}

    def availability(self) -> dict[str, set[date]]:
        out: dict[str, set[date]] = defaultdict(set)
        for w in self.workload:
            if w.available:
                out[w.team].add(w.day)
        return out

    def anti_repeat_violations(self) -> list[dict[str, Any]]:
        return anti_repeat_violations(self.visits, self.anti_repeat_days, self.availability())

    # -- the independent check -----------------------------------------------------------

    def problems(self) -> list[str]:
        """Every broken rule, recomputed from the plan alone (empty for a valid plan).

        Checks: visits on working days only; each check inside its due window, once; team
        present (available) and within capacity each day; minimum spacing between visits of
        the same item at the same object; the anti-repeat rule.
        """
        out: list[str] = []
        working = set(self.working_days)
        seen: set[tuple[str, str, date]] = set()
        booked: Counter[tuple[str, date, str]] = Counter()
        days = self.team_days()
        dates_of: dict[tuple[str, str], list[date]] = defaultdict(list)
        for v in self.visits:
            if v.day not in working:
                out.append(f"{v.object_id} on {v.day}: not a working day")
            for c in v.checks:
                if not c.start <= v.day < c.end:
                    out.append(f"{v.object_id}/{c.item} on {v.day}: outside its window "
                               f"{c.start}–{c.end - timedelta(days=1)}")
                key = (v.object_id, c.item, c.due)
                if key in seen:
                    out.append(f"{v.object_id}/{c.item} due {c.due}: checked twice")
                seen.add(key)
                if c.team not in v.team_minutes:
                    out.append(f"{v.object_id}/{c.item} on {v.day}: its team {c.team} is not "
                               "on the visit")
                dates_of[(v.object_id, c.item)].append(v.day)
            for team, minutes in v.team_minutes.items():
                booked[(team, v.day, v.duty)] += minutes
                w = days.get((team, v.day))
                if w is None or not w.of(v.duty)[0]:
                    out.append(f"{v.object_id} on {v.day}: team {team} is not available "
                               f"({v.duty} duty)")
        for (team, d, duty), minutes in booked.items():
            w = days.get((team, d))
            if w is None:
                continue
            _, cap, said = w.of(duty)
            if minutes > cap:
                out.append(f"{team} on {d}: {minutes} min booked on the {duty} duty, capacity "
                           f"{cap}")
            if minutes != said:
                out.append(f"{team} on {d}: workload says {said} min on the {duty} duty, "
                           f"visits add up to {minutes}")
        for (obj, item), ds in dates_of.items():
            gap = self.spacing_days.get(item, 0)
            ds.sort()
            for a, b in pairwise(ds):
                if (b - a).days < gap:
                    out.append(f"{obj}/{item}: visits {a} and {b} are {(b - a).days} days "
                               f"apart, less than {gap}")
        for v in self.anti_repeat_violations():
            out.append(f"{v['object_id']}: separate visits {v['days'][0]} "
                       f"({'/'.join(v['departments'][0])}) and {v['days'][1]} "
                       f"({'/'.join(v['departments'][1])}) within {self.anti_repeat_days} days")
        return out

    # -- output ---------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        per = self.visits_per_object()
        n = max(len(per), 1)
        return {"zone": self.zone, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "objects": len(per),
                "working_days": len(self.working_days), "visits": len(self.visits),
                "joint_visits": sum(v.joint for v in self.visits),
                "night_visits": sum(v.duty == "night" for v in self.visits),
                "visits_per_object": round(len(self.visits) / n, 3),
                "checks_placed": sum(len(v.checks) for v in self.visits),
                "checks_unplaced": len(self.unplaced),
                "anti_repeat_violations": len(self.anti_repeat_violations())}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form of the whole plan."""
        by_day = self.by_day()
        return {
            "zone": self.zone, "start": self.start.isoformat(), "end": self.end.isoformat(),
            "calendar_source": self.calendar_source,
            "summary": self.summary(),
            "metrics": self.metrics,
            "solver": self.solver.as_dict(),
            "travel": self.travel,
            "options": self.options,
            "teams": self.teams, "departments": self.departments,
            "days": [{"date": d.isoformat(), "visits": [v.as_dict() for v in vs]}
                     for d, vs in sorted(by_day.items())],
            "visits_per_object": self.visits_per_object(),
            "workload": [w.as_dict() for w in self.workload],
            "unplaced": [u.as_dict() for u in self.unplaced],
        }


def anti_repeat_violations(visits: Iterable[Visit], days: int,
                           available: dict[str, set[date]]) -> list[dict[str, Any]]:
    """Pairs of separate visits to one object by different departments within ``days`` days
    when a joint visit was possible.

    Possible means both visits are combinable (a stand-alone check never joins) and every team
    of both visits was available on one of the two days. Same-day visits are not separate.
    """
    per_obj: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        if v.combinable:
            per_obj[v.object_id].append(v)
    out = []
    for obj, vs in per_obj.items():
        vs.sort(key=lambda v: v.day)
        for i, a in enumerate(vs):
            for b in vs[i + 1:]:
                gap = (b.day - a.day).days
                if gap >= days:
                    break
                if gap == 0 or set(a.departments) == set(b.departments):
                    continue
                teams = set(a.teams) | set(b.teams)
                if any(all(d in available.get(t, ()) for t in teams) for d in (a.day, b.day)):
                    out.append({"object_id": obj, "days": [a.day.isoformat(), b.day.isoformat()],
                                "departments": [list(a.departments), list(b.departments)]})
    return out


# -- public export ------------------------------------------------------------------------------

# 事项主管部门: the departments whose items are checked (a township team may check them for
# matters granted to the township); 实施检查队伍: the teams present; 联合检查: several teams.
PUBLIC_COLUMNS = ("日期", "星期", "检查对象", "对象编号", "乡镇（街道）", "事项主管部门",
                  "实施检查队伍", "检查事项", "联合检查")


def public_rows(plan: CalendarPlan, item_names: dict[str, str] | None = None
                ) -> list[list[str]]:
    """Rows of the published joint-inspection plan, one per visit, in date order.

    Departments and teams appear by their official names; no person is named.
    """
    rows = []
    for v in sorted(plan.visits, key=lambda v: (v.day, v.township, v.object_id)):
        names = [c.name or (item_names or {}).get(c.item, c.item) for c in v.checks]
        rows.append([
            v.day.isoformat(), f"周{WEEKDAY_ZH[v.day.weekday()]}", v.object_name, v.object_id,
            plan.townships.get(v.township, v.township),
            "、".join(plan.departments.get(d, d) for d in v.departments),
            "、".join(plan.teams.get(t, t) for t in v.teams),
            "；".join(names), "是" if v.joint else "否"])
    return rows


def _title(plan: CalendarPlan) -> str:
    last = plan.end - timedelta(days=1)
    return (f"{plan.zone}联合行政检查计划（{plan.start.isoformat()} 至 {last.isoformat()}）"
            "——合并检查，减少对经营主体的打扰")


def public_csv_text(plan: CalendarPlan) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(PUBLIC_COLUMNS)
    w.writerows(public_rows(plan))
    return buf.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_public_csv(plan: CalendarPlan, path: Path | str) -> Path:
    """Write the public plan as UTF-8 CSV with a BOM (so spreadsheet programs read Chinese)."""
    path = Path(path)
    _atomic_write(path, ("\ufeff" + public_csv_text(plan)).encode("utf-8"))
    return path


def write_public_xlsx(plan: CalendarPlan, path: Path | str) -> Path:
    """Write the public plan as an Excel workbook: a plan sheet and a per-month summary."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "检查计划"
    ws.append([_title(plan)])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(list(PUBLIC_COLUMNS))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in public_rows(plan):
        ws.append(row)
    widths = (12, 6, 28, 12, 12, 36, 30, 60, 9)
    for col, wdt in zip("ABCDEFGHI", widths, strict=True):
        ws.column_dimensions[col].width = wdt
    for row in ws.iter_rows(min_row=3, min_col=8, max_col=8):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A3"

    month = wb.create_sheet("按月汇总")
    month.append(["月份", "检查次数", "联合检查次数", "涉及对象数"])
    agg: dict[str, list[Any]] = defaultdict(lambda: [0, 0, set()])
    for v in plan.visits:
        m = agg[v.day.strftime("%Y-%m")]
        m[0] += 1
        m[1] += int(v.joint)
        m[2].add(v.object_id)
    for key in sorted(agg):
        n, j, objs = agg[key]
        month.append([key, n, j, len(objs)])
    buf = io.BytesIO()
    wb.save(buf)
    _atomic_write(path, buf.getvalue())
    return path


def visits_by_object(visits: Sequence[Visit]) -> dict[str, list[Visit]]:
    out: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        out[v.object_id].append(v)
    return out
