"""The power catalogue (赋权事项清单) as plain data: matters, departments and an append-only log.

A catalogue is a list of matters (事项) owned by district departments plus a *log* of records:
grants (赋权, or 委托 by agreement), recalls and corrections. Records are never rewritten; a
recall or a correction is a new record that references the grant it changes. The catalogue in
force on a day is derived by replaying the log (see :mod:`dispatch.catalog.service`), which is
why a dispatch decision taken in 2022 can be reproduced exactly in 2025.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from dateutil.relativedelta import relativedelta

from geo.records import RecordError, RecordProblem

# The 23 domains (方面) whose penalty powers Changshan gave to its townships, in the order of
# the plan: 常山县辉埠镇等7个乡镇（街道）综合行政执法改革工作实施方案 §二(一).
DOMAINS: dict[str, str] = {
    "安全生产": "work safety",
    "城市绿化": "urban greening",
    "城市市容和环境卫生": "city appearance and sanitation",
    "城乡规划": "urban-rural planning",
    "房地产业": "real estate",
    "工商行政管理": "business administration",
    "交通运输": "transport",
    "教育": "education",
    "林政": "forestry",
    "陆域渔政": "inland fisheries",
    "民政": "civil affairs",
    "农业农村": "agriculture and rural affairs",
    "人力资源和劳动保障": "human resources and labour protection",
    "人行道违停": "pavement parking",
    "商务": "commerce",
    "生态环境": "ecology and environment",
    "市政公用": "municipal utilities",
    "室外无照经营": "unlicensed outdoor trading",
    "水事管理": "water affairs",
    "土地和矿产资源": "land and mineral resources",
    "文化旅游": "culture and tourism",
    "新闻出版": "press and publication",
    "自然资源": "natural resources",
}

Mode = Literal["granted", "entrusted"]
MODES: tuple[Mode, ...] = ("granted", "entrusted")
MODE_ZH = {"granted": "赋权", "entrusted": "委托"}

# Huancui sets a 3-month transition for every grant (威环政发〔2024〕2号 §二(五)12). Entrustment
# is a contract with its own term, so it has none unless the record says so.
DEFAULT_TRANSITION_MONTHS = 3

# How a grant line stands on a given day; see GrantLine.phase_at.
Phase = Literal["before", "transition", "in_force", "recalled", "expired"]


class CatalogProblem(RecordProblem):
    """One finding in a catalogue file: which record, which field, and why it is refused."""


class CatalogError(RecordError):
    """Raised when a catalogue file is malformed or inconsistent; lists every problem found."""

    subject = "the power catalogue"
    default_record = "catalogue"
    problem_type = CatalogProblem


@dataclass(frozen=True)
class Department:
    """A district/county department that owns matters and takes back what townships cannot."""

    code: str
    name: str
    name_en: str = ""


@dataclass(frozen=True)
class Matter:
    """One enforcement matter (事项) with its legal basis and discretion benchmark (裁量基准).

    ``department`` is None for a matter whose owner is still unclear: such a matter goes to the
    platform office for a ruling, never to a guessed department.
    """

    code: str
    name: str
    domain: str
    department: str | None
    legal_basis: str = ""
    penalty_basis: str = ""
    discretion: str = ""
    note: str = ""


@dataclass(frozen=True)
class Target:
    """Who receives a grant: every township of a class, or one named township (by code)."""

    kind: Literal["class", "township"]
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Agreement:
    """The agreement behind an entrusted matter (委托协议): basis, scope, term and duties.

    The term is inclusive on both ends (calendar days).
    """

    department: str
    basis: str
    scope: str
    term_start: date
    term_end: date
    duties: str
    number: str = ""


@dataclass(frozen=True)
class PlatformOffice:
    """The office that rules on unclear matters and jurisdiction disputes."""

    code: str
    name: str
    name_en: str = "platform office"


@dataclass(frozen=True)
class ManagementArea:
    """An area whose patrol unit is not the township that handles its cases.

    Huancui's 里口山 management centre patrols its area and hands listed cases to 张村镇
    (威环政发〔2024〕2号 §二(五)13). ``case_township`` is a township code of the district.
    """

    code: str
    name: str
    patrol_unit: str
    patrol_unit_name: str
    case_township: str
    note: str = ""


@dataclass(frozen=True)
class GrantRecord:
    """A grant of one or more matters to a target from ``effective_from`` (赋权 or 委托)."""

    id: str
    recorded_at: datetime
    matters: tuple[str, ...]
    target: Target
    mode: Mode
    effective_from: date
    transition_months: int
    agreement: Agreement | None = None
    document: str = ""
    note: str = ""
    kind: Literal["grant"] = "grant"


@dataclass(frozen=True)
class RecallRecord:
    """Takes back some (or all) matters of an earlier grant from ``effective`` on."""

    id: str
    recorded_at: datetime
    grant: str
    matters: tuple[str, ...]  # empty: every matter of the grant
    effective: date
    document: str = ""
    reason: str = ""
    kind: Literal["recall"] = "recall"


@dataclass(frozen=True)
class CorrectionRecord:
    """Corrects fields of an earlier grant or recall, or voids it (``void``: entered in error).

    ``changes`` holds parsed values keyed by field name: a grant accepts ``effective_from``,
    ``transition_months``, ``target``, ``agreement``, ``document`` and ``void``; a recall
    accepts ``effective`` and ``void``.
    """

    id: str
    recorded_at: datetime
    corrects: str
    changes: dict[str, Any]
    reason: str = ""
    kind: Literal["correction"] = "correction"


Record = GrantRecord | RecallRecord | CorrectionRecord


@dataclass(frozen=True)
class GrantLine:
    """One matter of one grant as known after replaying the log: the unit dispatch reads.

    Dates are calendar days; ``end`` is exclusive. A granted line is *in transition* from
    ``start`` until ``takeover``; an entrusted line only runs inside its agreement term.
    """

    grant: str
    matter: str
    target: Target
    mode: Mode
    effective_from: date
    transition_months: int
    agreement: Agreement | None
    recalled_on: date | None
    recall: str | None
    document: str
    history: tuple[str, ...]  # ids of every record that shaped this line, in log order

    @property
    def start(self) -> date:
        if self.agreement is not None:
            return max(self.effective_from, self.agreement.term_start)
        return self.effective_from

    @property
    def takeover(self) -> date:
        """First day the township itself is responsible (end of the transition period)."""
        return self.start + relativedelta(months=self.transition_months)

    @property
    def expires(self) -> date | None:
        """Day after the agreement term ends, for an entrusted line."""
        if self.agreement is None:
            return None
        return self.agreement.term_end + relativedelta(days=1)

    @property
    def end(self) -> date | None:
        ends = [d for d in (self.recalled_on, self.expires) if d is not None]
        return min(ends) if ends else None

    def phase_at(self, day: date) -> Phase:
        if day < self.start:
            return "before"
        end = self.end
        if end is not None and day >= end:
            return "recalled" if self.recalled_on is not None and end == self.recalled_on \
                else "expired"
        if day < self.takeover:
            return "transition"
        return "in_force"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "grant": self.grant, "matter": self.matter, "target": str(self.target),
            "mode": self.mode, "effective_from": self.effective_from.isoformat(),
            "takeover": self.takeover.isoformat(), "transition_months": self.transition_months,
            "recalled_on": self.recalled_on.isoformat() if self.recalled_on else None,
            "recall": self.recall, "document": self.document, "history": list(self.history),
        }
        if self.agreement is not None:
            a = self.agreement
            out["agreement"] = {"department": a.department, "number": a.number,
                                "basis": a.basis, "scope": a.scope,
                                "term_start": a.term_start.isoformat(),
                                "term_end": a.term_end.isoformat(), "duties": a.duties}
        return out


@dataclass(frozen=True)
class CatalogLog:
    """Everything a catalogue file holds: reference data plus the append-only record log."""

    district: str
    version: str
    departments: dict[str, Department]
    matters: dict[str, Matter]
    records: tuple[Record, ...]
    platform_office: PlatformOffice
    management_areas: dict[str, ManagementArea] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=lambda: dict(DOMAINS))
    team_suffix: str = "综合行政执法队"
    title: str = ""
    note: str = ""
