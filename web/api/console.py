"""The dispatch console's API: a live snapshot to poll, and the shortlist for a stored ticket.

The console page (``/``) polls :func:`live` every few seconds and asks
:func:`ticket_recommendation` when the dispatcher opens a ticket. Both only read: a dispatcher
assigns through ``POST /api/v1/tickets/{id}/transitions`` with the version read here, so two
dispatchers racing for one ticket get a 409 instead of a silent overwrite.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from dispatch.catalog.service import LOCAL_TZ
from dispatch.dispatcher import WORKING_STATES, Dispatcher, team_loads
from dispatch.incidents import Incident, IncidentError, parse_incident
from dispatch.recommend import DEFAULT_STALENESS
from dispatch.teams.models import DUTY_ZH
from dispatch.teams.registry import TeamState, UnknownTeamError
from dispatch.tickets.models import SOURCES, Ticket
from dispatch.tickets.service import get_ticket, list_tickets, utcnow
from dispatch.tickets.transitions import OPEN_STATES, STATES
from web.api.deps import DistrictParam, registry
from web.districts import DistrictRegistry

router = APIRouter(prefix="/api/v1", tags=["console"])
Reg = Annotated[DistrictRegistry, Depends(registry)]

# Team kinds as the office names them (zh, en).
TEAM_KINDS: dict[str, tuple[str, str]] = {
    "township": ("乡镇（街道）执法队", "township team"),
    "hub": ("中心镇执法队", "hub town team"),
    "department": ("部门执法队", "department brigade"),
    "city": ("市级执法队", "city-level team"),
}
DUTY_EN = {"on_duty": "on duty", "off_duty": "off duty", "busy": "busy"}
# Order of the open states in the console (the dispatch line first, side exits after).
OPEN_ORDER = tuple(s for s in STATES if s in OPEN_STATES)


def incident_of(ticket: Ticket) -> Incident:
    """The incident a stored ticket was made from, to decide it again with today's teams.

    A ticket created without a feed number (a patrol finding, a whistle) gets its own ticket
    id in its place; one without a report time is decided at its receipt time. A ticket not
    yet classified (no matter code) cannot be decided: IncidentError names ``matter_code``.
    """
    if not ticket.matter_code:
        raise IncidentError("matter_code", f"ticket {ticket.id} has no matter code yet; "
                                           "classify it before asking for a recommendation")
    return parse_incident({
        "source": ticket.source,
        "external_id": ticket.external_id or f"ticket-{ticket.id}",
        "matter_code": ticket.matter_code,
        "lon": ticket.lon, "lat": ticket.lat,
        "reported_at": ticket.reported_at or ticket.received_at,
        "district": ticket.district,
        "facts": dict(ticket.facts),
    })


@router.get("/tickets/{ticket_id}/recommendation",
            summary="Competent authority and team shortlist for a stored ticket, with current "
                    "team loads")
def ticket_recommendation(ticket_id: int, reg: Reg) -> dict[str, Any]:
    store = reg.store()
    ticket = get_ticket(store, ticket_id)
    dispatcher = reg.dispatcher(ticket.district)
    decision = dispatcher.decide(incident_of(ticket),
                                 team_loads(store, dispatcher.district.code),
                                 received_at=ticket.received_at)
    # The ticket as read with the decision: its version is the one an assignment must quote.
    return {**decision.as_dict(), "ticket": ticket.as_dict()}


# -- the live snapshot ------------------------------------------------------------------------


def _iso_local(t: datetime) -> str:
    """An ISO time with its offset; registry positions are naive local (Asia/Shanghai) times."""
    return (t if t.tzinfo is not None else t.replace(tzinfo=LOCAL_TZ)).isoformat()


def _ticket_row(t: Ticket, dispatcher: Dispatcher, now: datetime) -> dict[str, Any]:
    district = dispatcher.district
    matter = dispatcher.catalogue.matters.get(t.matter_code or "")
    town = zone = None
    if t.township:
        try:
            town = district.township(t.township)
        except KeyError:
            town = None
    if t.zone:
        zone = next((z for z in district.zones if z.code == t.zone), None)
    team_name = None
    if t.team_id:
        try:
            team_name = dispatcher.registry.team(t.team_id).name
        except UnknownTeamError:  # a team since removed from the roster
            team_name = None
    state_zh, state_en = STATES.get(t.state, (t.state, t.state))
    source_zh, source_en = SOURCES.get(t.source, (t.source, t.source))
    return {
        "id": t.id, "version": t.version, "state": t.state, "state_zh": state_zh,
        "state_en": state_en, "source": t.source, "source_zh": source_zh,
        "source_en": source_en, "external_id": t.external_id,
        "matter_code": t.matter_code, "matter_name": matter.name if matter else None,
        "matter_domain": matter.domain if matter else None,
        "township": t.township, "township_name": town.name if town else None,
        "zone": t.zone, "zone_name": zone.name if zone else None,
        "lon": t.lon, "lat": t.lat,
        "reported_at": t.reported_at.isoformat() if t.reported_at else None,
        "received_at": t.received_at.isoformat(),
        "sla_due_at": t.sla_due_at.isoformat() if t.sla_due_at else None,
        "overdue": t.is_overdue(now), "major": t.major,
        "team_id": t.team_id, "team_name": team_name,
        "authority_kind": t.authority.kind if t.authority else None,
        "authority_name": t.authority.holder_name if t.authority else None,
        "description": t.description,
    }


def _team_row(s: TeamState, load: int, now_local: datetime) -> dict[str, Any]:
    t, pos = s.team, s.position
    age = (now_local - pos.at).total_seconds() if pos is not None else None
    fresh = age is not None and age <= DEFAULT_STALENESS.total_seconds()
    kind_zh, kind_en = TEAM_KINDS.get(t.kind, (t.kind, t.kind))
    return {
        "id": t.id, "name": t.name, "name_en": t.name_en, "kind": t.kind,
        "kind_zh": kind_zh, "kind_en": kind_en, "duty": s.duty,
        "duty_zh": DUTY_ZH.get(s.duty, s.duty), "duty_en": DUTY_EN.get(s.duty, s.duty),
        "load": load, "base": {"lon": t.base_lon, "lat": t.base_lat},
        "position": ({"lon": pos.lon, "lat": pos.lat, "at": _iso_local(pos.at),
                      "age_s": round(age) if age is not None else None}
                     if pos is not None else None),
        # Where the map draws the team: the live fix while it is fresh, else the base (the
        # same rule the recommender uses to pick a team's starting point).
        "shown": ({"lon": pos.lon, "lat": pos.lat, "source": "live"} if fresh and pos
                  else {"lon": t.base_lon, "lat": t.base_lat, "source": "base"}),
    }


@router.get("/console/live", summary="Open tickets, teams with load and position, and counters "
                                     "for the dispatch console (poll it)")
def live(reg: Reg, district: DistrictParam = None) -> dict[str, Any]:
    dispatcher = reg.dispatcher(district)
    code = dispatcher.district.code
    store = reg.store()
    now = utcnow()
    tickets = [t for state in OPEN_ORDER
               for t in list_tickets(store, state=state, district=code)]
    # Overdue first, then newest first: what needs the dispatcher now is on top.
    tickets.sort(key=lambda t: (not t.is_overdue(now), -t.received_at.timestamp(), -t.id))
    # A team's load as the recommender counts it (dispatch.dispatcher.team_loads), from the
    # rows already read instead of a second round of queries.
    loads = Counter(t.team_id for t in tickets if t.state in WORKING_STATES and t.team_id)
    now_local = now.astimezone(LOCAL_TZ).replace(tzinfo=None)
    teams = [_team_row(s, loads.get(s.team.id, 0), now_local)
             for s in dispatcher.registry.states()]
    rows = [_ticket_row(t, dispatcher, now) for t in tickets]
    by_state = Counter(t.state for t in tickets)
    return {
        "district": code, "now": now.isoformat(), "time_zone": str(LOCAL_TZ),
        "staleness_s": DEFAULT_STALENESS.total_seconds(),
        "counts": {
            "open": len(rows), "overdue": sum(r["overdue"] for r in rows),
            "awaiting_dispatch": by_state.get("received", 0),
            "by_state": {s: by_state.get(s, 0) for s in OPEN_ORDER},
            "teams": len(teams),
            "teams_on_duty": sum(1 for t in teams if t["duty"] == "on_duty"),
        },
        "states": {s: {"zh": STATES[s][0], "en": STATES[s][1]} for s in OPEN_ORDER},
        "tickets": rows,
        "teams": teams,
    }
