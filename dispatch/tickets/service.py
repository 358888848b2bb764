"""Operations on tickets: intake, transitions, assignment, legal review, queries, verification.

Every operation is one transaction: the change to the ticket and its audit entry are stored
together or not at all. Input is validated before the database is touched, and every refusal
is an exception naming the field (see :mod:`dispatch.tickets.errors`). The functions take the
store first so the web layer can call them with the store it holds::

    ticket, created = create_ticket(store, TicketDraft(source="hotline_12345", ...))
    ticket = assign(store, ticket.id, "CS01-team", actor="dispatcher-7",
                    expected_version=ticket.version)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from dispatch.tickets.audit import AuditReport, ChainVerifier, compare_states
from dispatch.tickets.errors import ConflictError, NotFound, TicketError
from dispatch.tickets.models import AuditEntry, DuplicateLink, Ticket, TicketDraft
from dispatch.tickets.sla import DEFAULT_POLICY, SlaPolicy
from dispatch.tickets.store import DispatchDb, reading, writing
from dispatch.tickets.transitions import (
    DECISION_STATE,
    OPEN_STATES,
    LegalReview,
    check_legal_review,
    check_reviewer,
    check_state,
    check_transition,
)
from dispatch.tickets.validation import (
    check_not_before,
    check_time,
    json_object,
    optional_text,
    require_text,
    utcnow,
)
from geo.crs import haversine_m
from geo.store.base import Store

VERIFY_BATCH = 2000  # audit entries read per query while verifying


@dataclass(frozen=True)
class DuplicatePolicy:
    """When a new ticket is a *likely* duplicate of an earlier one: same district and matter,
    within ``radius_m`` metres (great circle) and ``window`` of its receiving time."""

    radius_m: float = 200.0
    window: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if not self.radius_m >= 0:
            raise TicketError("radius_m", f"{self.radius_m!r} must be zero or more metres")
        if self.window < timedelta(0):
            raise TicketError("window", f"{self.window} must not be negative")


DEFAULT_DUPLICATES = DuplicatePolicy()


def _check_id(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TicketError(field, f"{value!r} is not a record id")
    return value


def _check_version(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TicketError("expected_version", f"{value!r} is not a version number")
    return value


def _event_time(at: datetime | None, now: datetime) -> datetime:
    return check_time(at if at is not None else now, "at", now)


def _load(db: DispatchDb, ticket_id: int, expected_version: int | None) -> Ticket:
    t = db.ticket(ticket_id)
    if t is None:
        raise NotFound("ticket_id", f"no ticket {ticket_id}")
    if expected_version is not None and t.version != expected_version:
        raise ConflictError(
            "expected_version", f"ticket {ticket_id} is at version {t.version} (state "
                                f"{t.state}, changed {t.updated_at.isoformat()}), not "
                                f"{expected_version}: someone changed it first; reload it")
    return t


def _save(db: DispatchDb, t: Ticket, changes: dict[str, Any], now: datetime) -> None:
    if not db.update_ticket(t.id, t.version, changes, now):
        raise ConflictError("expected_version", f"ticket {t.id} changed while this operation "
                                                "ran; reload it")


# -- intake ----------------------------------------------------------------------------------


def _likely_duplicates(db: DispatchDb, d: TicketDraft, policy: DuplicatePolicy
                       ) -> list[tuple[int, float]]:
    """(ticket id, metres) of earlier tickets of the same matter nearby in time and space."""
    if d.matter_code is None:
        return []
    assert d.received_at is not None
    rows = db.duplicate_candidates(d.district, d.matter_code, d.lon, d.lat, policy.radius_m,
                                   d.received_at - policy.window, d.received_at + policy.window)
    if not rows:
        return []
    ids, lon, lat = (np.array(c) for c in zip(*rows, strict=True))
    dist = haversine_m(lon, lat, d.lon, d.lat)
    keep = dist <= policy.radius_m
    return [(int(i), round(float(m), 1)) for i, m in zip(ids[keep], dist[keep], strict=True)]


def create_ticket(store: Store, draft: TicketDraft, *, policy: SlaPolicy = DEFAULT_POLICY,
                  duplicates: DuplicatePolicy = DEFAULT_DUPLICATES) -> tuple[Ticket, bool]:
    """Store a new ticket in state ``received``, or return the one already stored.

    Idempotent on ``(source, external_id)``: a feed that resends a ticket gets the stored one
    back with ``created=False``, unchanged (the resent content is not merged). A new ticket
    within ``duplicates`` of an earlier one of the same matter is stored and *linked* to it;
    a dispatcher decides whether it is a duplicate.

    Returns
    -------
    (Ticket, bool)
        The ticket and whether this call created it.

    Raises
    ------
    TicketError
        A field is missing or invalid (named in the message); nothing is stored.
    dispatch.tickets.sla.SlaError
        The deadline cannot be computed (e.g. a year the holiday calendar does not cover).
    """
    with writing(store, "storing a ticket") as db:
        now = db.now
        d = draft.checked(now)
        assert d.received_at is not None
        if d.external_id is not None:
            existing = db.ticket_id_by_external(d.source, d.external_id)
            if existing is not None:
                return _load(db, existing, None), False
        due = policy.due_at(d.source, d.matter_code, d.received_at)
        due_at, rule = due if due is not None else (None, None)
        near = _likely_duplicates(db, d, duplicates)
        tid = db.insert_ticket(d, due_at, rule, now)
        if tid is None:  # only if a writer bypassed the chain lock
            assert d.external_id is not None
            existing = db.ticket_id_by_external(d.source, d.external_id)
            assert existing is not None
            return _load(db, existing, None), False
        db.insert_links([DuplicateLink(tid, other, m) for other, m in near], now)
        db.append("ticket", tid, "create", to_state="received", actor=d.actor,
                  reason=f"intake from {d.source}", occurred_at=d.received_at, recorded_at=now,
                  data={
                      "source": d.source, "external_id": d.external_id, "district": d.district,
                      "matter_code": d.matter_code, "lon": d.lon, "lat": d.lat,
                      "township": d.township, "zone": d.zone,
                      "reported_at": d.reported_at.isoformat() if d.reported_at else None,
                      "description": d.description, "facts": dict(d.facts),
                      "authority": d.authority.as_dict() if d.authority else None,
                      "major": d.major, "sla_due_at": due_at.isoformat() if due_at else None,
                      "sla_rule": rule,
                      "likely_duplicates": [{"ticket_id": o, "distance_m": m} for o, m in near],
                  })
        return _load(db, tid, None), True


# -- state changes -----------------------------------------------------------------------------


def transition(store: Store, ticket_id: int, to_state: str, actor: str, reason: str,
               at: datetime | None = None, expected_version: int | None = None, *,
               actor_role: str | None = None, **data: Any) -> Ticket:
    """Move a ticket along one edge of the transition table and record it.

    Parameters
    ----------
    ticket_id, to_state
        The ticket and the state to move it to.
    actor, reason
        Who does it and why; both required.
    at
        When it happened (default: now); not in the future and not before the ticket's
        previous event.
    expected_version
        The version the caller read; a different stored version is a :class:`ConflictError`.
        Without it the change applies to whatever version is stored.
    actor_role
        The actor's role, recorded with the entry.
    **data
        Data the edge requires (``team_id``, ``duplicate_of``, ``holder``) and anything else
        to record with the entry (JSON values).

    Raises
    ------
    TicketError, TransitionError, ConflictError, LegalReviewRequired, NotFound
        Each naming the field; nothing is stored.
    """
    _check_id(ticket_id, "ticket_id")
    check_state(to_state, "to_state")
    require_text(actor, "actor", "who makes the change")
    require_text(reason, "reason", "why the ticket changes state")
    optional_text(actor_role, "actor_role")
    expected_version = _check_version(expected_version)
    payload = json_object(data, "data")
    with writing(store, f"moving ticket {ticket_id} to {to_state}") as db:
        now = db.now
        when = _event_time(at, now)
        t = _load(db, ticket_id, expected_version)
        check_transition(t.state, to_state, payload)
        changes: dict[str, Any] = {"state": to_state}
        if to_state == "assigned":
            changes["team_id"] = require_text(payload["team_id"], "team_id", "team to assign to")
        elif to_state in ("received", "transferred", "escalated"):
            changes["team_id"] = None
        if to_state == "transferred":
            require_text(payload["holder"], "holder", "unit the case is transferred to")
        if to_state == "duplicate":
            changes["duplicate_of"] = _original(db, t.id, payload["duplicate_of"])
        check_legal_review(t.id, t.major, to_state,
                           db.latest_legal_review(t.id) if to_state == DECISION_STATE else None)
        check_not_before(when, db.last_event_time("ticket", t.id), "at", f"ticket {t.id}")
        _save(db, t, changes, now)
        db.append("ticket", t.id, "transition", from_state=t.state, to_state=to_state,
                  actor=actor, actor_role=actor_role, reason=reason, occurred_at=when,
                  recorded_at=now, data=payload)
        return _load(db, t.id, None)


def _original(db: DispatchDb, ticket_id: int, other: object) -> int:
    """Check ``duplicate_of``: another, stored ticket that is not itself a duplicate."""
    oid = _check_id(other, "duplicate_of")
    if oid == ticket_id:
        raise TicketError("duplicate_of", f"ticket {ticket_id} cannot duplicate itself")
    o = db.ticket(oid)
    if o is None:
        raise TicketError("duplicate_of", f"no ticket {oid}")
    if o.state == "duplicate":
        raise TicketError("duplicate_of", f"ticket {oid} is itself a duplicate of "
                                          f"{o.duplicate_of}; link to {o.duplicate_of}")
    return oid


def assign(store: Store, ticket_id: int, team_id: str, actor: str, expected_version: int, *,
           reason: str | None = None, at: datetime | None = None,
           actor_role: str | None = None) -> Ticket:
    """Assign a ticket to a team (派单), atomically.

    ``expected_version`` is required: of two dispatchers who read the same version, exactly
    one assigns and the other gets a :class:`ConflictError` (the update is conditional on the
    version, ``UPDATE ... WHERE id = ? AND version = ?``).
    """
    if expected_version is None:
        raise TicketError("expected_version", "required to assign (the version you read)")
    require_text(team_id, "team_id", "team to assign to")
    return transition(store, ticket_id, "assigned", actor,
                      reason if reason is not None else f"assigned to {team_id}", at,
                      expected_version, actor_role=actor_role, team_id=team_id)


def record_legal_review(store: Store, ticket_id: int, reviewer: str, reviewer_role: str,
                        outcome: str, opinion: str, at: datetime | None = None,
                        expected_version: int | None = None) -> Ticket:
    """Record a legal review (法制审核) of the ticket's intended decision.

    Parameters
    ----------
    reviewer, reviewer_role
        Who reviews, and their role; only ``"legal_reviewer"`` may (the team registry that
        knows who holds the role is outside this layer, so the caller vouches for the role).
    outcome
        ``"approved"`` or ``"rejected"``. Only the latest review counts for the decision.
    opinion
        The review opinion, recorded as the entry's reason.
    """
    _check_id(ticket_id, "ticket_id")
    check_reviewer(reviewer, reviewer_role, outcome)
    require_text(opinion, "opinion", "the review opinion")
    expected_version = _check_version(expected_version)
    with writing(store, f"recording a legal review of ticket {ticket_id}") as db:
        now = db.now
        when = _event_time(at, now)
        t = _load(db, ticket_id, expected_version)
        if t.state not in OPEN_STATES:
            raise TicketError("ticket_id", f"ticket {t.id} is {t.state}: a legal review comes "
                                           f"before the decision ({DECISION_STATE})")
        check_not_before(when, db.last_event_time("ticket", t.id), "at", f"ticket {t.id}")
        entry = db.append("ticket", t.id, "legal_review", actor=reviewer,
                          actor_role=reviewer_role, reason=opinion, occurred_at=when,
                          recorded_at=now, data={"outcome": outcome})
        review = LegalReview(entry.seq, reviewer, reviewer_role, outcome, opinion, when)
        _save(db, t, {"legal_review": review.as_dict()}, now)
        return _load(db, t.id, None)


def flag_major(store: Store, ticket_id: int, actor: str, reason: str,
               at: datetime | None = None, expected_version: int | None = None, *,
               actor_role: str | None = None) -> Ticket:
    """Flag a ticket major: it then needs an approved legal review before the decision.

    There is no unflagging: a flag that could be lifted would let a decision skip the review.
    """
    _check_id(ticket_id, "ticket_id")
    require_text(actor, "actor", "who flags the ticket")
    require_text(reason, "reason", "why the case is major")
    expected_version = _check_version(expected_version)
    with writing(store, f"flagging ticket {ticket_id} major") as db:
        now = db.now
        when = _event_time(at, now)
        t = _load(db, ticket_id, expected_version)
        if t.major:
            raise TicketError("major", f"ticket {t.id} is already flagged major")
        if t.state not in OPEN_STATES:
            raise TicketError("ticket_id", f"ticket {t.id} is {t.state}; only an open ticket "
                                           "can be flagged major")
        check_not_before(when, db.last_event_time("ticket", t.id), "at", f"ticket {t.id}")
        _save(db, t, {"major": True}, now)
        db.append("ticket", t.id, "flag_major", actor=actor, actor_role=actor_role,
                  reason=reason, occurred_at=when, recorded_at=now, data={"major": True})
        return _load(db, t.id, None)


# -- queries -----------------------------------------------------------------------------------


def get_ticket(store: Store, ticket_id: int) -> Ticket:
    """The stored ticket with its duplicate links; NotFound if there is none."""
    _check_id(ticket_id, "ticket_id")
    with reading(store, f"reading ticket {ticket_id}") as db:
        t = db.ticket(ticket_id)
    if t is None:
        raise NotFound("ticket_id", f"no ticket {ticket_id}")
    return t


def list_tickets(store: Store, state: str | None = None, zone: str | None = None,
                 overdue_at: datetime | None = None, *, district: str | None = None,
                 after_id: int | None = None, limit: int | None = None) -> list[Ticket]:
    """Tickets matching every filter given, by id.

    ``overdue_at`` keeps open tickets whose deadline is before that time; ``after_id`` and
    ``limit`` page through the result (pass the last id seen).
    """
    if state is not None:
        check_state(state, "state")
    optional_text(zone, "zone")
    optional_text(district, "district")
    if overdue_at is not None and (not isinstance(overdue_at, datetime)
                                   or overdue_at.utcoffset() is None):
        raise TicketError("overdue_at", f"{overdue_at!r} is not a timezone-aware datetime")
    if after_id is not None:
        _check_id(after_id, "after_id")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 1):
        raise TicketError("limit", f"{limit!r} is not a positive whole number")
    with reading(store, "listing tickets") as db:
        return db.tickets(state=state, zone=zone, district=district, overdue_at=overdue_at,
                          after_id=after_id, limit=limit)


def overdue(store: Store, now: datetime | None = None) -> list[Ticket]:
    """Open tickets past their deadline at ``now`` (default: the server clock)."""
    return list_tickets(store, overdue_at=now if now is not None else utcnow())


def events(store: Store, ticket_id: int) -> list[AuditEntry]:
    """The ticket's audit entries in the order they were recorded."""
    _check_id(ticket_id, "ticket_id")
    with reading(store, f"reading the events of ticket {ticket_id}") as db:
        if db.ticket(ticket_id) is None:
            raise NotFound("ticket_id", f"no ticket {ticket_id}")
        return db.entity_entries("ticket", ticket_id)


def verify_audit(store: Store, anchor: tuple[int, str] | None = None) -> AuditReport:
    """Walk the whole audit chain and report the first broken link, if any.

    Checks, in order: ``seq`` runs 1, 2, 3, ... without gaps; each ``prev_hash`` is the hash
    of the entry before; each hash matches the entry's content; the ``anchor`` (a head
    recorded earlier) is still in the chain. Then it replays the states the log records and
    compares them with the stored tickets and summons.
    """
    if anchor is not None:
        seq, h = anchor
        _check_id(seq, "anchor")
        if not isinstance(h, str) or len(h) != 64:
            raise TicketError("anchor", f"{h!r} is not a sha256 hex digest")
    with reading(store, "verifying the audit log") as db:
        v = ChainVerifier(anchor=anchor)
        last = 0
        while v.problem is None:
            batch = db.entries_after(last, VERIFY_BATCH)
            if not batch:
                break
            for e in batch:
                if not v.feed(e):
                    break
            last = batch[-1].seq
        report = v.finish()
        if report.ok:
            problem = compare_states(v.states, db.ticket_states() | db.summons_states())
            if problem is not None:
                report = dataclasses.replace(report, problem=problem)
    return report


__all__ = [
    "DEFAULT_DUPLICATES",
    "DuplicatePolicy",
    "assign",
    "create_ticket",
    "events",
    "flag_major",
    "get_ticket",
    "list_tickets",
    "overdue",
    "record_legal_review",
    "transition",
    "verify_audit",
]
