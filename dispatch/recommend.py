"""The dispatcher's shortlist: which competent teams can reach an incident first, and why.

A team makes the shortlist when it is competent for the case (the competence decision names a
township, a hub team acting for a radiated township, or a department), is on duty, and has at
least one officer whose enforcement certificate (执法证) is valid on the incident's local day —
only certified officers may enforce (威环政发〔2024〕2号 §二(四)8, 湖里区方案 §三(六)2).
Candidates are ranked by travel time from where they are (the live position when it is fresh,
else the base) and, among arrivals within the same tie window (a minute by default), by their
current load of open tickets. Every other team is listed with the reasons it is out, like a
run card: off duty or busy, no valid certificate (naming the certificates), not competent,
unreachable on the road network, or beyond the shortlist's length.

The recommender is pure: loads come from the caller (the ticket store), travel times from a
:class:`~geo.traveltime.TravelTimes`, and nothing is stored. One travel-time matrix call covers
every candidate; :func:`recommend_batch` ranks many incidents with one call for all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np

from dispatch.catalog.competence import Decision, Reason
from dispatch.catalog.service import local_instant
from dispatch.teams.models import Member, Team, holder_key
from dispatch.teams.registry import TeamRegistry, TeamState
from geo.traveltime import EtaSource, TravelTimes

W = "威环政发〔2024〕2号"
C = "常山县7乡镇（街道）综合行政执法改革实施方案"
X = "厦湖府办〔2024〕11号"

DEFAULT_STALENESS = timedelta(minutes=15)
DEFAULT_TIE_WINDOW_S = 60.0  # arrivals within the same minute count as equally near
DEFAULT_LIMIT = 5

PositionSource = Literal["live", "base"]
Teams = TeamRegistry | Iterable[TeamState | Team]


def _states(teams: Teams) -> tuple[TeamState, ...]:
    if isinstance(teams, TeamRegistry):
        return teams.states()
    return tuple(t if isinstance(t, TeamState) else TeamState(t, t.duty, None) for t in teams)


def _check_point(lon: float, lat: float) -> None:
    for name, value, limit in (("incident_lon", lon, 180.0), ("incident_lat", lat, 90.0)):
        if not (isinstance(value, int | float | np.floating) and math.isfinite(value)
                and abs(value) <= limit):
            raise ValueError(f"{name}: {value!r} is not a WGS84 coordinate (within ±{limit:g})")


def _loads(loads: Mapping[str, int] | None, states: Sequence[TeamState]) -> list[int]:
    """Open-ticket count per team (0 when the mapping has no entry for it)."""
    loads = loads or {}
    out = []
    for s in states:
        value = loads.get(s.team.id, 0)
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"loads[{s.team.id!r}]: {value!r} is not a count of open tickets "
                             "(a non-negative integer)")
        out.append(int(value))
    return out


# -- result objects --------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One team on the shortlist, with everything the dispatcher needs to choose it."""

    rank: int
    team_id: str
    team_name: str
    kind: str
    level: str
    coordinated: bool
    eta_s: float
    metres: float
    eta_source: EtaSource
    position_source: PositionSource
    position_lon: float
    position_lat: float
    position_age_s: float | None  # age of the live report used, or of the stale one ignored
    load: int
    certified_officers: tuple[str, ...]  # names of the officers certified on the day
    reasons: tuple[Reason, ...]

    @property
    def eta_min(self) -> float:
        return self.eta_s / 60.0

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "team_id": self.team_id, "team_name": self.team_name,
            "kind": self.kind, "level": self.level, "coordinated": self.coordinated,
            "eta_s": round(self.eta_s, 1), "eta_min": round(self.eta_min, 1),
            "metres": round(self.metres), "eta_source": self.eta_source,
            "position": {"source": self.position_source, "lon": self.position_lon,
                         "lat": self.position_lat,
                         "age_s": None if self.position_age_s is None
                         else round(self.position_age_s)},
            "load": self.load, "certified_officers": list(self.certified_officers),
            "reasons": [r.as_dict() for r in self.reasons],
        }


@dataclass(frozen=True)
class Exclusion:
    """A team left off the shortlist and every reason why."""

    team_id: str
    team_name: str
    kind: str
    reasons: tuple[Reason, ...]

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {"team_id": self.team_id, "team_name": self.team_name, "kind": self.kind,
                "reasons": [r.as_dict() for r in self.reasons]}


@dataclass(frozen=True)
class Recommendation:
    """The ordered shortlist for one incident, the teams left out, and the notes on both.

    ``eta_source`` is where the travel times came from (None when no team was eligible, so
    no travel time was asked for); ``notes`` explain an empty shortlist.
    """

    holder_key: str
    holder_name: str
    decision_kind: str
    incident_lon: float
    incident_lat: float
    at: datetime
    shortlist: tuple[Candidate, ...]
    excluded: tuple[Exclusion, ...]
    eta_source: EtaSource | None
    staleness_s: float
    notes: tuple[Reason, ...] = ()

    @property
    def best(self) -> Candidate | None:
        return self.shortlist[0] if self.shortlist else None

    def excluded_for(self, team_id: str) -> Exclusion | None:
        return next((e for e in self.excluded if e.team_id == team_id), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "holder_key": self.holder_key, "holder_name": self.holder_name,
            "decision_kind": self.decision_kind,
            "incident": {"lon": self.incident_lon, "lat": self.incident_lat,
                         "at": self.at.isoformat()},
            "eta_source": self.eta_source, "staleness_s": self.staleness_s,
            "shortlist": [c.as_dict() for c in self.shortlist],
            "excluded": [e.as_dict() for e in self.excluded],
            "notes": [n.as_dict() for n in self.notes],
        }


# -- reasons ---------------------------------------------------------------------------------


def _competent_reason(team: Team, d: Decision) -> Reason:
    if d.kind == "hub_team" and team.kind == "hub":
        return Reason(
            "competent.hub_radiated",
            f"{team.name}为“1+X”组团中心镇队伍，代辐射乡镇{d.acting_for_name or d.acting_for}"
            "办理",
            f"{team.name_en or team.name} is the hub team of the \"1+X\" cluster and acts for "
            f"the radiated township {d.acting_for_name or d.acting_for}", f"{C} §三(一)")
    if d.kind == "township":
        return Reason(
            "competent.township", f"本案由{d.holder_name}办理，{team.name}为其执法队伍",
            f"the case is with {d.holder_name}; {team.name_en or team.name} is its team",
            f"{W} §二(三)4")
    if team.coordinated:
        return Reason(
            "competent.coordinated",
            f"本案由{d.holder_name}管辖，{team.name}为市级执法队伍，按联动执法机制参与",
            f"the case is with {d.holder_name}; {team.name_en or team.name} is a city-level "
            "team joining by coordinated (联动) action", f"{X} §三(一)2")
    return Reason(
        "competent.department", f"本案由{d.holder_name}管辖，{team.name}为其执法队伍",
        f"the case is with {d.holder_name}; {team.name_en or team.name} is its enforcement "
        "team", f"{W} §二(三)4")


def _platform_office(d: Decision) -> Reason:
    return Reason(
        "competence.platform_office", f"本案提交{d.holder_name}裁定管辖，裁定前不派遣执法队伍",
        f"the case is referred to {d.holder_name} for a ruling; no team is sent before it "
        "rules", f"{W} §二(五)11、14")


def _not_competent(team: Team, d: Decision) -> Reason:
    if d.kind == "platform_office":
        return _platform_office(d)
    return Reason(
        "competence.not_competent", f"{d.summary('zh')}，{team.name}无管辖权",
        f"{d.summary('en')}; {team.name_en or team.name} is not competent", f"{W} §二(三)4")


def _no_certificate(team: Team, day: date) -> Reason:
    officers = team.officers
    if not officers:
        return Reason("certificate.none_valid", f"{team.name}无持证执法人员",
                      f"{team.name_en or team.name} has no certified officer",
                      f"{W} §二(四)8；{X} §三(六)2", day)
    zh, en = [], []
    for m in officers:
        c = m.certificate
        assert c is not None  # the loader refuses officers without a certificate
        if c.valid_to < day:
            zh.append(f"{m.name}执法证{c.number}已于{c.valid_to}过期")
            en.append(f"{m.name}'s certificate {c.number} expired on {c.valid_to}")
        else:
            zh.append(f"{m.name}执法证{c.number}自{c.valid_from}起生效")
            en.append(f"{m.name}'s certificate {c.number} is valid only from {c.valid_from}")
    return Reason(
        "certificate.none_valid",
        f"{team.name}在{day}无持有效执法证的执法人员：" + "；".join(zh),
        f"{team.name_en or team.name} has no officer with a certificate valid on {day}: "
        + "; ".join(en), f"{W} §二(四)8；{X} §三(六)2", day)


def _certified(officers: tuple[Member, ...], day: date) -> Reason:
    names = "、".join(m.name for m in officers)
    return Reason("certificate.valid", f"{len(officers)}名执法人员执法证在{day}有效（{names}）",
                  f"{len(officers)} officer(s) hold a certificate valid on {day} "
                  f"({', '.join(m.name for m in officers)})", f"{W} §二(四)8", day)


def _off_duty(team: Team, status: str) -> Reason:
    if status == "busy":
        return Reason("duty.busy", f"{team.name}正在执行其他任务",
                      f"{team.name_en or team.name} is busy on another task")
    return Reason("duty.off_duty", f"{team.name}不在岗",
                  f"{team.name_en or team.name} is off duty")


def _age(seconds: float) -> tuple[str, str]:
    minutes = seconds / 60.0
    if minutes < 1:
        return f"{seconds:.0f}秒", f"{seconds:.0f} s"
    if minutes < 120:
        return f"{minutes:.0f}分钟", f"{minutes:.0f} min"
    return f"{minutes / 60:.1f}小时", f"{minutes / 60:.1f} h"


def _where(state: TeamState, at: datetime, staleness: timedelta
           ) -> tuple[float, float, PositionSource, float | None, Reason]:
    """Where the team starts from at ``at``: its fresh live position, else its base."""
    t, p = state.team, state.position
    base = (t.base_lon, t.base_lat)
    if p is None:
        return (*base, "base", None, Reason(
            "position.none", f"{t.name}无实时位置，按驻地计算",
            f"no live position from {t.name_en or t.name}: travel time from its base"))
    age = (at - p.at).total_seconds()
    if age < 0:
        return (*base, "base", age, Reason(
            "position.after_incident", f"{t.name}的位置报告晚于事发时间，按驻地计算",
            f"{t.name_en or t.name}'s position was reported after the incident time: travel "
            "time from its base"))
    zh, en = _age(age)
    if age > staleness.total_seconds():
        limit_zh, limit_en = _age(staleness.total_seconds())
        return (*base, "base", age, Reason(
            "position.stale", f"{t.name}的位置已过时（{zh}前，超过{limit_zh}），按驻地计算",
            f"{t.name_en or t.name}'s position is stale ({en} old, limit {limit_en}): travel "
            "time from its base"))
    return p.lon, p.lat, "live", age, Reason(
        "position.live", f"按{t.name}实时位置计算（{zh}前报告）",
        f"travel time from {t.name_en or t.name}'s live position ({en} old)")


def _eta_reason(seconds: float, metres: float, source: EtaSource) -> Reason:
    how_zh = "按路网计算" if source == "road" else "按直线距离×绕行系数估算（未载入路网）"
    how_en = ("on the road network" if source == "road"
              else "estimated from straight-line distance × circuity (no road network loaded)")
    return Reason(f"eta.{source}",
                  f"预计{seconds / 60:.0f}分钟到达，行程{metres / 1000:.1f}公里，{how_zh}",
                  f"ETA {seconds / 60:.0f} min over {metres / 1000:.1f} km, {how_en}")


# -- the single-incident recommender ---------------------------------------------------------


def recommend(
    decision: Decision,
    incident_lon: float,
    incident_lat: float,
    at: date | datetime,
    teams: Teams,
    loads: Mapping[str, int] | None,
    travel_times: TravelTimes,
    limit: int = DEFAULT_LIMIT,
    staleness: timedelta = DEFAULT_STALENESS,
    tie_window_s: float = DEFAULT_TIE_WINDOW_S,
) -> Recommendation:
    """Rank the teams that can take an incident; list the others with why they are out.

    Parameters
    ----------
    decision
        The competence decision for the case (who is competent).
    incident_lon, incident_lat
        Where the incident is (WGS84 degrees).
    at
        Incident time; certificates are checked on its local day, positions aged against it.
    teams
        A registry (duty status and live positions) or teams / team states.
    loads
        Open tickets per team id (missing teams count 0).
    travel_times
        Road network or estimate; called once, with every candidate as a source.
    limit
        Length of the shortlist; eligible teams beyond it are listed as excluded.
    staleness
        A live position older than this is ignored and the base used instead.
    tie_window_s
        ETAs in the same window of this many seconds tie, and the lighter load ranks first.
    """
    if limit < 1:
        raise ValueError(f"limit: {limit} must be at least 1")
    _check_point(incident_lon, incident_lat)
    when = local_instant(at)
    day = when.date()
    states = _states(teams)
    load = _loads(loads, states)
    key = holder_key(decision.kind, decision.holder, decision.acting_for)

    excluded: list[Exclusion] = []
    eligible: list[tuple[int, TeamState, tuple[Member, ...], Reason]] = []
    for i, s in enumerate(states):
        t = s.team
        if key not in t.authority_keys():
            excluded.append(Exclusion(t.id, t.name, t.kind, (_not_competent(t, decision),)))
            continue
        out = []
        if s.duty != "on_duty":
            out.append(_off_duty(t, s.duty))
        certified = t.certified_on(day)
        if not certified:
            out.append(_no_certificate(t, day))
        if out:
            excluded.append(Exclusion(t.id, t.name, t.kind, tuple(out)))
        else:
            eligible.append((i, s, certified, _competent_reason(t, decision)))

    notes: list[Reason] = []
    if decision.kind == "platform_office":
        notes.append(_platform_office(decision))
    if not eligible:
        if decision.kind != "platform_office":
            notes.append(Reason(
                "shortlist.empty",
                f"本案由{decision.holder_name}承办，但没有在岗且持有效执法证的队伍可派遣，"
                "请报平台办公室协调",
                f"the case is with {decision.holder_name}, but no team on duty with a certified "
                "officer can be sent; escalate to the platform office", f"{W} §二(五)11"))
        return Recommendation(key, decision.holder_name, decision.kind, float(incident_lon),
                              float(incident_lat), when, (), tuple(excluded), None,
                              staleness.total_seconds(), tuple(notes))

    where = [_where(s, when, staleness) for _, s, _, _ in eligible]
    m = travel_times.matrix([w[0] for w in where], [w[1] for w in where],
                            [incident_lon], [incident_lat])
    seconds, metres = m.seconds[:, 0], m.metres[:, 0]
    window = tie_window_s if tie_window_s > 0 else None
    ranked = []
    for k, (i, s, _, _) in enumerate(eligible):
        sec = float(seconds[k])
        if not math.isfinite(sec):
            excluded.append(Exclusion(s.team.id, s.team.name, s.team.kind, (Reason(
                "route.unreachable", f"{s.team.name}在路网上无法到达事发地点",
                f"{s.team.name_en or s.team.name} cannot reach the incident on the road "
                "network"), where[k][4])))
            continue
        bucket = math.floor(sec / window) if window else sec
        ranked.append(((bucket, load[i], sec, i), k))
    ranked.sort()

    shortlist: list[Candidate] = []
    for rank, ((bucket, ld, sec, _), k) in enumerate(ranked, 1):
        _, s, certified, why = eligible[k]
        t = s.team
        lon, lat, source, age, pos_reason = where[k]
        if rank > limit:
            excluded.append(Exclusion(t.id, t.name, t.kind, (Reason(
                "rank.beyond_limit",
                f"排第{rank}位（预计{sec / 60:.0f}分钟，在办工单{ld}件），超出推荐前{limit}名",
                f"ranked {rank} (ETA {sec / 60:.0f} min, {ld} open tickets), beyond the top "
                f"{limit}"),)))
            continue
        reasons = [why, _certified(certified, day), pos_reason,
                   _eta_reason(sec, float(metres[k]), m.eta_source),
                   Reason("load.open_tickets", f"在办工单{ld}件", f"{ld} open ticket(s)")]
        tied = [other for (b, *_rest), other in ranked if b == bucket and other != k]
        if tied:
            names = "、".join(eligible[o][1].team.name for o in tied)
            reasons.append(Reason(
                "rank.load_breaks_tie",
                f"与{names}预计到达时间相近（同一{window or 0:.0f}秒窗口内），先按在办工单数、"
                "再按到达时间排序",
                f"arrives within the same {window or 0:.0f} s window as "
                f"{', '.join(eligible[o][1].team.name for o in tied)}: ranked by open tickets, "
                "then by ETA"))
        shortlist.append(Candidate(
            rank=rank, team_id=t.id, team_name=t.name, kind=t.kind, level=t.level,
            coordinated=t.coordinated, eta_s=sec, metres=float(metres[k]),
            eta_source=m.eta_source, position_source=source, position_lon=lon,
            position_lat=lat, position_age_s=age, load=ld,
            certified_officers=tuple(o.name for o in certified), reasons=tuple(reasons)))
    if not shortlist:
        notes.append(Reason(
            "shortlist.empty", "所有有管辖权的在岗队伍均无法经路网到达事发地点",
            "no competent team on duty can reach the incident on the road network"))
    return Recommendation(key, decision.holder_name, decision.kind, float(incident_lon),
                          float(incident_lat), when, tuple(shortlist), tuple(excluded),
                          m.eta_source, staleness.total_seconds(), tuple(notes))


# -- many incidents at once (replay) ---------------------------------------------------------


@dataclass(frozen=True)
class BatchRecommendation:
    """The best eligible team per incident, from the teams' bases.

    Arrays have one entry per incident: ``best`` indexes ``team_ids`` (-1: no eligible team
    can reach it), ``seconds`` and ``metres`` are that team's travel (``inf`` when none).
    ``eligible`` (n_incidents × n_teams) is the mask the choice was made in.
    """

    team_ids: tuple[str, ...]
    best: np.ndarray
    seconds: np.ndarray
    metres: np.ndarray
    eligible: np.ndarray
    eta_source: EtaSource

    def best_team(self, i: int) -> str | None:
        k = int(self.best[i])
        return self.team_ids[k] if k >= 0 else None

    def as_rows(self) -> list[dict[str, Any]]:
        return [{"team_id": self.best_team(i),
                 "eta_s": round(float(s), 1) if np.isfinite(s) else None,
                 "metres": round(float(d)) if np.isfinite(d) else None,
                 "eta_source": self.eta_source, "eligible": int(n)}
                for i, (s, d, n) in enumerate(zip(self.seconds, self.metres,
                                                  self.eligible.sum(axis=1), strict=True))]


def recommend_batch(
    decisions: Sequence[Decision],
    incident_lon: Sequence[float] | np.ndarray,
    incident_lat: Sequence[float] | np.ndarray,
    at: Sequence[date | datetime],
    teams: Teams,
    travel_times: TravelTimes,
    loads: Mapping[str, int] | None = None,
    use_duty_status: bool = True,
    tie_window_s: float = DEFAULT_TIE_WINDOW_S,
) -> BatchRecommendation:
    """Pick the best eligible team for each of many incidents, travelling from the bases.

    The same rule as :func:`recommend` (competent, on duty, a certified officer on the day;
    nearest within the tie window, then lightest load, then nearest, then team order), with
    one travel-time matrix call (teams × incidents) and the choice made in numpy.

    Parameters
    ----------
    decisions
        One competence decision per incident.
    incident_lon, incident_lat
        Incident positions (WGS84 degrees).
    at
        Incident times (certificates are checked on each local day).
    teams, travel_times, loads, tie_window_s
        As for :func:`recommend`; live positions are not used, only bases.
    use_duty_status
        Exclude teams not on duty now. Turn off to replay past incidents, for which today's
        duty status says nothing.
    """
    lon = np.asarray(incident_lon, dtype=float)
    lat = np.asarray(incident_lat, dtype=float)
    n = len(decisions)
    if lon.shape != (n,) or lat.shape != (n,) or len(at) != n:
        raise ValueError(f"decisions, incident_lon, incident_lat and at must be equally long "
                         f"(got {n}, {lon.size}, {lat.size}, {len(at)})")
    states = _states(teams)
    team_list = [s.team for s in states]
    load = np.array(_loads(loads, states), dtype=np.int64)
    n_teams = len(team_list)

    # Competence: one row per distinct holder key, one column per team.
    index: dict[str, int] = {}
    key_idx = np.fromiter((index.setdefault(holder_key(d.kind, d.holder, d.acting_for),
                                            len(index)) for d in decisions),
                          dtype=np.int64, count=n)
    serves = np.array([[k in t.authority_keys() for t in team_list] for k in index],
                      dtype=bool).reshape(len(index), n_teams)

    # Certificates: valid on each distinct local day, per team.
    days = np.array([local_instant(a).date().toordinal() for a in at], dtype=np.int64)
    uday, day_idx = np.unique(days, return_inverse=True)
    owner, start, end = [], [], []
    for j, t in enumerate(team_list):
        for o in t.officers:
            assert o.certificate is not None
            owner.append(j)
            start.append(o.certificate.valid_from.toordinal())
            end.append(o.certificate.valid_to.toordinal())
    owner_a = np.array(owner, dtype=np.int64)
    valid = (np.array(start)[None, :] <= uday[:, None]) & (uday[:, None] <= np.array(end)[None, :])
    certified = np.zeros((len(uday), n_teams), dtype=bool)
    if owner:
        rows, cols = np.nonzero(valid)
        certified[rows, owner_a[cols]] = True

    on_duty = np.array([s.duty == "on_duty" or not use_duty_status for s in states], dtype=bool)
    eligible = serves[key_idx] & certified[day_idx] & on_duty[None, :]

    used = np.flatnonzero(eligible.any(axis=0))
    seconds = np.full((n, n_teams), np.inf)
    metres = np.full((n, n_teams), np.inf)
    source: EtaSource = travel_times.eta_source
    if used.size and n:
        m = travel_times.matrix([team_list[j].base_lon for j in used],
                                [team_list[j].base_lat for j in used], lon, lat)
        seconds[:, used] = m.seconds.T
        metres[:, used] = m.metres.T
        source = m.eta_source
    ok = eligible & np.isfinite(seconds)
    if tie_window_s > 0:
        bucket = np.floor(np.where(ok, seconds, 0.0) / tie_window_s)
    else:
        bucket = np.where(ok, seconds, 0.0)
    # Lexicographic (bucket, load, seconds, team order): first the smallest (bucket, load),
    # then argmin of seconds among those, which np.argmin resolves by team order.
    span = float(load.max(initial=0) + 1)
    primary = np.where(ok, bucket * span + load[None, :], np.inf)
    lead = primary.min(axis=1, initial=np.inf)
    best = np.argmin(np.where(primary == lead[:, None], seconds, np.inf), axis=1) \
        if n_teams else np.zeros(n, dtype=np.int64)
    none = ~np.isfinite(lead)
    best = np.where(none, -1, best)
    pick = np.maximum(best, 0)
    rows = np.arange(n)
    best_s = np.where(none, np.inf, seconds[rows, pick] if n_teams else np.inf)
    best_m = np.where(none, np.inf, metres[rows, pick] if n_teams else np.inf)
    return BatchRecommendation(tuple(t.id for t in team_list), best.astype(np.int64), best_s,
                               best_m, eligible, source)
