"""Dispatch endpoints: incidents in, tickets through their lifecycle, team positions, whistles.

Views are thin: they validate the HTTP shape, call :mod:`dispatch` and map its errors to
status codes (see :func:`install_error_handlers`). Every error body is
``{"detail": {"field": ..., "message": ...}}``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dispatch.dispatcher import intake
from dispatch.incidents import Incident, IncidentError
from dispatch.teams.loader import TeamError
from dispatch.teams.registry import UnknownTeamError
from dispatch.tickets.errors import ConflictError, LegalReviewRequired, NotFound, TicketError
from dispatch.tickets.models import SummonsDraft
from dispatch.tickets.service import (
    assign,
    events,
    get_ticket,
    list_tickets,
    record_legal_review,
    transition,
    utcnow,
)
from dispatch.tickets.sla import SlaError
from dispatch.tickets.summons import (
    close_summons,
    create_summons,
    get_summons,
    list_summons,
    record_action,
    report_in,
)
from web.api.deps import DistrictParam, registry
from web.districts import DistrictRegistry

router = APIRouter(prefix="/api/v1", tags=["dispatch"])
Reg = Annotated[DistrictRegistry, Depends(registry)]


class TransitionIn(BaseModel):
    """A state change requested by a dispatcher or a team."""

    model_config = ConfigDict(extra="forbid")

    to_state: str = Field(description="Target state, e.g. assigned, accepted, on_scene, "
                                      "handled, closed, transferred, disputed, rejected.")
    actor: str = Field(min_length=1, description="Who makes the change.")
    reason: str = Field("", description="Why (required by the audit log except for assign).")
    expected_version: int | None = Field(None, description="The version you read; required "
                                                           "to assign.")
    team_id: str | None = Field(None, description="Team, when assigning.")
    actor_role: str | None = None
    at: datetime | None = Field(None, description="When it happened (default: now).")
    duplicate_of: int | None = Field(None, description="Original ticket, when marking duplicate.")


class LegalReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(min_length=1)
    reviewer_role: str = Field(description="Must be legal_reviewer.")
    outcome: Literal["approved", "rejected"]
    opinion: str = Field(min_length=1)
    at: datetime | None = None
    expected_version: int | None = None


class PositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: float
    lat: float
    at: datetime = Field(description="When the device took the fix (with a time zone).")


class WhistleIn(BaseModel):
    """A township blows the whistle: departments must report in (街道吹哨、部门报到)."""

    model_config = ConfigDict(extra="forbid")

    township: str = Field(min_length=1, description="Township code or name blowing the whistle.")
    departments: list[str] = Field(min_length=1, description="Department codes summoned.")
    description: str = Field(min_length=1)
    raised_by: str = Field(min_length=1)
    raised_at: datetime | None = None
    ticket_id: int | None = None
    lon: float | None = None
    lat: float | None = None
    report_within_minutes: float | None = Field(None, gt=0, description="Default 30.")
    district: str | None = None


class SummonsStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str = Field(min_length=1)
    step: Literal["report_in", "act"]
    actor: str = Field(min_length=1)
    reason: str = ""
    at: datetime | None = None
    expected_version: int | None = None


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    at: datetime | None = None


# -- incidents and tickets --------------------------------------------------------------------


@router.post("/incidents", summary="Report an incident: locate, decide competence, recommend "
             "teams, store the ticket (idempotent on source + external_id)")
def post_incident(incident: Incident, reg: Reg, response: Response) -> dict[str, Any]:
    dispatcher = reg.dispatcher(incident.district)
    result = intake(dispatcher, reg.store(), incident, actor=f"feed:{incident.source.value}")
    response.status_code = 201 if result.created else 200
    return result.as_dict()


@router.get("/tickets", summary="List tickets by state, zone and overdue")
def get_tickets(
    reg: Reg,
    state: str | None = None,
    zone: str | None = None,
    overdue: bool = False,
    district: DistrictParam = None,
    after_id: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    code = reg.district(district).code
    rows = list_tickets(reg.store(), state=state, zone=zone, district=code,
                        overdue_at=utcnow() if overdue else None, after_id=after_id,
                        limit=limit)
    return {"count": len(rows), "tickets": [t.as_dict() for t in rows]}


@router.get("/tickets/{ticket_id}", summary="One ticket")
def get_one_ticket(ticket_id: int, reg: Reg) -> dict[str, Any]:
    return get_ticket(reg.store(), ticket_id).as_dict()


@router.get("/tickets/{ticket_id}/events", summary="The ticket's audit trail (全过程记录)")
def get_ticket_events(ticket_id: int, reg: Reg) -> dict[str, Any]:
    return {"ticket_id": ticket_id,
            "events": [e.as_dict() for e in events(reg.store(), ticket_id)]}


@router.post("/tickets/{ticket_id}/transitions", summary="Move a ticket to another state")
def post_transition(ticket_id: int, body: TransitionIn, reg: Reg) -> dict[str, Any]:
    store = reg.store()
    if body.to_state == "assigned":
        if body.team_id is None:
            raise TicketError("team_id", "required to assign")
        reg.team_registry().team(body.team_id)  # unknown team -> 404 before anything is stored
        ticket = assign(store, ticket_id, body.team_id, body.actor, body.expected_version,
                        reason=body.reason or None, at=body.at, actor_role=body.actor_role)
    else:
        extra: dict[str, Any] = {}
        if body.duplicate_of is not None:
            extra["duplicate_of"] = body.duplicate_of
        if body.team_id is not None:
            extra["team_id"] = body.team_id
        ticket = transition(store, ticket_id, body.to_state, body.actor, body.reason, body.at,
                            body.expected_version, actor_role=body.actor_role, **extra)
    return ticket.as_dict()


@router.post("/tickets/{ticket_id}/legal-review", summary="Record a legal review (法制审核)")
def post_legal_review(ticket_id: int, body: LegalReviewIn, reg: Reg) -> dict[str, Any]:
    return record_legal_review(reg.store(), ticket_id, body.reviewer, body.reviewer_role,
                               body.outcome, body.opinion, body.at,
                               body.expected_version).as_dict()


# -- teams ------------------------------------------------------------------------------------


@router.get("/teams", summary="Teams with duty status and last known position")
def get_teams(reg: Reg, district: DistrictParam = None) -> dict[str, Any]:
    teams = reg.team_registry(district)
    out = []
    for s in teams.states():
        t = s.team
        pos = s.position
        out.append({"id": t.id, "name": t.name, "kind": t.kind, "duty": s.duty,
                    "base": {"lon": t.base_lon, "lat": t.base_lat},
                    "position": ({"lon": pos.lon, "lat": pos.lat, "at": pos.at.isoformat()}
                                 if pos else None)})
    return {"count": len(out), "teams": out}


@router.post("/teams/{team_id}/position", summary="A position update from the field")
def post_position(team_id: str, body: PositionIn, reg: Reg,
                  district: DistrictParam = None) -> dict[str, Any]:
    pos = reg.team_registry(district).update_position(team_id, body.lon, body.lat, body.at)
    return {"team_id": team_id, "lon": pos.lon, "lat": pos.lat, "at": pos.at.isoformat()}


# -- whistles ---------------------------------------------------------------------------------


@router.post("/whistles", status_code=201,
             summary="Blow the whistle: summon departments to report in (街道吹哨、部门报到)")
def post_whistle(body: WhistleIn, reg: Reg) -> dict[str, Any]:
    dispatcher = reg.dispatcher(body.district)
    district = dispatcher.district
    try:
        town = district.township(body.township)
    except KeyError as exc:
        raise TicketError("township", f"{body.township!r} is not a township of "
                                      f"{district.code}") from exc
    unknown = [d for d in body.departments if d not in dispatcher.catalogue.departments]
    if unknown:
        raise TicketError("departments", f"unknown department(s) {', '.join(unknown)}; known: "
                                         f"{', '.join(dispatcher.catalogue.departments)}")
    zone = district.area_of(town.code, "zone")
    draft = SummonsDraft(
        district=district.code, township=town.code, departments=body.departments,
        description=body.description, raised_by=body.raised_by, raised_at=body.raised_at,
        zone=zone.code if zone else None, ticket_id=body.ticket_id, lon=body.lon, lat=body.lat,
        report_within=(timedelta(minutes=body.report_within_minutes)
                       if body.report_within_minutes else None))
    return create_summons(reg.store(), draft, policy=dispatcher.sla).as_dict()


@router.get("/whistles", summary="Whistle summonses, optionally only those with a late report-in")
def get_whistles(reg: Reg, state: str | None = None, overdue: bool = False) -> dict[str, Any]:
    rows = list_summons(reg.store(), state=state, overdue_at=utcnow() if overdue else None)
    return {"count": len(rows), "whistles": [s.as_dict() for s in rows]}


@router.get("/whistles/{summons_id}", summary="One summons with each department's state")
def get_whistle(summons_id: int, reg: Reg) -> dict[str, Any]:
    return get_summons(reg.store(), summons_id).as_dict()


@router.post("/whistles/{summons_id}/steps", summary="A department reports in, or acts")
def post_whistle_step(summons_id: int, body: SummonsStepIn, reg: Reg) -> dict[str, Any]:
    store = reg.store()
    if body.step == "report_in":
        s = report_in(store, summons_id, body.department, body.actor, body.at, body.reason,
                      body.expected_version)
    else:
        s = record_action(store, summons_id, body.department, body.actor,
                          body.reason or f"{body.department} acted", body.at,
                          body.expected_version)
    return s.as_dict()


@router.post("/whistles/{summons_id}/close", summary="Close a summons (every department acted)")
def post_whistle_close(summons_id: int, body: CloseIn, reg: Reg) -> dict[str, Any]:
    return close_summons(reg.store(), summons_id, body.actor, body.reason, body.at).as_dict()


# -- errors -----------------------------------------------------------------------------------


def _body(field: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"detail": {"field": field, "message": message}}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors to HTTP: 422 bad input, 409 conflicts and missing review, 404."""

    @app.exception_handler(IncidentError)
    async def _incident(request: Request, exc: IncidentError) -> JSONResponse:
        return _body(exc.field, exc.message, 422)

    @app.exception_handler(TicketError)
    async def _ticket(request: Request, exc: TicketError) -> JSONResponse:
        status = 409 if isinstance(exc, ConflictError | LegalReviewRequired) else 422
        return _body(exc.field, str(exc).removeprefix(f"{exc.field}: "), status)

    @app.exception_handler(NotFound)
    async def _missing(request: Request, exc: NotFound) -> JSONResponse:
        return _body(exc.field, exc.message.removeprefix(f"{exc.field}: "), 404)

    @app.exception_handler(TeamError)
    async def _team(request: Request, exc: TeamError) -> JSONResponse:
        if isinstance(exc, UnknownTeamError):
            return _body("team_id", str(exc), 404)
        first = exc.problems[0] if getattr(exc, "problems", None) else None
        return _body(first.field if first else "team", first.message if first else str(exc),
                     422)

    @app.exception_handler(SlaError)
    async def _sla(request: Request, exc: SlaError) -> JSONResponse:
        return _body("reported_at", str(exc), 422)
