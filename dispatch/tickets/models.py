"""Tickets, their audit entries and whistle summons as plain, immutable data.

A ticket is one reported matter (事件/工单) from one of the intake channels; it is stored once
per ``(source, external_id)`` so a feed that resends never duplicates it. A *likely* duplicate
(the same matter reported nearby by someone else) is kept and linked, never dropped.

A whistle summons (街道吹哨、部门报到, 威环政发〔2024〕2号 §二(二)2) is one township request that
fans out to several departments, each with its own report-in deadline and state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from dispatch.tickets.errors import TicketError
from dispatch.tickets.transitions import OPEN_STATES, LegalReview
from dispatch.tickets.validation import (
    check_lonlat,
    check_time,
    json_object,
    optional_text,
    require_text,
)

SOURCES: dict[str, tuple[str, str]] = {  # source -> (zh, en)
    "hotline_12345": ("12345热线", "12345 government hotline"),
    "grid": ("网格员上报", "grid worker report"),
    "patrol": ("巡查发现", "found on patrol"),
    "digital_city": ("数字城管", "digital city management"),
    "whistle": ("镇街吹哨", "township whistle"),
}
#: Sources that are other systems with their own ticket numbers: the number is required and
#: is the idempotency key of intake.
FEED_SOURCES = frozenset({"hotline_12345", "digital_city"})


class DecisionLike(Protocol):
    """What :meth:`Authority.from_decision` reads of a competence decision."""

    def as_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Authority:
    """Summary of the competence decision a ticket was dispatched on.

    ``kind`` is township, hub_team, department or platform_office; ``holder`` the code of the
    unit that acts; ``reasons`` the decision's reason chain (code, zh, en, source, on).
    """

    kind: str
    holder: str
    holder_name: str = ""
    transfer: bool = False
    dispute: bool = False
    reasons: tuple[Mapping[str, Any], ...] = ()
    catalogue_version: str | None = None

    @classmethod
    def from_decision(cls, decision: DecisionLike) -> Authority:
        """From a :class:`dispatch.catalog.competence.Decision` (read through ``as_dict``)."""
        d = decision.as_dict()
        return cls(kind=d["kind"], holder=d["holder"], holder_name=d.get("holder_name") or "",
                   transfer=bool(d.get("transfer")), dispute=bool(d.get("dispute")),
                   reasons=tuple(dict(r) for r in d.get("reasons") or ()),
                   catalogue_version=d.get("catalogue_version"))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Authority:
        return cls(kind=d["kind"], holder=d["holder"], holder_name=d.get("holder_name", ""),
                   transfer=bool(d.get("transfer")), dispute=bool(d.get("dispute")),
                   reasons=tuple(dict(r) for r in d.get("reasons") or ()),
                   catalogue_version=d.get("catalogue_version"))

    @property
    def major(self) -> bool:
        """True if the decision found major-penalty facts (reason ``penalty.major``)."""
        return any(r.get("code") == "penalty.major" for r in self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "holder": self.holder, "holder_name": self.holder_name,
                "transfer": self.transfer, "dispute": self.dispute,
                "reasons": [dict(r) for r in self.reasons],
                "catalogue_version": self.catalogue_version}


@dataclass(frozen=True)
class TicketDraft:
    """What intake knows about a new ticket. Validated by :meth:`checked` before storing.

    Parameters
    ----------
    source
        Intake channel, a key of :data:`SOURCES`.
    external_id
        The feed's own ticket number (required for 12345 and digital city tickets); intake is
        idempotent on ``(source, external_id)``.
    district, matter_code
        District code and catalogue matter code (None: not yet classified; such a ticket is
        not matched against likely duplicates).
    lon, lat
        Where it happened, WGS84 degrees.
    township, zone
        Township and zone (片区) codes, located by the caller.
    reported_at, received_at
        When the reporter reported it, and when Whistle received it (default: now).
    actor
        Who or what records the intake (a dispatcher id, or ``"feed:hotline_12345"``).
    major
        Flag the ticket major now (legal review before the decision); also set when the
        competence decision carries ``penalty.major``.
    """

    source: str
    district: str
    lon: float
    lat: float
    actor: str
    external_id: str | None = None
    matter_code: str | None = None
    township: str | None = None
    zone: str | None = None
    reported_at: datetime | None = None
    received_at: datetime | None = None
    description: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    authority: Authority | None = None
    major: bool = False

    def checked(self, now: datetime) -> TicketDraft:
        """A copy with times in UTC and every field checked; TicketError names the first bad one."""
        if self.source not in SOURCES:
            raise TicketError("source", f"{self.source!r}; expected one of {', '.join(SOURCES)}")
        external_id = optional_text(self.external_id, "external_id")
        if self.source in FEED_SOURCES and external_id is None:
            raise TicketError("external_id", f"required for {self.source} tickets (the feed's "
                                             "ticket number makes intake idempotent)")
        require_text(self.district, "district", "district code")
        matter = optional_text(self.matter_code, "matter_code")
        township = optional_text(self.township, "township")
        zone = optional_text(self.zone, "zone")
        lon, lat = check_lonlat(self.lon, self.lat)
        require_text(self.actor, "actor", "who records the intake")
        received = check_time(self.received_at if self.received_at is not None else now,
                              "received_at", now)
        reported = None
        if self.reported_at is not None:
            reported = check_time(self.reported_at, "reported_at", now)
            if reported > received:
                raise TicketError("reported_at", f"{reported.isoformat()} is after received_at "
                                                 f"{received.isoformat()}")
        if not isinstance(self.description, str):
            raise TicketError("description", "expected text")
        if not isinstance(self.major, bool):
            raise TicketError("major", f"{self.major!r} is not true or false")
        if self.authority is not None and not isinstance(self.authority, Authority):
            raise TicketError("authority", "expected an Authority (see Authority.from_decision)")
        return TicketDraft(
            source=self.source, district=self.district, lon=lon, lat=lat, actor=self.actor,
            external_id=external_id, matter_code=matter, township=township, zone=zone,
            reported_at=reported, received_at=received, description=self.description,
            facts=json_object(self.facts, "facts"), authority=self.authority,
            major=self.major or (self.authority is not None and self.authority.major))


@dataclass(frozen=True)
class DuplicateLink:
    """A likely duplicate found at intake: ``other_id`` is within the radius and time window."""

    ticket_id: int
    other_id: int
    distance_m: float
    kind: str = "likely_duplicate"

    def as_dict(self) -> dict[str, Any]:
        return {"ticket_id": self.ticket_id, "other_id": self.other_id,
                "distance_m": self.distance_m, "kind": self.kind}


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


@dataclass(frozen=True)
class Ticket:
    """A stored ticket. ``version`` increases with every change (optimistic concurrency)."""

    id: int
    source: str
    external_id: str | None
    district: str
    matter_code: str | None
    lon: float
    lat: float
    township: str | None
    zone: str | None
    reported_at: datetime | None
    received_at: datetime
    state: str
    version: int
    authority: Authority | None
    team_id: str | None
    major: bool
    sla_due_at: datetime | None
    sla_rule: str | None
    duplicate_of: int | None
    description: str
    facts: Mapping[str, Any]
    legal_review: LegalReview | None
    created_at: datetime
    updated_at: datetime
    links: tuple[DuplicateLink, ...] = ()

    @property
    def is_open(self) -> bool:
        """True while the resolution clock runs (not handled, closed, duplicate or rejected)."""
        return self.state in OPEN_STATES

    def is_overdue(self, now: datetime) -> bool:
        return self.is_open and self.sla_due_at is not None and self.sla_due_at < now

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO 8601 strings)."""
        return {
            "id": self.id, "source": self.source, "external_id": self.external_id,
            "district": self.district, "matter_code": self.matter_code, "lon": self.lon,
            "lat": self.lat, "township": self.township, "zone": self.zone,
            "reported_at": _iso(self.reported_at), "received_at": _iso(self.received_at),
            "state": self.state, "version": self.version,
            "authority": self.authority.as_dict() if self.authority else None,
            "team_id": self.team_id, "major": self.major, "sla_due_at": _iso(self.sla_due_at),
            "sla_rule": self.sla_rule, "duplicate_of": self.duplicate_of,
            "description": self.description, "facts": dict(self.facts),
            "legal_review": self.legal_review.as_dict() if self.legal_review else None,
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at),
            "links": [link.as_dict() for link in self.links],
        }


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit chain (see :mod:`dispatch.tickets.audit` for the hash).

    ``occurred_at`` is when the event happened as stated by the caller; ``recorded_at`` is the
    server clock when it was written. ``entity`` is ``"ticket"`` or ``"summons"``.
    """

    seq: int
    entity: str
    entity_id: int
    action: str
    from_state: str | None
    to_state: str | None
    actor: str
    actor_role: str | None
    reason: str
    occurred_at: datetime
    recorded_at: datetime
    data: Mapping[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "entity": self.entity, "entity_id": self.entity_id,
                "action": self.action, "from_state": self.from_state,
                "to_state": self.to_state, "actor": self.actor, "actor_role": self.actor_role,
                "reason": self.reason, "occurred_at": self.occurred_at.isoformat(),
                "recorded_at": self.recorded_at.isoformat(), "data": dict(self.data),
                "prev_hash": self.prev_hash, "hash": self.hash}


# -- whistle summons -------------------------------------------------------------------------


@dataclass(frozen=True)
class SummonsDraft:
    """A township's whistle: which departments must report in, and by when.

    ``report_within`` overrides the policy's report-in time for every department;
    ``report_within_by_department`` overrides it per department code.
    """

    district: str
    township: str
    departments: Sequence[str]
    description: str
    raised_by: str
    raised_at: datetime | None = None
    zone: str | None = None
    ticket_id: int | None = None
    lon: float | None = None
    lat: float | None = None
    report_within: timedelta | None = None
    report_within_by_department: Mapping[str, timedelta] = field(default_factory=dict)

    def checked(self, now: datetime) -> SummonsDraft:
        require_text(self.district, "district", "district code")
        require_text(self.township, "township", "code of the township that blows the whistle")
        require_text(self.description, "description", "what the departments are needed for")
        require_text(self.raised_by, "raised_by", "who blows the whistle")
        optional_text(self.zone, "zone")
        if isinstance(self.departments, str) or not isinstance(self.departments, Sequence):
            raise TicketError("departments", "expected a list of department codes")
        depts = list(self.departments)
        if not depts:
            raise TicketError("departments", "a whistle summons at least one department")
        for i, d in enumerate(depts):
            require_text(d, f"departments[{i}]", "department code")
        dup = sorted({d for d in depts if depts.count(d) > 1})
        if dup:
            raise TicketError("departments", f"listed more than once: {', '.join(dup)}")
        unknown = sorted(set(self.report_within_by_department) - set(depts))
        if unknown:
            raise TicketError("report_within_by_department",
                              f"{', '.join(unknown)} not among the summoned departments")
        for key, td in [("report_within", self.report_within),
                        *((f"report_within_by_department.{k}", v)
                          for k, v in self.report_within_by_department.items())]:
            if td is not None and (not isinstance(td, timedelta) or td <= timedelta(0)):
                raise TicketError(key, f"{td!r} is not a positive duration")
        if self.ticket_id is not None and (isinstance(self.ticket_id, bool)
                                           or not isinstance(self.ticket_id, int)):
            raise TicketError("ticket_id", f"{self.ticket_id!r} is not a ticket id")
        lon = lat = None
        if self.lon is not None or self.lat is not None:
            lon, lat = check_lonlat(self.lon, self.lat)
        raised = check_time(self.raised_at if self.raised_at is not None else now,
                            "raised_at", now)
        return SummonsDraft(
            district=self.district, township=self.township, departments=tuple(depts),
            description=self.description, raised_by=self.raised_by, raised_at=raised,
            zone=self.zone, ticket_id=self.ticket_id, lon=lon, lat=lat,
            report_within=self.report_within,
            report_within_by_department=dict(self.report_within_by_department))


@dataclass(frozen=True)
class SummonedDepartment:
    """One department's part in a summons: report in by ``report_due_at``, then act."""

    department: str
    state: str
    report_due_at: datetime
    reported_at: datetime | None = None
    reported_by: str | None = None
    acted_at: datetime | None = None
    acted_by: str | None = None
    note: str = ""

    def is_overdue(self, now: datetime) -> bool:
        """Flagged overdue, or still not reported in after the deadline."""
        return self.state == "overdue" or (self.state == "summoned" and self.report_due_at < now)

    @property
    def reported_late(self) -> bool:
        return self.reported_at is not None and self.reported_at > self.report_due_at

    def as_dict(self) -> dict[str, Any]:
        return {"department": self.department, "state": self.state,
                "report_due_at": _iso(self.report_due_at), "reported_at": _iso(self.reported_at),
                "reported_by": self.reported_by, "acted_at": _iso(self.acted_at),
                "acted_by": self.acted_by, "note": self.note,
                "reported_late": self.reported_late}


@dataclass(frozen=True)
class WhistleSummons:
    """A stored whistle summons; it closes only once every department has reported and acted."""

    id: int
    district: str
    township: str
    zone: str | None
    ticket_id: int | None
    description: str
    lon: float | None
    lat: float | None
    raised_by: str
    raised_at: datetime
    state: str
    version: int
    closed_at: datetime | None
    departments: tuple[SummonedDepartment, ...]

    def department(self, code: str) -> SummonedDepartment:
        for d in self.departments:
            if d.department == code:
                return d
        summoned = ", ".join(d.department for d in self.departments)
        raise TicketError("department", f"{code!r} was not summoned by summons {self.id} "
                                        f"(summoned: {summoned})")

    def pending(self) -> tuple[SummonedDepartment, ...]:
        """Departments that have not yet reported in and acted."""
        return tuple(d for d in self.departments if d.state != "acted")

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "district": self.district, "township": self.township,
                "zone": self.zone, "ticket_id": self.ticket_id, "description": self.description,
                "lon": self.lon, "lat": self.lat, "raised_by": self.raised_by,
                "raised_at": _iso(self.raised_at), "state": self.state, "version": self.version,
                "closed_at": _iso(self.closed_at),
                "departments": [d.as_dict() for d in self.departments]}
