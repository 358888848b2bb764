"""Service-level deadlines in Chinese working days (工作日) or wall-clock time.

Working days follow the State Council's holiday schedule, public holidays *and* make-up
workdays (调休: e.g. Sunday 2025-09-28 is a working day before National Day), as published in
the maintained ``chinesecalendar`` package. It covers a fixed range of years (to 2026 in
release 1.11). For a year it does not cover, the office can enter the State Council's notice
in ``data/calendar/holidays.json`` (see the README there); until either has the year, days
are counted as Monday–Friday and every deadline computed that way says it is *provisional*
(:func:`calendar_source`). Intake never stops because a calendar is late, and the holiday
dates themselves are never guessed.

The counting rule (documented here because deadlines are disputed):

- Office hours are 08:30–17:30 Beijing time (:class:`OfficeHours`, configurable).
- A ticket received on a working day before the office closes counts that day as day 1.
  A ticket received after closing time, or on a rest day, starts counting on the next
  working day, which is day 1.
- The deadline of an N-working-day rule is the closing time of day N.

So a hotline ticket received at 10:00 on Tuesday 2025-09-30 with 3 working days is due at
17:30 on Friday 2025-10-10 (day 1 is 09-30; 10-01..10-08 is the National Day holiday), and one
received at 18:00 the same day is due at 17:30 on Saturday 2025-10-11, a make-up workday.

Wall-clock rules (a department reporting in to a whistle within 30 minutes) simply add the
duration to the start time, day or night.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from chinese_calendar import is_workday


class SlaError(ValueError):
    """A deadline cannot be computed (date outside the holiday calendar, bad rule)."""


@dataclass(frozen=True)
class OfficeHours:
    """When the office counts a day as received, and when a working-day deadline falls."""

    opens: time = time(8, 30)
    closes: time = time(17, 30)
    tz: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise SlaError(f"office hours: opens {self.opens} is not before closes {self.closes}")
        ZoneInfo(self.tz)  # fails early on an unknown zone


BEIJING_OFFICE = OfficeHours()


HOLIDAYS_FILE = Path(__file__).resolve().parents[2] / "data" / "calendar" / "holidays.json"
CalendarSource = Literal["chinesecalendar", "override", "provisional"]


@lru_cache(maxsize=4)
def _overrides(path: Path = HOLIDAYS_FILE) -> dict[int, tuple[frozenset[date], frozenset[date]]]:
    """Year -> (holidays, make-up workdays) from the office's file, if it exists."""
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        out = {}
        for year, entry in (doc.get("years") or {}).items():
            days = [frozenset(date.fromisoformat(d) for d in entry.get(k) or [])
                    for k in ("holidays", "workdays")]
            out[int(year)] = (days[0], days[1])
        return out
    except (ValueError, TypeError, AttributeError) as exc:
        raise SlaError(f"{path.name}: unreadable holiday file ({exc})") from exc


def calendar_source(day: date) -> CalendarSource:
    """Where the working-day status of ``day`` comes from."""
    try:
        is_workday(day)
        return "chinesecalendar"
    except NotImplementedError:
        return "override" if day.year in _overrides() else "provisional"


def is_working_day(day: date, field: str = "date") -> bool:
    """True on Chinese working days (make-up workdays included, public holidays excluded).

    Outside the package's years: the office's override file, else Monday–Friday
    (provisional; see the module docstring).
    """
    try:
        return bool(is_workday(day))
    except NotImplementedError:
        entry = _overrides().get(day.year)
        if entry is not None:
            holidays, workdays = entry
            return day in workdays or (day.weekday() < 5 and day not in holidays)
        return day.weekday() < 5


def provisional_years(start: date, end: date) -> list[int]:
    """Years between two days whose working days are counted provisionally."""
    return [y for y in range(start.year, end.year + 1)
            if calendar_source(date(y, 6, 1)) == "provisional"]


def next_working_day(day: date, field: str = "date") -> date:
    """The first working day strictly after ``day``."""
    d = day + timedelta(days=1)
    while not is_working_day(d, field):
        d += timedelta(days=1)
    return d


def add_working_days(start: datetime, days: int, office: OfficeHours = BEIJING_OFFICE) -> datetime:
    """Deadline of ``days`` working days counted from ``start`` (see the module rule).

    Parameters
    ----------
    start
        Time the clock starts (timezone-aware).
    days
        Number of working days, at least 1.
    office
        Office hours and their time zone.

    Returns
    -------
    datetime
        Closing time of the last working day, in UTC.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise SlaError(f"start: {start.isoformat()} has no time zone")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise SlaError(f"working days: {days!r} must be a whole number of at least 1")
    tz = ZoneInfo(office.tz)
    local = start.astimezone(tz)
    day = local.date()
    if not (is_working_day(day) and local.time() < office.closes):
        day = next_working_day(day)
    for _ in range(days - 1):
        day = next_working_day(day)
    return datetime.combine(day, office.closes, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class SlaRule:
    """A deadline: N working days, or a wall-clock duration; ``basis`` says where it comes from."""

    working_days: int | None = None
    wall_clock: timedelta | None = None
    basis: str = ""

    def __post_init__(self) -> None:
        if (self.working_days is None) == (self.wall_clock is None):
            raise SlaError("SLA rule: give exactly one of working_days and wall_clock")
        if self.working_days is not None and (isinstance(self.working_days, bool)
                                              or self.working_days < 1):
            raise SlaError(f"SLA rule: working_days {self.working_days!r} must be at least 1")
        if self.wall_clock is not None and self.wall_clock <= timedelta(0):
            raise SlaError(f"SLA rule: wall_clock {self.wall_clock} must be positive")

    @property
    def label(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days} working day{'s' if self.working_days > 1 else ''}"
        assert self.wall_clock is not None
        return f"{self.wall_clock.total_seconds() / 60:g} minutes"

    def due(self, start: datetime, office: OfficeHours = BEIJING_OFFICE) -> datetime:
        """Deadline for a clock started at ``start`` (UTC)."""
        if self.working_days is not None:
            return add_working_days(start, self.working_days, office)
        assert self.wall_clock is not None
        if start.tzinfo is None or start.utcoffset() is None:
            raise SlaError(f"start: {start.isoformat()} has no time zone")
        return (start + self.wall_clock).astimezone(UTC)


RESOLVE_3_DAYS = SlaRule(
    working_days=3,
    basis="Huancui cut the time to resolve a problem from 7 to 3 working days "
          "(环翠区赋权增能工作报告 §三)")
REPORT_IN_30_MIN = SlaRule(
    wall_clock=timedelta(minutes=30),
    basis="30-minute report-in target of the whistle-and-report-in mechanism (街道吹哨、部门报到)")


@dataclass(frozen=True)
class SlaPolicy:
    """Which rule applies to a ticket: by ``"source/matter_code"``, then by source, then default.

    ``report_in`` is the deadline for a department summoned by a whistle to report in.
    """

    rules: Mapping[str, SlaRule] = field(default_factory=dict)
    default: SlaRule | None = None
    report_in: SlaRule = REPORT_IN_30_MIN
    office: OfficeHours = BEIJING_OFFICE

    def rule_for(self, source: str, matter_code: str | None) -> tuple[str, SlaRule] | None:
        """(key that matched, rule), or None when no rule applies (no deadline)."""
        for key in (f"{source}/{matter_code}" if matter_code else None, source):
            if key is not None and key in self.rules:
                return key, self.rules[key]
        return ("default", self.default) if self.default is not None else None

    def due_at(self, source: str, matter_code: str | None,
               received_at: datetime) -> tuple[datetime, str] | None:
        """(deadline in UTC, description of the rule applied), or None without a rule."""
        found = self.rule_for(source, matter_code)
        if found is None:
            return None
        key, rule = found
        try:
            due = rule.due(received_at, self.office)
            label = f"{key}: {rule.label}"
            years = (provisional_years(received_at.date(), due.date())
                     if rule.working_days is not None else [])
            if years:
                label += (f" (provisional: no holiday schedule for "
                          f"{', '.join(map(str, years))} yet; Monday–Friday counted)")
            return due, label
        except SlaError as exc:
            raise SlaError(f"received_at: cannot compute the {rule.label} deadline of a "
                           f"{source} ticket ({exc})") from exc


#: 12345 tickets get Huancui's 3 working days; other sources the same until a district sets
#: its own; summoned departments report in within 30 minutes.
DEFAULT_POLICY = SlaPolicy(rules={"hotline_12345": RESOLVE_3_DAYS}, default=RESOLVE_3_DAYS)
