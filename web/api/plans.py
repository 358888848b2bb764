"""``/api/v1/plans``: planning solves run as jobs (submit → job id → status → result).

Each ``POST /api/v1/plans/<kind>`` validates its parameters at once (422 naming the field),
then queues the solve and answers 202 with the job's status; ``GET /api/v1/plans/jobs/{id}``
reports state and progress, ``GET /api/v1/plans/jobs/{id}/result`` the result when done.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from dispatch.teams.loader import TeamError, bundled_teams
from geo.traveltime import travel_times_for
from planner.calendar import plan_zone
from planner.calendar_result import CalendarPlan, public_csv_text, write_public_xlsx
from planner.daily import (
    DayOptions,
    DayPlan,
    DayPlanError,
    plan_day,
    sample_visits,
    visits_from_calendar,
)
from planner.draw import DrawError, prepare_draw
from planner.draw_store import record_draw
from planner.geometry import feature_collection
from planner.items import PlannerDataError, load_items
from planner.joint import CalendarInputError, CalendarOptions
from planner.objects import find_zone, load_objects
from planner.replan import default_units, insert_urgent, urgent_visit
from planner.routes import Progress, solve
from planner.solomon import SolomonFormatError, parse_solomon
from web.api.deps import registry
from web.districts import DistrictRegistry
from web.jobs import Job, JobInputError, JobRunner

router = APIRouter(prefix="/api/v1/plans", tags=["plans"])
Report = Callable[[str, float | None], None]


def jobs(request: Request) -> JobRunner:
    return request.app.state.jobs


Jobs = Annotated[JobRunner, Depends(jobs)]


def _accepted(job: Job) -> JSONResponse:
    return JSONResponse(job.status(), status_code=202,
                        headers={"Location": f"/api/v1/plans/jobs/{job.id}"})


def _progress(report: Report) -> Callable[[Progress], None]:
    def show(event: Progress) -> None:
        report(event.phase, round(event.cost, 3))
    return show


_CORES = os.cpu_count() or 1


class VrptwIn(BaseModel):
    """A VRPTW instance in Solomon text format, solved with the routing core."""

    model_config = ConfigDict(extra="forbid")

    instance: str = Field(min_length=1, description="Solomon-format instance text.")
    time_limit_s: float = Field(10.0, gt=0, le=600)
    seed: int = 0
    workers: int = Field(1, ge=1, le=_CORES,
                         description="Parallel improvement chains, at most the server's cores.")


@router.post("/vrptw", status_code=202, summary="Solve a Solomon-format VRPTW instance")
def post_vrptw(body: VrptwIn, runner: Jobs) -> JSONResponse:
    try:
        problem = parse_solomon(body.instance, source="instance").to_problem()
    except SolomonFormatError as exc:
        raise JobInputError("instance", str(exc)) from exc

    def work(report: Report) -> dict[str, Any]:
        result = solve(problem, body.time_limit_s, seed=body.seed, workers=body.workers,
                       progress=_progress(report))
        out = result.to_dict()
        number = [cl.location for cl in problem.clients]
        for r, route in zip(out["routes"], result.routes, strict=True):
            r["customers"] = [number[c] for c in route.clients]
        return out

    return _accepted(runner.submit("vrptw", {"name": problem.name, "clients": problem.n_clients,
                                             "time_limit_s": body.time_limit_s,
                                             "workers": body.workers}, work))


class CalendarIn(BaseModel):
    """A zone's inspection calendar over ``[start, end)`` with joint visits (综合查一次)."""

    model_config = ConfigDict(extra="forbid")

    zone: str = Field(min_length=1, description="Zone name or code, e.g. 天马片区.")
    start: date
    end: date = Field(description="Day after the last day planned.")
    time_limit_s: float = Field(50.0, gt=0, le=600, description="CP-SAT budget per block.")
    anti_repeat_days: int = Field(7, ge=0, le=90)
    night_crews: int = Field(1, ge=0, le=10, description="Crews a team may send on a working "
                             "day's night duty (夜查); 0: none.")
    object_ids: list[str] | None = Field(None, description="Plan only these objects of the zone.")


@router.post("/calendar", status_code=202, summary="Plan a zone's inspection calendar")
def post_calendar(body: CalendarIn, runner: Jobs) -> JSONResponse:
    if body.end <= body.start:
        raise JobInputError("end", f"{body.end} must be after start {body.start}")
    if (body.end - body.start).days > 366:
        raise JobInputError("end", "a calendar covers at most a year")
    options = CalendarOptions(time_limit_s=body.time_limit_s,
                              anti_repeat_days=body.anti_repeat_days,
                              night_crews=body.night_crews)

    def work(report: Report) -> tuple[dict[str, Any], CalendarPlan]:
        report(f"planning {body.zone} {body.start} → {body.end}", None)
        try:
            plan = plan_zone(body.zone, body.start, body.end, options,
                             object_ids=body.object_ids)
        except (CalendarInputError, PlannerDataError) as exc:
            field = str(exc).split(":", 1)[0] if str(exc).startswith("object_ids") else "zone"
            raise JobInputError(field, str(exc)) from exc
        report("done", float(len(plan.visits)))
        return plan.as_dict(), plan

    return _accepted(runner.submit("calendar", body.model_dump(mode="json"), work))


class DrawIn(BaseModel):
    """A 双随机一公开 draw: a share of the zone's objects, two random certified inspectors each."""

    model_config = ConfigDict(extra="forbid")

    zone: str = Field(min_length=1)
    share: float = Field(gt=0, le=1, description="Share of the zone's objects drawn.")
    seed: int = Field(ge=0, description="Published with the draw so anyone can re-run it.")
    at: date = Field(description="Draw date.")
    until: date | None = Field(None, description="Last day of the inspection window.")
    department: str | None = Field(None, description="Department code; default: the zone's "
                                                     "township team.")
    by_type: bool = False
    actor: str = Field(min_length=1, description="Who runs the draw (recorded).")


@router.post("/draw", status_code=202, summary="Run and record a 双随机一公开 draw")
def post_draw(body: DrawIn, runner: Jobs,
              reg: Annotated[DistrictRegistry, Depends(registry)]) -> JSONResponse:
    district = reg.district()
    store = reg.store()

    def work(report: Report) -> dict[str, Any]:
        try:
            items = load_items()
            objects = load_objects(None, items, district)
            inputs = prepare_draw(district, body.zone, objects, items, bundled_teams(district),
                                  at=body.at, seed=body.seed, share=body.share,
                                  department=body.department, until=body.until,
                                  by_type=body.by_type)
            record = record_draw(store, inputs, body.actor)
        except DrawError as exc:
            raise JobInputError(exc.field, exc.message) from exc
        except (PlannerDataError, TeamError) as exc:
            raise JobInputError("zone", str(exc)) from exc
        report("recorded", float(len(record.result.pairings)))
        return record.as_dict()

    return _accepted(runner.submit("draw", body.model_dump(mode="json"), work))


class RoutesIn(BaseModel):
    """One zone's day: crews formed from certified officers, routed through the day's visits."""

    model_config = ConfigDict(extra="forbid")

    zone: str = Field(min_length=1)
    date: date
    calendar_job_id: str | None = Field(None, description="Route the visits a finished "
                                        "calendar job puts on this date.")
    sample_objects: int | None = Field(None, gt=0, le=500, description="Without a calendar: "
                                       "this many objects with checks due that month.")
    time_limit_s: float = Field(10.0, gt=0, le=300)
    duty: Literal["day", "night"] = Field("day", description="day: the day crews' visits; "
                                          "night: the night duty's (夜查).")
    shift: str | None = Field(None, description="HH:MM-HH:MM; default day 08:30-17:30, "
                              "night 19:00-01:00.")
    lunch: str | None = None
    lunch_min: int | None = Field(None, ge=0, le=180, description="Default day 60, night 0.")
    seed: int = 0


@router.post("/routes", status_code=202, summary="Route a zone's crews for one day")
def post_routes(body: RoutesIn, runner: Jobs,
                reg: Annotated[DistrictRegistry, Depends(registry)]) -> JSONResponse:
    if (body.calendar_job_id is None) == (body.sample_objects is None):
        raise JobInputError("calendar_job_id", "give a calendar_job_id or sample_objects")
    calendar = None
    if body.calendar_job_id is not None:
        job = runner.get(body.calendar_job_id)
        if job is None or job.kind != "calendar" or job.state != "done":
            raise JobInputError("calendar_job_id", f"{body.calendar_job_id} is not a finished "
                                                   "calendar job")
        calendar = job.result
    district = reg.district()
    try:
        options = DayOptions.for_duty(body.duty, body.shift, body.lunch, body.lunch_min,
                                      time_limit_s=body.time_limit_s, seed=body.seed)
        area = find_zone(district, body.zone)
    except (DayPlanError, PlannerDataError, ValueError) as exc:
        raise JobInputError(str(exc).split(":", 1)[0] if ":" in str(exc) else "zone",
                            str(exc)) from exc

    def work(report: Report) -> tuple[dict[str, Any], DayPlan]:
        items = load_items()
        objects = load_objects(None, items, district)
        roster = bundled_teams(district)
        travel = travel_times_for(district)
        try:
            if calendar is not None:
                visits = visits_from_calendar(calendar, body.date, objects, items)
                source = f"calendar job {body.calendar_job_id}"
            else:
                visits = sample_visits(area.name, body.date, body.sample_objects or 40,
                                       seed=body.seed, district=district, items=items,
                                       objects=objects, roster=roster, travel=travel)
                source = f"sample of {body.sample_objects} objects"
            plan = plan_day(visits, roster, body.date, zone=area.name, travel=travel,
                            options=options, district=district.code, source=source,
                            progress=lambda line: report(line, None))
        except DayPlanError as exc:
            raise JobInputError(getattr(exc, "field", "date"), str(exc)) from exc
        return {**plan.to_dict(), "geojson": feature_collection(plan, travel)}, plan

    return _accepted(runner.submit("routes", body.model_dump(mode="json"), work))


class InsertIn(BaseModel):
    """An urgent inspection inserted into a routed day, stops already started left frozen."""

    model_config = ConfigDict(extra="forbid")

    plan_job_id: str = Field(description="A finished routes or insert job.")
    object_id: str = Field(min_length=1)
    at: str = Field(description="Clock time of the re-plan, HH:MM.")
    units: list[str] | None = Field(None, description="Units that must inspect: team ids or "
                                    "dept:<code>; default the object's township or hub team.")
    minutes: int = Field(30, gt=0, le=480)
    within_min: int = Field(120, gt=0, le=600)
    time_limit_s: float = Field(3.0, gt=0, le=60)


@router.post("/insert", status_code=202, summary="Insert an urgent inspection into a day plan")
def post_insert(body: InsertIn, runner: Jobs,
                reg: Annotated[DistrictRegistry, Depends(registry)]) -> JSONResponse:
    job = runner.get(body.plan_job_id)
    if job is None or not isinstance(job.artifact, DayPlan):
        raise JobInputError("plan_job_id", f"{body.plan_job_id} is not a finished routes or "
                                           "insert job")
    plan: DayPlan = job.artifact
    try:
        now = plan.minutes_at(body.at)
    except ValueError as exc:
        raise JobInputError("at", str(exc)) from exc
    district = reg.district()
    items = load_items()
    obj = load_objects(None, items, district).by_id.get(body.object_id)
    if obj is None:
        raise JobInputError("object_id", f"{body.object_id!r} is not a known object")
    units = body.units or default_units(obj.township, bundled_teams(district))
    if not units:
        raise JobInputError("units", f"no township or hub team covers {obj.township}; name "
                                     "the units")

    def work(report: Report) -> tuple[dict[str, Any], DayPlan]:
        travel = travel_times_for(district)
        try:
            visit = urgent_visit(obj, units, body.minutes, now, within_min=body.within_min)
            res = insert_urgent(plan, visit, now, travel=travel, roster=bundled_teams(district),
                                time_limit_s=body.time_limit_s)
        except (DayPlanError, ValueError) as exc:
            raise JobInputError("units", str(exc)) from exc
        report("inserted" if res.inserted else "not inserted", float(len(res.moved)))
        return ({**res.as_dict(), "plan": res.plan.to_dict(),
                 "geojson": feature_collection(res.plan, travel)}, res.plan)

    return _accepted(runner.submit("insert", body.model_dump(mode="json"), work))


@router.get("/jobs/{job_id}/routes.geojson", summary="Routes of a finished routes/insert job")
def export_routes(job_id: str, runner: Jobs) -> JSONResponse:
    job = _finished(runner, job_id, DayPlan, "routes are for routes/insert jobs")
    if isinstance(job, JSONResponse):
        return job
    return JSONResponse(job.result["geojson"], media_type="application/geo+json")


def _finished(runner: JobRunner, job_id: str, artifact: type | None = None,
              purpose: str = "") -> Job | JSONResponse:
    """The finished job, or the error response: unknown (404), failed, still running (409),
    or (with ``artifact``) a job of another kind (422, saying what ``purpose`` needs)."""
    job = runner.get(job_id)
    if job is None:
        return JSONResponse({"detail": {"field": "job_id", "message": f"no job {job_id}"}},
                            status_code=404)
    if job.state == "failed":
        return JSONResponse({"detail": job.error}, status_code=422
                            if job.error and job.error.get("field") != "job" else 500)
    if job.state != "done":
        return JSONResponse({"detail": {"field": "job_id", "message": f"job {job_id} is "
                                        f"{job.state}; poll /api/v1/plans/jobs/{job_id}"}},
                            status_code=409)
    if artifact is not None and not isinstance(job.artifact, artifact):
        return JSONResponse({"detail": {"field": "job_id", "message": f"job {job_id} is a "
                                        f"{job.kind} job; {purpose}"}}, status_code=422)
    return job


@router.get("/jobs/{job_id}/export.{fmt}", summary="Public joint-inspection plan of a "
            "finished calendar job (no officers' personal data)")
def export_calendar(job_id: str, fmt: Literal["csv", "xlsx"], runner: Jobs) -> Response:
    job = _finished(runner, job_id, CalendarPlan, "exports are for calendar jobs")
    if isinstance(job, JSONResponse):
        return job
    name = f"joint-inspection-plan-{job.artifact.zone}-{job.artifact.start}"
    disposition = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}.{fmt}"}
    if fmt == "csv":
        return Response(public_csv_text(job.artifact), media_type="text/csv; charset=utf-8",
                        headers=disposition)
    with tempfile.TemporaryDirectory() as tmp:
        data = write_public_xlsx(job.artifact, Path(tmp) / "plan.xlsx").read_bytes()
    return Response(data, headers=disposition, media_type="application/vnd.openxmlformats-"
                    "officedocument.spreadsheetml.sheet")


@router.get("/jobs", summary="Recent planning jobs")
def list_jobs(runner: Jobs) -> dict[str, Any]:
    rows = [j.status() for j in runner.list()]
    return {"count": len(rows), "jobs": rows}


@router.get("/jobs/{job_id}", summary="A job's state and progress")
def get_job(job_id: str, runner: Jobs) -> JSONResponse:
    job = runner.get(job_id)
    if job is None:
        return JSONResponse({"detail": {"field": "job_id", "message": f"no job {job_id}"}},
                            status_code=404)
    return JSONResponse(job.status())


@router.get("/jobs/{job_id}/result", summary="A finished job's result")
def get_job_result(job_id: str, runner: Jobs) -> JSONResponse:
    job = _finished(runner, job_id)
    return job if isinstance(job, JSONResponse) else JSONResponse(job.result)


def install(app: Any) -> None:
    """Attach the job runner and the router to the app."""
    app.state.jobs = JobRunner(workers=1)
    app.include_router(router)

    @app.exception_handler(JobInputError)
    async def _bad_params(request: Request, exc: JobInputError) -> JSONResponse:
        return JSONResponse({"detail": {"field": exc.field, "message": exc.message}},
                            status_code=422)
