"""Who is competent for a matter at a place and time, and why — as a readable reason chain.

The rules, each cited in the reason it produces:

- inside the list the township handles it, outside it the district department
  (威环政发〔2024〕2号 §二(三)4);
- during the 3-month transition after a grant the department stays responsible, also for cases
  still open when it ends (§二(五)12);
- major penalties (lowering a qualification, revoking a licence, suspension of production or
  business, closure, restricting practice, a fine of ¥50,000 or more) stay with the
  department and a township holding such a case transfers it (移送) (§二(五)13);
- an area patrolled by a unit without case power hands its cases to a township (§二(五)13);
- a hub town's team also covers the townships it radiates to in its "1+X" cluster, acting for
  them (常山县方案 §三(一));
- an entrusted (委托) matter is exercised in the entrusting department's name within the
  agreement term (威环政发〔2024〕2号 §二(一)1);
- unclear or unlisted matters and conflicting competences go to the platform office, which
  rules (§二(五)11, §二(五)14). The code never guesses a holder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from dispatch.catalog.models import GrantLine, ManagementArea, Matter
from dispatch.catalog.service import Catalogue, LineState, local_day
from geo.boundaries import Township

AuthorityKind = Literal["township", "hub_team", "department", "platform_office"]

W = "威环政发〔2024〕2号"
C = "常山县7乡镇（街道）综合行政执法改革实施方案"

MAJOR_FINE_YUAN = 50_000  # 处罚款5万元以上 (§二(五)13): the threshold itself is major
MAJOR_MEASURES: dict[str, tuple[str, str]] = {
    "lower_qualification": ("降低资质等级", "lowering a qualification grade"),
    "revoke_licence": ("吊销许可证件", "revoking a licence"),
    "suspend_business": ("责令停产停业", "ordering suspension of production or business"),
    "order_closure": ("责令关闭", "ordering closure"),
    "restrict_practice": ("限制从业", "restricting practice"),
}


class CompetenceError(ValueError):
    """Raised for a request that cannot be decided at all (an unknown place)."""


@dataclass(frozen=True)
class CaseFacts:
    """What is known about the case that can move it away from the township.

    Parameters
    ----------
    fine_yuan
        The fine the case may lead to, in yuan (None: not assessed).
    measures
        Major measures the case may lead to, keys of :data:`MAJOR_MEASURES`.
    held_by
        Code of the township (or hub town) whose team already holds the case, if any: a case
        that must go to the department is then a transfer (移送), not a fresh assignment.
    """

    fine_yuan: float | None = None
    measures: frozenset[str] = field(default_factory=frozenset)
    held_by: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.measures, frozenset):
            object.__setattr__(self, "measures", frozenset(self.measures))
        unknown = sorted(self.measures - MAJOR_MEASURES.keys())
        if unknown:
            raise ValueError(f"measures: unknown {', '.join(unknown)}; expected any of "
                             f"{', '.join(MAJOR_MEASURES)}")
        if self.fine_yuan is not None and self.fine_yuan < 0:
            raise ValueError(f"fine_yuan: {self.fine_yuan} is negative")

    def major_triggers(self) -> tuple[tuple[str, str], ...]:
        """(zh, en) descriptions of what makes this a major-penalty case, if anything."""
        out = [MAJOR_MEASURES[m] for m in sorted(self.measures)]
        if self.fine_yuan is not None and self.fine_yuan >= MAJOR_FINE_YUAN:
            out.append((f"罚款{self.fine_yuan:,.0f}元（5万元以上）",
                        f"a fine of ¥{self.fine_yuan:,.0f} (¥50,000 or more)"))
        return tuple(out)


@dataclass(frozen=True)
class Reason:
    """One step of the explanation, in Chinese and English, with the clause it applies."""

    code: str
    zh: str
    en: str
    source: str = ""
    on: date | None = None  # the day this step turns on: takeover, recall, term end

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "zh": self.zh, "en": self.en, "source": self.source,
                "on": self.on.isoformat() if self.on else None}


@dataclass(frozen=True)
class Decision:
    """The competent authority for one case, and the reasons, reproducibly dated.

    ``holder`` is the unit that acts (a township code for township and hub teams, a
    department code, or the platform office code); ``case_in_name_of`` is the legal subject
    whose name the case bears (the township, or the entrusting department).
    """

    matter: str
    place: str
    township: str | None
    kind: AuthorityKind
    holder: str
    holder_name: str
    acting_for: str | None
    case_in_name_of: str | None
    case_in_name_of_name: str | None
    transfer: bool
    dispute: bool
    reasons: tuple[Reason, ...]
    catalogue_version: str
    catalogue_date: date
    grant: str | None = None
    patrol_unit: str | None = None
    patrol_unit_name: str | None = None
    acting_for_name: str | None = None

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def summary(self, lang: Literal["zh", "en"] = "zh") -> str:
        name_of = self.case_in_name_of_name
        if lang == "zh":
            s = {"township": f"由{self.holder_name}办理",
                 "hub_team": f"由{self.holder_name}代{self.acting_for_name}办理",
                 "department": f"由{self.holder_name}管辖",
                 "platform_office": f"提交{self.holder_name}裁定"}[self.kind]
            if name_of and self.kind != "department":
                s += f"，以{name_of}名义"
            return s + ("（移送）" if self.transfer else "")
        s = {"township": f"handled by {self.holder_name}",
             "hub_team": f"handled by {self.holder_name} acting for {self.acting_for_name}",
             "department": f"with the department {self.holder_name}",
             "platform_office": f"referred to {self.holder_name} for a ruling"}[self.kind]
        if name_of and self.kind != "department":
            s += f", in the name of {name_of}"
        return s + (" (transfer)" if self.transfer else "")

    def explain(self, lang: Literal["zh", "en"] = "zh") -> str:
        """The summary followed by the numbered reasons, for a dispatcher to read."""
        lines = [self.summary(lang)]
        for i, r in enumerate(self.reasons, 1):
            text = r.zh if lang == "zh" else r.en
            lines.append(f"{i}. {text}" + (f" [{r.source}]" if r.source else ""))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "matter": self.matter, "place": self.place, "township": self.township,
            "kind": self.kind, "holder": self.holder, "holder_name": self.holder_name,
            "acting_for": self.acting_for, "acting_for_name": self.acting_for_name,
            "case_in_name_of": self.case_in_name_of,
            "case_in_name_of_name": self.case_in_name_of_name, "transfer": self.transfer,
            "dispute": self.dispute, "grant": self.grant, "patrol_unit": self.patrol_unit,
            "patrol_unit_name": self.patrol_unit_name,
            "summary_zh": self.summary("zh"), "summary_en": self.summary("en"),
            "reasons": [r.as_dict() for r in self.reasons],
            "catalogue_version": self.catalogue_version,
            "catalogue_date": self.catalogue_date.isoformat(),
        }


def _subject_name(t: Township) -> str:
    # Townships act "以本级人民政府（街道办事处）名义" (常山县方案 §二(二)1).
    return f"{t.name}办事处" if t.kind == "街道" else f"{t.name}人民政府"


def _target_zh(line: GrantLine, township: Township, class_labels: dict[str, str]) -> str:
    if line.target.kind == "class":
        label = class_labels.get(township.town_class, township.town_class)
        return f"“{label.split(' (')[0]}”类乡镇（街道）"
    return township.name


class Competence:
    """Decides competence against one catalogue; build once, then call :meth:`decide`.

    Everything a decision needs is precomputed into dicts here (townships by code and name,
    the hub of each radiated township, management areas), so a decision is a handful of dict
    lookups and one bisection in the catalogue index.
    """

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        district = catalogue.district
        log = catalogue.log
        self.townships: dict[str, Township] = {t.code: t for t in district.townships}
        self._by_key = {**{t.name: t.code for t in district.townships},
                        **{t.code: t.code for t in district.townships}}
        self.hub_of: dict[str, str] = {}
        for cluster in district.clusters:
            if cluster.hub:
                for member in cluster.members:
                    if member != cluster.hub:
                        self.hub_of[member] = cluster.hub
        self.areas: dict[str, ManagementArea] = dict(log.management_areas)
        self.areas.update({a.name: a for a in log.management_areas.values()})
        self.office = log.platform_office
        self.class_labels: dict[str, str] = dict(district.meta.get("town_classes") or {})
        self.suffix = log.team_suffix

    def resolve(self, place: str) -> str:
        """Township code of a township or management area (name or code) — its case township."""
        area = self.areas.get(place)
        if area is not None:
            return area.case_township
        code = self._by_key.get(place)
        if code is None:
            raise CompetenceError(
                f"place {place!r} is neither a township nor a management area of "
                f"{self.catalogue.district.code}")
        return code

    # -- decision ---------------------------------------------------------------------------

    def decide(self, matter: str, place: str, at: date | datetime,
               facts: CaseFacts | None = None) -> Decision:
        """The competent authority for ``matter`` at ``place`` for an incident at ``at``.

        Parameters
        ----------
        matter
            Matter code.
        place
            Township code or name, or a management area code or name.
        at
            Incident time; the catalogue in force on its local (Asia/Shanghai) day is used.
        facts
            Case facts that may move the case to the department.
        """
        facts = facts or CaseFacts()
        if facts.held_by is not None and facts.held_by not in self.townships \
                and facts.held_by not in self.catalogue.departments:
            raise CompetenceError(f"held_by: {facts.held_by!r} is neither a township nor a "
                                  "department code")
        day = local_day(at)
        reasons: list[Reason] = []
        area = self.areas.get(place)
        if area is not None:
            code = area.case_township
            reasons.append(Reason(
                "area.patrol_split",
                f"{area.name}由{area.patrol_unit_name}负责日常巡查，无案件查处权；清单内违法行为"
                f"立案查处移交{self.townships[code].name}",
                f"{area.name} is patrolled by {area.patrol_unit_name}, which has no case "
                f"power; listed cases are handed to {self.townships[code].name} ({code})",
                f"{W} §二(五)13"))
        else:
            code = self.resolve(place)
        township = self.townships[code]
        ctx = _Ctx(self, matter, place, township, area, day, facts, reasons)

        m = self.catalogue.matters.get(matter)
        if m is None:
            reasons.append(Reason(
                "matter.unknown", f"事项{matter}不在赋权事项清单或部门事项中，属清单外事项",
                f"matter {matter} is in neither the catalogue nor any department's list",
                f"{W} §二(五)11"))
            return ctx.to_platform()
        if m.department is None:
            reasons.append(Reason(
                "matter.no_department", f"事项{m.code}（{m.name}）职责不清，尚无主管部门",
                f"matter {m.code} has no owning department yet (responsibility unclear)",
                f"{W} §二(五)11"))
            return ctx.to_platform()

        states = self.catalogue.states_at(matter, code, day)
        active = [s for s in states if s[1] == "in_force"]
        if not active:
            reasons.append(self._why_department(m, township, states, day))
            return ctx.to_department(m.department)

        subjects = {(ln.mode, ln.agreement.department if ln.agreement else code)
                    for ln, _ in active}
        if len(subjects) > 1:
            grants = "、".join(ln.grant for ln, _ in active)
            reasons.append(Reason(
                "grant.conflict",
                f"{township.name}对事项{m.code}同时有多个生效授权（{grants}），实施主体不一致",
                f"{township.name} holds matter {m.code} under several grants in force "
                f"({grants.replace('、', ', ')}) naming different subjects",
                f"{W} §二(五)14"))
            return ctx.to_platform(dispute=True)
        # Same subject under several grants (class list + named township): the named one is
        # the more specific record, and the outcome is the same either way.
        line = min((ln for ln, _ in active), key=lambda ln: ln.target.kind != "township")
        reasons.append(self._why_township(m, line, township))

        triggers = facts.major_triggers()
        if triggers:
            zh = "、".join(t[0] for t in triggers)
            en = "; ".join(t[1] for t in triggers)
            reasons.append(Reason(
                "penalty.major", f"案件可能涉及{zh}等重大行政处罚，仍由原行政执法部门管辖",
                f"the case may lead to a major penalty ({en}), which stays with the "
                "department", f"{W} §二(五)13"))
            return ctx.to_department(line.agreement.department if line.agreement
                                  else m.department, grant=line.grant)
        return ctx.to_township(line)

    # -- reasons ----------------------------------------------------------------------------

    def _why_township(self, m: Matter, line: GrantLine, t: Township) -> Reason:
        if line.mode == "entrusted" and line.agreement is not None:
            a = line.agreement
            dept = self.catalogue.departments[a.department].name
            no = f"（{a.number}）" if a.number else ""
            return Reason(
                "grant.entrusted",
                f"{dept}依委托协议{no}将事项{m.code}（{m.name}）委托{t.name}实施，"
                f"委托期限{a.term_start}至{a.term_end}，以{dept}名义执法",
                f"{dept} entrusted matter {m.code} to {t.name} by agreement {a.number}".rstrip()
                + f" for {a.term_start} to {a.term_end}; enforcement is in the "
                  f"department's name", f"{W} §二(一)1", a.term_end)
        to = _target_zh(line, t, self.class_labels)
        return Reason(
            "grant.in_force",
            f"事项{m.code}（{m.name}）自{line.effective_from}起赋予{to}"
            f"（{line.grant}），过渡期至{line.takeover}已满，由{t.name}行使",
            f"matter {m.code} was granted to {line.target} from {line.effective_from} "
            f"({line.grant}); the transition ended on {line.takeover}, so {t.name} holds it",
            f"{W} §二(三)4", line.takeover)

    def _why_department(self, m: Matter, t: Township, states: tuple[LineState, ...],
                        day: date) -> Reason:
        dept = self.catalogue.departments[m.department or ""].name
        by_phase = {ph: ln for ln, ph in states}
        if (ln := by_phase.get("transition")) is not None:
            to = _target_zh(ln, t, self.class_labels)
            return Reason(
                "grant.in_transition",
                f"事项{m.code}自{ln.effective_from}起赋予{to}（{ln.grant}），"
                f"{ln.takeover}前为过渡期；过渡期内发生的问题及期满未办结事项仍由{dept}负责",
                f"matter {m.code} was granted from {ln.effective_from} ({ln.grant}) but is in "
                f"transition until {ln.takeover}; what arises in it, and cases still open when "
                f"it ends, stay with {dept}", f"{W} §二(五)12", ln.takeover)
        if (ln := by_phase.get("recalled")) is not None:
            to = _target_zh(ln, t, self.class_labels)
            return Reason(
                "grant.recalled",
                f"事项{m.code}原赋予{to}（{ln.grant}），已于{ln.recalled_on}"
                f"收回（{ln.recall}），由{dept}管辖",
                f"matter {m.code} was granted ({ln.grant}) but recalled on {ln.recalled_on} "
                f"({ln.recall}); {dept} holds it", f"{W} §二(五)14", ln.recalled_on)
        if (ln := by_phase.get("expired")) is not None and ln.agreement is not None:
            return Reason(
                "grant.expired",
                f"事项{m.code}委托{t.name}实施的协议已于{ln.agreement.term_end}期满，"
                f"由{dept}管辖",
                f"the agreement entrusting matter {m.code} to {t.name} ended on "
                f"{ln.agreement.term_end}; {dept} holds it", f"{W} §二(一)1",
                ln.agreement.term_end)
        return Reason(
            "grant.not_granted",
            f"事项{m.code}（{m.name}）在{day}未赋予或委托{t.name}，属清单外事项，由{dept}管辖",
            f"matter {m.code} is not granted or entrusted to {t.name} on {day}; outside the "
            f"list it stays with {dept}", f"{W} §二(三)4")


@dataclass
class _Ctx:
    """The parts of one decision shared by every outcome."""

    comp: Competence
    matter: str
    place: str
    township: Township
    area: ManagementArea | None
    day: date
    facts: CaseFacts
    reasons: list[Reason]

    def _make(self, **kw: Any) -> Decision:
        return Decision(
            matter=self.matter, place=self.place, township=self.township.code,
            reasons=tuple(self.reasons), catalogue_version=self.comp.catalogue.version,
            catalogue_date=self.day,
            patrol_unit=self.area.patrol_unit if self.area else None,
            patrol_unit_name=self.area.patrol_unit_name if self.area else None, **kw)

    def to_platform(self, dispute: bool = True) -> Decision:
        office = self.comp.office
        self.reasons.append(Reason(
            "route.platform_office", f"不作推定，提交{office.name}快速裁定并指定管辖",
            f"no guess is made: referred to {office.name_en} ({office.name}) to rule and "
            "assign", f"{W} §二(五)11、14"))
        return self._make(kind="platform_office", holder=office.code, holder_name=office.name,
                          acting_for=None, case_in_name_of=None, case_in_name_of_name=None,
                          transfer=False, dispute=dispute)

    def to_department(self, dept_code: str, grant: str | None = None) -> Decision:
        dept = self.comp.catalogue.departments[dept_code]
        held = self.facts.held_by
        transfer = held is not None and held in self.comp.townships
        if transfer:
            holder = self.comp.townships[held]  # type: ignore[index]
            self.reasons.append(Reason(
                "case.transfer", f"案件已由{holder.name}受理，应及时移送{dept.name}",
                f"{holder.name} already holds the case and must transfer it (移送) to "
                f"{dept.name}", f"{W} §二(五)13"))
        return self._make(kind="department", holder=dept.code, holder_name=dept.name,
                          acting_for=None, case_in_name_of=dept.code,
                          case_in_name_of_name=dept.name, transfer=transfer, dispute=False,
                          grant=grant)

    def to_township(self, line: GrantLine) -> Decision:
        comp, t = self.comp, self.township
        if line.agreement is not None:
            dept = comp.catalogue.departments[line.agreement.department]
            name_of, name_of_name = dept.code, dept.name
        else:
            name_of, name_of_name = t.code, _subject_name(t)
        hub_code = comp.hub_of.get(t.code)
        if hub_code is None:
            return self._make(kind="township", holder=t.code,
                              holder_name=f"{t.name}{comp.suffix}", acting_for=None,
                              case_in_name_of=name_of, case_in_name_of_name=name_of_name,
                              transfer=False, dispute=False, grant=line.grant)
        hub = comp.townships[hub_code]
        self.reasons.append(Reason(
            "cluster.radiated",
            f"{t.name}属{hub.name}“1+X”执法组团的辐射乡镇，由{hub.name}{comp.suffix}"
            f"代为办理，案件仍以{name_of_name}名义",
            f"{t.name} is radiated by hub {hub.name} in its \"1+X\" cluster: the hub team "
            f"acts for it, and the case stays in the name of {name_of_name}",
            f"{C} §三(一)"))
        return self._make(kind="hub_team", holder=hub.code,
                          holder_name=f"{hub.name}{comp.suffix}", acting_for=t.code,
                          acting_for_name=t.name, case_in_name_of=name_of,
                          case_in_name_of_name=name_of_name, transfer=False, dispute=False,
                          grant=line.grant)
