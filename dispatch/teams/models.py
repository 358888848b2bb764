"""Enforcement teams and their people, as plain immutable data.

A team is a unit a dispatcher can send: a township or street enforcement team (综合行政执法队),
a hub town's team that also covers the townships of its "1+X" cluster (常山县方案 §三(一)), a
district department's brigade or squadron (执法大队/中队), or a city-level team stationed in the
district that joins by coordinated action (联动执法, 湖里区方案 §三(一)2).

Only certified officers (持执法证) may enforce; auxiliaries (协管/辅助人员) assist with patrol,
persuasion and information, and legal reviewers (法制审核人员) review major decisions
(威环政发〔2024〕2号 §二(四)8–9). A certificate counts on the local calendar days from
``valid_from`` to ``valid_to`` inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from geo.records import RecordError, RecordProblem

TeamKind = Literal["township", "hub", "department", "city"]
TEAM_KINDS: tuple[TeamKind, ...] = ("township", "hub", "department", "city")
Level = Literal["township", "district", "city"]
LEVEL_OF: dict[TeamKind, Level] = {"township": "township", "hub": "township",
                                   "department": "district", "city": "city"}
Role = Literal["officer", "auxiliary", "legal_reviewer"]
ROLES: tuple[Role, ...] = ("officer", "auxiliary", "legal_reviewer")
ROLE_ZH: dict[Role, str] = {"officer": "执法人员", "auxiliary": "辅助人员",
                            "legal_reviewer": "法制审核人员"}
DutyStatus = Literal["on_duty", "off_duty", "busy"]
DUTY_STATUSES: tuple[DutyStatus, ...] = ("on_duty", "off_duty", "busy")
DUTY_ZH: dict[DutyStatus, str] = {"on_duty": "在岗", "off_duty": "不在岗", "busy": "执勤中"}

# Huancui asks for legal reviewers of at least 5% of a township's enforcement staff
# (威环政发〔2024〕2号 §二(四)8).
LEGAL_REVIEWER_SHARE = 0.05


class TeamProblem(RecordProblem):
    """One finding: which record (team or member id), which field, and why it is refused."""


class TeamError(RecordError):
    """Bad team data or a refused update; lists every problem, each naming record and field."""

    subject = "the team data"
    default_record = "teams"
    problem_type = TeamProblem
    single_line = True  # a refused position update reads best as one line


@dataclass(frozen=True)
class Certificate:
    """An enforcement certificate (行政执法证): number and validity, both days inclusive."""

    number: str
    valid_from: date
    valid_to: date

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to

    def as_dict(self) -> dict[str, str]:
        return {"number": self.number, "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat()}


@dataclass(frozen=True)
class Member:
    """A person on a team. Officers carry a certificate; auxiliaries never do."""

    id: str
    name: str
    role: Role
    certificate: Certificate | None = None

    def certified_on(self, day: date) -> bool:
        """Whether this member may enforce on ``day``: an officer with a valid certificate."""
        return (self.role == "officer" and self.certificate is not None
                and self.certificate.valid_on(day))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role,
                "certificate": self.certificate.as_dict() if self.certificate else None}


@dataclass(frozen=True)
class Position:
    """A reported position of a team in the field (WGS84 degrees, naive local time)."""

    lon: float
    lat: float
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"lon": self.lon, "lat": self.lat, "at": self.at.isoformat()}


@dataclass(frozen=True)
class Team:
    """A dispatchable team and the authority it serves.

    ``township`` is the township code a township or hub team belongs to; ``serves`` lists the
    townships it covers (a hub team: every member of its "1+X" cluster, the hub first).
    ``department`` is the department code a department brigade or city-level team serves.
    ``duty`` is the status the data was loaded with; live changes are kept by the registry.
    """

    id: str
    name: str
    kind: TeamKind
    base_lon: float
    base_lat: float
    members: tuple[Member, ...]
    township: str | None = None
    serves: tuple[str, ...] = ()
    department: str | None = None
    duty: DutyStatus = "on_duty"
    name_en: str = ""
    base_township: str | None = None
    base_address: str = ""
    note: str = ""

    @property
    def level(self) -> Level:
        return LEVEL_OF[self.kind]

    @property
    def coordinated(self) -> bool:
        """City-level teams join by coordinated action (联动), not under district command."""
        return self.kind == "city"

    @property
    def officers(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.role == "officer")

    def members_with(self, role: Role) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.role == role)

    def certified_on(self, day: date) -> tuple[Member, ...]:
        """Officers whose certificate is valid on the local day ``day``."""
        return tuple(m for m in self.members if m.certified_on(day))

    def authority_keys(self) -> tuple[str, ...]:
        """The competent-holder keys this team answers for (see :func:`holder_key`)."""
        if self.kind == "township":
            return (f"township:{self.township}",)
        if self.kind == "hub":
            return (f"township:{self.township}",
                    *(f"hub:{self.township}:{m}" for m in self.serves if m != self.township))
        return (f"department:{self.department}",)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "name_en": self.name_en, "kind": self.kind,
                "level": self.level, "coordinated": self.coordinated,
                "township": self.township, "serves": list(self.serves),
                "department": self.department, "duty": self.duty,
                "base": {"lon": self.base_lon, "lat": self.base_lat,
                         "township": self.base_township, "address": self.base_address},
                "members": [m.as_dict() for m in self.members], "note": self.note}


def holder_key(kind: str, holder: str, acting_for: str | None = None) -> str:
    """The key naming who is competent, as teams list it in :meth:`Team.authority_keys`.

    ``township:<code>`` for a township's own team, ``hub:<hub>:<township>`` for a hub team
    acting for a radiated township, ``department:<code>`` for a department, and
    ``platform_office:<code>`` (which no team serves: the office rules first).
    """
    if kind == "hub_team":
        return f"hub:{holder}:{acting_for}"
    return f"{kind}:{holder}"
