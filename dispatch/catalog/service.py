"""Replay the catalogue log and answer "what is in force here on that day".

The log is replayed *as known at* a recording time (default: everything recorded), giving one
:class:`~dispatch.catalog.models.GrantLine` per matter per grant. Those lines are then indexed
per (matter, township) as a sorted list of boundary days, each with the lines active from
then on, so that asking who holds a matter on a day is a dict lookup plus a bisection over a
handful of dates, never a scan of the catalogue.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.catalog.models import (
    CatalogLog,
    CatalogProblem,
    CorrectionRecord,
    GrantLine,
    GrantRecord,
    Phase,
    RecallRecord,
    Record,
    Target,
)
from geo.boundaries import District

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # catalogue dates are local calendar days

LineState = tuple[GrantLine, Phase]


def local_instant(value: date | datetime) -> datetime:
    """A naive local (Asia/Shanghai) datetime; a bare date means its first instant."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(LOCAL_TZ).replace(tzinfo=None)
        return value
    return datetime.combine(value, time.min)


def local_day(value: date | datetime) -> date:
    """The local calendar day of an incident time (dates are returned unchanged)."""
    if isinstance(value, datetime):
        return local_instant(value).date()
    return value


def replay(log: CatalogLog, known_at: datetime | None = None
           ) -> tuple[tuple[GrantLine, ...], tuple[Record, ...], list[CatalogProblem]]:
    """Apply the records recorded up to ``known_at`` and derive the grant lines.

    Returns the lines, the records applied, and the inconsistencies found (recall before its
    grant, a matter recalled twice, overlapping grants of one matter to one target). The
    loader refuses a file with problems; a replay as known at an earlier time reports them
    too, so callers can tell.
    """
    cutoff = local_instant(known_at) if known_at is not None else None
    applied = tuple(r for r in log.records if cutoff is None or r.recorded_at <= cutoff)
    grants: dict[str, dict[str, Any]] = {}
    recalls: dict[str, dict[str, Any]] = {}
    shaped: dict[str, list[str]] = defaultdict(list)  # record id -> ids that changed it
    for rec in applied:
        if isinstance(rec, GrantRecord):
            grants[rec.id] = {"record": rec, "effective_from": rec.effective_from,
                              "transition_months": rec.transition_months, "target": rec.target,
                              "agreement": rec.agreement, "document": rec.document,
                              "void": False}
        elif isinstance(rec, RecallRecord):
            recalls[rec.id] = {"record": rec, "effective": rec.effective, "void": False}
        elif isinstance(rec, CorrectionRecord):
            state = grants.get(rec.corrects) or recalls.get(rec.corrects)
            if state is None:  # the loader guarantees an earlier target; be safe on replay
                continue
            state.update(rec.changes)
            shaped[rec.corrects].append(rec.id)

    problems: list[CatalogProblem] = []
    recalled: dict[tuple[str, str], tuple[str, date]] = {}
    for rid, state in recalls.items():
        if state["void"]:
            continue
        rec: RecallRecord = state["record"]
        grant = grants.get(rec.grant)
        if grant is None or grant["void"]:
            continue
        for matter in rec.matters or grant["record"].matters:
            key = (rec.grant, matter)
            if key in recalled:
                problems.append(CatalogProblem(
                    rid, "matters",
                    f"matter {matter} of grant {rec.grant} is already recalled by "
                    f"{recalled[key][0]}; correct that recall instead of adding another"))
                continue
            recalled[key] = (rid, state["effective"])
            history = [rid, *shaped[rid]]
            shaped[f"{rec.grant}/{matter}"].extend(history)

    lines: list[GrantLine] = []
    for gid, state in grants.items():
        if state["void"]:
            continue
        rec = state["record"]
        for matter in rec.matters:
            recall_id, recalled_on = recalled.get((gid, matter), (None, None))
            line = GrantLine(
                grant=gid, matter=matter, target=state["target"], mode=rec.mode,
                effective_from=state["effective_from"],
                transition_months=state["transition_months"], agreement=state["agreement"],
                recalled_on=recalled_on, recall=recall_id, document=state["document"],
                history=(gid, *shaped[gid], *shaped[f"{gid}/{matter}"]),
            )
            if recalled_on is not None and recalled_on < line.effective_from:
                problems.append(CatalogProblem(
                    recall_id or gid, "effective",
                    f"recall of matter {matter} takes effect {recalled_on}, before grant {gid} "
                    f"takes effect {line.effective_from}"))
            lines.append(line)
    problems.extend(_overlaps(lines))
    return tuple(lines), applied, problems


def _overlaps(lines: list[GrantLine]) -> list[CatalogProblem]:
    by_key: dict[tuple[str, Target], list[GrantLine]] = defaultdict(list)
    for line in lines:
        by_key[(line.matter, line.target)].append(line)
    problems = []
    for (matter, target), group in by_key.items():
        group.sort(key=lambda ln: ln.start)
        reach: GrantLine | None = None  # the earlier line that runs latest
        for nxt in group:
            if reach is not None and (reach.end is None or nxt.start < reach.end):
                until = reach.end.isoformat() if reach.end else "open-ended"
                problems.append(CatalogProblem(
                    nxt.grant, "effective_from",
                    f"matter {matter} for {target} overlaps grant {reach.grant} "
                    f"({reach.start} to {until}); recall or correct {reach.grant} first"))
            if reach is None or (reach.end is not None
                                 and (nxt.end is None or nxt.end > reach.end)):
                reach = nxt
    return problems


@dataclass(frozen=True)
class Timeline:
    """The grant lines of one matter in one township, as (boundary day → active states)."""

    starts: tuple[date, ...]
    states: tuple[tuple[LineState, ...], ...]

    def at(self, day: date) -> tuple[LineState, ...]:
        i = bisect_right(self.starts, day) - 1
        return self.states[i] if i >= 0 else ()


def _timeline(lines: list[GrantLine]) -> Timeline:
    bounds = sorted({b for ln in lines for b in (ln.start, ln.takeover, ln.end) if b is not None})
    states = []
    for b in bounds:
        states.append(tuple((ln, ph) for ln in lines if (ph := ln.phase_at(b)) != "before"))
    return Timeline(tuple(bounds), tuple(states))


class Catalogue:
    """The catalogue as known at one recording time, bound to its district and indexed.

    Parameters
    ----------
    log
        The parsed (and validated) catalogue file.
    district
        The district whose townships and town classes the grants name.
    known_at
        Only records recorded up to this instant count; None means the whole log. Use it to
        reproduce what a dispatcher could have known when a decision was taken.
    """

    def __init__(self, log: CatalogLog, district: District, known_at: datetime | None = None):
        self.log = log
        self.district = district
        self.known_at = local_instant(known_at) if known_at is not None else None
        self.lines, self.records, self.problems = replay(log, self.known_at)
        by_class: dict[str, list[str]] = defaultdict(list)
        for t in district.townships:
            by_class[t.town_class].append(t.code)
        self._by_class = {k: tuple(v) for k, v in by_class.items()}
        per_key: dict[tuple[str, str], list[GrantLine]] = defaultdict(list)
        for line in self.lines:
            for code in self.townships_of(line.target):
                per_key[(line.matter, code)].append(line)
        self._index = {key: _timeline(ls) for key, ls in per_key.items()}

    @property
    def matters(self):
        return self.log.matters

    @property
    def departments(self):
        return self.log.departments

    @cached_property
    def version(self) -> str:
        """``<file version>@<last record applied>``: names the exact state a decision used."""
        last = self.records[-1].id if self.records else "empty"
        return f"{self.log.version}@{last}"

    def as_known_at(self, when: date | datetime) -> Catalogue:
        """The same catalogue replayed with only the records recorded up to ``when``."""
        return Catalogue(self.log, self.district, local_instant(when))

    def townships_of(self, target: Target) -> tuple[str, ...]:
        if target.kind == "class":
            return self._by_class.get(target.value, ())
        return (target.value,)

    def states_at(self, matter: str, township: str, day: date | datetime
                  ) -> tuple[LineState, ...]:
        """Grant lines of ``matter`` touching ``township`` on ``day``, with their phase.

        Lines that have not started yet are left out; recalled and expired ones stay so a
        caller can say *why* the department holds the matter.
        """
        timeline = self._index.get((matter, township))
        return timeline.at(local_day(day)) if timeline else ()

    def in_force(self, day: date | datetime, township: str | None = None) -> list[GrantLine]:
        """Lines whose township is responsible on ``day`` (transition over, not recalled)."""
        d = local_day(day)
        out = []
        for line in self.lines:
            if line.phase_at(d) != "in_force":
                continue
            if township is None or township in self.townships_of(line.target):
                out.append(line)
        return out

    def lines_for(self, matter: str) -> list[GrantLine]:
        return [ln for ln in self.lines if ln.matter == matter]

    def history(self, matter: str) -> list[Record]:
        """Every record that grants, recalls or corrects ``matter``, in log order."""
        grant_matters = {r.id: set(r.matters) for r in self.records
                         if isinstance(r, GrantRecord)}
        touching: set[str] = {gid for gid, ms in grant_matters.items() if matter in ms}
        out: list[Record] = []
        for rec in self.records:
            if isinstance(rec, GrantRecord):
                hit = rec.id in touching
            elif isinstance(rec, RecallRecord):
                hit = rec.grant in touching and (not rec.matters or matter in rec.matters)
                if hit:
                    touching.add(rec.id)
            else:
                hit = rec.corrects in touching
            if hit:
                out.append(rec)
        return out
