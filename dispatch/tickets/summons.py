"""Whistle summons (街道吹哨、部门报到): one township request, several departments reporting in.

A township raises a need; the district platform summons each department and supervises that
it reports in (威环政发〔2024〕2号 §二(二)2; 厦门湖里区 §二(二)). Each department moves
summoned → reported_in → acted on its own, with its own report-in deadline (30 minutes unless
set otherwise); one that misses it is flagged ``overdue`` by :func:`flag_overdue` and may
still report in late (the lateness stays on record). The summons closes only when every
department has reported in and acted. Every step is an entry in the audit chain.
"""

from __future__ import annotations

from datetime import datetime

from dispatch.tickets.errors import ConflictError, NotFound, TicketError, TransitionError
from dispatch.tickets.models import AuditEntry, SummonsDraft, WhistleSummons
from dispatch.tickets.sla import DEFAULT_POLICY, SlaPolicy
from dispatch.tickets.store import DispatchDb, reading, writing
from dispatch.tickets.transitions import DEPARTMENT_TRANSITIONS, SUMMONS_STATES
from dispatch.tickets.validation import (
    check_not_before,
    check_time,
    optional_text,
    require_text,
)
from geo.store.base import Store


def _check_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TicketError("summons_id", f"{value!r} is not a summons id")
    return value


def _load(db: DispatchDb, summons_id: int, expected_version: int | None = None
          ) -> WhistleSummons:
    s = db.summons(summons_id)
    if s is None:
        raise NotFound("summons_id", f"no summons {summons_id}")
    if expected_version is not None and s.version != expected_version:
        raise ConflictError("expected_version", f"summons {summons_id} is at version "
                                                f"{s.version}, not {expected_version}: someone "
                                                "changed it first; reload it")
    return s


def _event_time(at: datetime | None, now: datetime) -> datetime:
    return check_time(at if at is not None else now, "at", now)


def _open(s: WhistleSummons) -> None:
    if s.state != "open":
        raise TicketError("summons_id", f"summons {s.id} is {s.state}")


def create_summons(store: Store, draft: SummonsDraft, *,
                   policy: SlaPolicy = DEFAULT_POLICY) -> WhistleSummons:
    """Blow the whistle: store the summons with every department ``summoned``.

    Each department's report-in deadline is ``raised_at`` plus its own
    ``report_within_by_department`` entry, else ``report_within``, else the policy's
    report-in rule (30 minutes).
    """
    with writing(store, "storing a summons") as db:
        now = db.now
        d = draft.checked(now)
        assert d.raised_at is not None
        due = []
        for code in d.departments:
            within = d.report_within_by_department.get(code, d.report_within)
            due.append((code, d.raised_at + within if within is not None
                        else policy.report_in.due(d.raised_at, policy.office)))
        if d.ticket_id is not None and db.ticket(d.ticket_id) is None:
            raise TicketError("ticket_id", f"no ticket {d.ticket_id}")
        sid = db.insert_summons(d.district, d.township, d.zone, d.ticket_id, d.description,
                                d.lon, d.lat, d.raised_by, d.raised_at, due)
        db.append("summons", sid, "summons.raise", to_state="open", actor=d.raised_by,
                  reason=d.description, occurred_at=d.raised_at, recorded_at=now,
                  data={"district": d.district, "township": d.township, "zone": d.zone,
                        "ticket_id": d.ticket_id, "lon": d.lon, "lat": d.lat,
                        "departments": [{"department": c, "report_due_at": t.isoformat()}
                                        for c, t in due]})
        return _load(db, sid)


def _department_step(store: Store, summons_id: int, department: str, to_state: str,
                     actor: str, reason: str, at: datetime | None,
                     expected_version: int | None, actor_role: str | None,
                     stamp: str, note: str | None = None) -> WhistleSummons:
    """Move one department; ``stamp`` is the column pair prefix (``reported``/``acted``)
    that receives the event time and the actor."""
    _check_id(summons_id)
    require_text(department, "department", "code of the summoned department")
    require_text(actor, "actor", "who records it")
    require_text(reason, "reason", "what was done")
    optional_text(actor_role, "actor_role")
    with writing(store, f"recording {to_state} of {department} on summons {summons_id}") as db:
        now = db.now
        when = _event_time(at, now)
        s = _load(db, summons_id, expected_version)
        _open(s)
        dept = s.department(department)
        name = DEPARTMENT_TRANSITIONS.get((dept.state, to_state))
        if name is None:
            nexts = [b for (a, b) in DEPARTMENT_TRANSITIONS if a == dept.state]
            raise TransitionError("department", f"{department} is {dept.state} on summons "
                                                f"{s.id}; {dept.state} → {to_state} is not "
                                                f"allowed (allowed: {', '.join(nexts) or 'none'})")
        check_not_before(when, db.last_event_time("summons", s.id), "at", f"summons {s.id}")
        values: dict[str, object] = {f"{stamp}_at": when, f"{stamp}_by": actor}
        if note is not None:
            values["note"] = note
        if not db.update_department(s.id, department, dept.state, to_state, **values):
            raise ConflictError("department", f"{department} on summons {s.id} changed while "
                                              "this operation ran; reload it")
        if not db.update_summons(s.id, s.version):
            raise ConflictError("summons_id", f"summons {s.id} changed while this operation "
                                              "ran; reload it")
        data: dict[str, object] = {"department": department, "step": name,
                                   "report_due_at": dept.report_due_at.isoformat()}
        if to_state == "reported_in":
            data["late"] = when > dept.report_due_at
        db.append("summons", s.id, f"summons.{to_state}", from_state=dept.state,
                  to_state=to_state, actor=actor, actor_role=actor_role, reason=reason,
                  occurred_at=when, recorded_at=now, data=data)
        return _load(db, s.id)


def report_in(store: Store, summons_id: int, department: str, actor: str,
              at: datetime | None = None, note: str = "", expected_version: int | None = None,
              *, actor_role: str | None = None) -> WhistleSummons:
    """A summoned department reports in (报到); after its deadline it is recorded as late."""
    if not isinstance(note, str):
        raise TicketError("note", "expected text")
    return _department_step(store, summons_id, department, "reported_in", actor,
                            note or f"{department} reported in", at, expected_version,
                            actor_role, "reported", note)


def record_action(store: Store, summons_id: int, department: str, actor: str, reason: str,
                  at: datetime | None = None, expected_version: int | None = None, *,
                  actor_role: str | None = None) -> WhistleSummons:
    """A department that reported in records what it did (acted); ``reason`` says what."""
    return _department_step(store, summons_id, department, "acted", actor, reason, at,
                            expected_version, actor_role, "acted")


def flag_overdue(store: Store, now: datetime | None = None, *,
                 actor: str = "platform") -> list[tuple[int, str]]:
    """Flag every department past its report-in deadline ``overdue`` (督办), one entry each.

    Returns
    -------
    list of (summons id, department)
        What was flagged by this call (already flagged ones are not flagged again).
    """
    require_text(actor, "actor", "who flags")
    flagged: list[tuple[int, str]] = []
    with writing(store, "flagging overdue report-ins") as db:
        clock = db.now
        when = check_time(now if now is not None else clock, "now", clock)
        for sid, dept, due in db.due_departments(when):
            check_not_before(when, db.last_event_time("summons", sid), "now", f"summons {sid}")
            s = _load(db, sid)
            db.update_department(sid, dept, "summoned", "overdue")
            db.update_summons(sid, s.version)
            db.append("summons", sid, "summons.overdue", from_state="summoned",
                      to_state="overdue", actor=actor, occurred_at=when, recorded_at=clock,
                      reason=f"{dept} did not report in by {due.isoformat()}",
                      data={"department": dept, "step": DEPARTMENT_TRANSITIONS[
                          ("summoned", "overdue")], "report_due_at": due.isoformat()})
            flagged.append((sid, dept))
    return flagged


def close_summons(store: Store, summons_id: int, actor: str, reason: str,
                  at: datetime | None = None, expected_version: int | None = None, *,
                  actor_role: str | None = None) -> WhistleSummons:
    """Close a summons once every department has reported in and acted."""
    _check_id(summons_id)
    require_text(actor, "actor", "who closes the summons")
    require_text(reason, "reason", "why it can close")
    optional_text(actor_role, "actor_role")
    with writing(store, f"closing summons {summons_id}") as db:
        now = db.now
        when = _event_time(at, now)
        s = _load(db, summons_id, expected_version)
        _open(s)
        pending = s.pending()
        if pending:
            raise TicketError("departments", f"summons {s.id} cannot close: not yet reported "
                                             "in and acted: " + ", ".join(
                                                 f"{d.department} ({d.state})" for d in pending))
        check_not_before(when, db.last_event_time("summons", s.id), "at", f"summons {s.id}")
        db.update_summons(s.id, s.version, state="closed", closed_at=when)
        db.append("summons", s.id, "summons.close", from_state="open", to_state="closed",
                  actor=actor, actor_role=actor_role, reason=reason, occurred_at=when,
                  recorded_at=now, data={})
        return _load(db, s.id)


def get_summons(store: Store, summons_id: int) -> WhistleSummons:
    _check_id(summons_id)
    with reading(store, f"reading summons {summons_id}") as db:
        return _load(db, summons_id)


def list_summons(store: Store, state: str | None = None, overdue_at: datetime | None = None,
                 *, district: str | None = None) -> list[WhistleSummons]:
    """Summonses by id; ``overdue_at`` keeps those with a department late at that time."""
    if state is not None and state not in SUMMONS_STATES:
        raise TicketError("state", f"{state!r} is not a summons state; expected one of "
                                   f"{', '.join(SUMMONS_STATES)}")
    if overdue_at is not None and (not isinstance(overdue_at, datetime)
                                   or overdue_at.utcoffset() is None):
        raise TicketError("overdue_at", f"{overdue_at!r} is not a timezone-aware datetime")
    with reading(store, "listing summonses") as db:
        return db.summonses(state=state, overdue_at=overdue_at, district=district)


def summons_events(store: Store, summons_id: int) -> list[AuditEntry]:
    _check_id(summons_id)
    with reading(store, f"reading the events of summons {summons_id}") as db:
        _load(db, summons_id)
        return db.entity_entries("summons", summons_id)
