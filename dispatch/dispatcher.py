"""The dispatcher: from a reported incident to a competent authority, a shortlist and a deadline.

One object holds everything a decision needs, built once per district (locator, competence
index, team registry, travel times, SLA policy), so a decision is in-process array lookups and
one small travel-time matrix. Two paths share the same rules:

- :meth:`Dispatcher.decide` for one incident (API, CLI): full reasons and run card;
- :meth:`Dispatcher.decide_batch` for replaying history: location vectorised over all points,
  competence per distinct (matter, township, day, facts), and one teams × incidents travel-time
  matrix for the recommendation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from dispatch.catalog import CaseFacts, Catalogue, Competence, CompetenceError, Decision
from dispatch.catalog.loader import bundled_catalog_path, load_catalog
from dispatch.incidents import Incident, IncidentError
from dispatch.recommend import Recommendation, recommend, recommend_batch
from dispatch.teams.loader import bundled_teams
from dispatch.teams.registry import TeamRegistry
from dispatch.tickets.errors import TicketError
from dispatch.tickets.models import Authority, Ticket, TicketDraft
from dispatch.tickets.service import create_ticket, list_tickets
from dispatch.tickets.sla import DEFAULT_POLICY, SlaError, SlaPolicy
from geo.boundaries import District
from geo.locate import Locator
from geo.store import Store
from geo.traveltime import TravelTimes, travel_times_for


@dataclass(frozen=True)
class Location:
    """Where an incident is: WGS84 point, township, zone and cluster hub (codes and names)."""

    lon: float
    lat: float
    township: str
    township_name: str
    zone: str | None
    zone_name: str | None
    cluster_hub: str | None
    near_boundary: bool
    candidates: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"lon": round(self.lon, 7), "lat": round(self.lat, 7), "township": self.township,
                "township_name": self.township_name, "zone": self.zone,
                "zone_name": self.zone_name, "cluster_hub": self.cluster_hub,
                "near_boundary": self.near_boundary, "candidates": list(self.candidates)}


@dataclass(frozen=True)
class DispatchDecision:
    """Everything decided for one incident before it is stored as a ticket."""

    incident: Incident
    location: Location
    competence: Decision
    recommendation: Recommendation
    sla_due_at: datetime | None
    sla_rule: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "location": self.location.as_dict(),
            "competent_authority": self.competence.as_dict(),
            "recommendation": self.recommendation.as_dict(),
            "sla": {"due_at": self.sla_due_at.isoformat() if self.sla_due_at else None,
                    "rule": self.sla_rule},
        }


@dataclass(frozen=True)
class BatchDecisions:
    """Decisions for many incidents as arrays (one entry per incident)."""

    township: np.ndarray  # township code, object array ("" outside)
    zone: np.ndarray  # zone code ("" for none)
    kind: np.ndarray  # competent authority kind ("" when it could not be decided)
    holder: np.ndarray  # competent unit code
    transfer: np.ndarray  # bool
    dispute: np.ndarray  # bool
    team: np.ndarray  # recommended team id ("" none)
    eta_s: np.ndarray  # float, inf when no team
    metres: np.ndarray
    eta_source: str
    error: np.ndarray  # "" or "field: reason" for incidents that could not be decided

    def __len__(self) -> int:
        return len(self.township)


class Dispatcher:
    """Decides incidents for one district.

    Parameters
    ----------
    district
        The district whose incidents are decided.
    catalogue
        The power catalogue bound to the district.
    registry
        Teams with their duty status and live positions.
    travel_times
        Road network times if one is loaded for the district, else the estimate.
    sla
        Deadline policy per source / matter.
    """

    def __init__(self, district: District, catalogue: Catalogue, registry: TeamRegistry,
                 travel_times: TravelTimes, sla: SlaPolicy = DEFAULT_POLICY,
                 locator: Locator | None = None) -> None:
        self.district = district
        self.catalogue = catalogue
        self.competence = Competence(catalogue)
        self.registry = registry
        self.travel_times = travel_times
        self.sla = sla
        self.locator = locator or registry.locator or Locator(district)

    @classmethod
    def for_district(cls, district: District, catalog_path: str | None = None,
                     locator: Locator | None = None) -> Dispatcher:
        """Build with the bundled sample catalogue and teams (or the catalogue file given)."""
        locator = locator or Locator(district)
        catalogue = load_catalog(catalog_path or bundled_catalog_path(), district)
        departments = {code: d.name for code, d in catalogue.departments.items()}
        roster = bundled_teams(district, departments, locator)
        registry = TeamRegistry(roster, district, locator)
        return cls(district, catalogue, registry, travel_times_for(district), locator=locator)

    # -- one incident -----------------------------------------------------------------------

    def locate(self, incident: Incident) -> Location:
        """Locate the incident; raise :class:`IncidentError` for a point outside the district."""
        res = self.locator.locate([incident.lon], [incident.lat], incident.crs)
        ti = int(res.township[0])
        if ti < 0:
            reason = self.locator.describe(res.lon, res.lat)[0]["reason"]
            raise IncidentError("lon/lat", f"({incident.lon}, {incident.lat}) is {reason}")
        d = self.district
        town = d.townships[ti]
        zone = d.zones[res.zone[0]] if res.zone[0] >= 0 else None
        cluster = d.clusters[res.cluster[0]] if res.cluster[0] >= 0 else None
        _, pairs_t = self.locator.near_pairs(res.lon, res.lat, res.township)
        others = sorted(set(pairs_t.tolist()))
        return Location(
            lon=float(res.lon[0]), lat=float(res.lat[0]), township=town.code,
            township_name=town.name, zone=zone.code if zone else None,
            zone_name=zone.name if zone else None,
            cluster_hub=cluster.hub if cluster else None, near_boundary=bool(others),
            candidates=tuple(d.townships[k].name for k in sorted({ti, *others}))
            if others else ())

    def check_matter(self, matter_code: str) -> None:
        if matter_code not in self.catalogue.matters:
            raise IncidentError("matter_code", f"{matter_code!r} is not in the power catalogue "
                                               f"({self.catalogue.version})")

    def decide(self, incident: Incident, loads: Mapping[str, int] | None = None,
               received_at: datetime | None = None) -> DispatchDecision:
        """Locate, decide competence, recommend teams and compute the deadline for one incident.

        Competence follows the catalogue in force when the incident happened (``reported_at``);
        the shortlist is for whoever can go *now* (``received_at``, default the server clock):
        live positions are aged and certificates checked at that time, so reopening an older
        ticket still ranks teams by where they are. Raises :class:`IncidentError` (naming the
        field) for an unknown matter, a point outside the district or facts the competence
        rules refuse; nothing is stored here.
        """
        if incident.district != self.district.code:
            raise IncidentError("district", f"{incident.district!r}: this dispatcher serves "
                                            f"{self.district.code}")
        self.check_matter(incident.matter_code)
        where = self.locate(incident)
        try:
            facts = incident.facts.case_facts()
            decision = self.competence.decide(incident.matter_code, where.township,
                                              incident.reported_at, facts)
        except (CompetenceError, ValueError) as exc:
            raise IncidentError("facts", str(exc)) from exc
        received = received_at or datetime.now(UTC)
        shortlist = recommend(decision, where.lon, where.lat, max(received, incident.reported_at),
                              self.registry, loads, self.travel_times)
        try:
            due = self.sla.due_at(incident.source.value, incident.matter_code, received)
        except SlaError as exc:
            raise IncidentError("reported_at", str(exc)) from exc
        due_at, rule = due if due is not None else (None, None)
        return DispatchDecision(incident, where, decision, shortlist, due_at, rule)

    # -- many incidents ---------------------------------------------------------------------

    def decide_batch(
        self,
        matter_codes: Sequence[str],
        lon: np.ndarray,
        lat: np.ndarray,
        reported_at: Sequence[datetime],
        fines: Sequence[float | None] | None = None,
        crs: str = "wgs84",
    ) -> BatchDecisions:
        """Decide many incidents at once (replay); bad rows are reported, not raised.

        Competence is computed once per distinct (matter, township, local day, major-fine flag)
        because the rules turn on nothing finer; teams are ranked from their bases, with duty
        status ignored (today's roster says nothing about last year's incidents).
        """
        n = len(matter_codes)
        res = self.locator.locate(lon, lat, crs, near_boundary=False)
        d = self.district
        town_codes = np.array([t.code for t in d.townships] + [""], dtype=object)
        zone_codes = np.array([z.code for z in d.zones] + [""], dtype=object)
        township = town_codes[res.township]
        zone = zone_codes[res.zone]
        error = np.full(n, "", dtype=object)
        error[res.township < 0] = "lon/lat: outside the district"

        cache: dict[tuple[str, str, date, bool], Decision | str] = {}
        decisions: list[Decision | None] = [None] * n
        matters = self.catalogue.matters
        for i in range(n):
            if error[i]:
                continue
            m = matter_codes[i]
            if m not in matters:
                error[i] = f"matter_code: {m!r} is not in the power catalogue"
                continue
            fine = fines[i] if fines is not None else None
            major = fine is not None and fine == fine and fine >= 50_000  # NaN-safe
            at = reported_at[i]
            key = (m, township[i], at.date(), major)
            got = cache.get(key)
            if got is None:
                try:
                    got = self.competence.decide(m, township[i], at,
                                                 CaseFacts(fine_yuan=fine if major else None))
                except (CompetenceError, ValueError) as exc:
                    got = f"facts: {exc}"
                cache[key] = got
            if isinstance(got, str):
                error[i] = got
            else:
                decisions[i] = got

        ok = np.flatnonzero(error == "")
        kind = np.full(n, "", dtype=object)
        holder = np.full(n, "", dtype=object)
        transfer = np.zeros(n, dtype=bool)
        dispute = np.zeros(n, dtype=bool)
        team = np.full(n, "", dtype=object)
        eta = np.full(n, np.inf)
        metres = np.full(n, np.inf)
        eta_source: str = self.travel_times.eta_source
        if ok.size:
            ds = [decisions[i] for i in ok]
            kind[ok] = [x.kind for x in ds]
            holder[ok] = [x.holder for x in ds]
            transfer[ok] = [x.transfer for x in ds]
            dispute[ok] = [x.dispute for x in ds]
            batch = recommend_batch(ds, res.lon[ok], res.lat[ok], [reported_at[i] for i in ok],
                                    self.registry, self.travel_times, use_duty_status=False)
            ids = np.array([*batch.team_ids, ""], dtype=object)
            team[ok] = ids[batch.best]
            eta[ok] = batch.seconds
            metres[ok] = batch.metres
            eta_source = batch.eta_source
        return BatchDecisions(township, zone, kind, holder, transfer, dispute, team, eta,
                              metres, eta_source, error)


# -- intake: decide and store ---------------------------------------------------------------

WORKING_STATES = ("assigned", "accepted", "on_scene")  # a team's load: tickets it works on


@dataclass(frozen=True)
class IntakeResult:
    """A stored ticket, whether this intake created it, and the decision it was made on."""

    ticket: Ticket
    created: bool
    decision: DispatchDecision

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "ticket": self.ticket.as_dict(),
                **self.decision.as_dict()}


def team_loads(store: Store, district: str) -> dict[str, int]:
    """Open tickets each team is working on (assigned, accepted or on scene)."""
    loads: Counter[str] = Counter()
    for state in WORKING_STATES:
        for t in list_tickets(store, state=state, district=district):
            if t.team_id:
                loads[t.team_id] += 1
    return dict(loads)


def intake(dispatcher: Dispatcher, store: Store, incident: Incident,
           actor: str | None = None) -> IntakeResult:
    """Decide an incident and store it as a ticket (idempotent on source + external_id).

    The decision is taken first, so an incident that cannot be decided (unknown matter, point
    outside the district, bad facts) is refused with the field named and nothing is stored.
    """
    now = datetime.now(UTC)
    decision = dispatcher.decide(incident, team_loads(store, dispatcher.district.code), now)
    draft = TicketDraft(
        source=incident.source.value, district=incident.district,
        lon=decision.location.lon, lat=decision.location.lat,
        actor=actor or f"feed:{incident.source.value}", external_id=incident.external_id,
        matter_code=incident.matter_code, township=decision.location.township,
        zone=decision.location.zone, reported_at=incident.reported_at, received_at=now,
        description=incident.description, facts=incident.facts.model_dump(),
        authority=Authority.from_decision(decision.competence))
    try:
        ticket, created = create_ticket(store, draft, policy=dispatcher.sla)
    except TicketError as exc:
        raise IncidentError(exc.field, str(exc).removeprefix(f"{exc.field}: ")) from exc
    return IntakeResult(ticket, created, decision)
