"""``whistle plan routes`` and ``whistle plan insert``: a zone's routes for a day, re-planned.

``routes`` takes a day's visits from a calendar file (or a sample of the zone's objects with
checks due that month), forms the day's crews, routes them and prints each crew's stops
with clock times; ``--save`` keeps the plan as JSON and ``--geojson`` writes the map layer.
``insert`` puts an urgent inspection into a saved plan at a clock time, keeping the stops
already started, and reports how many planned stops moved. Progress of long solves goes to
stderr, so ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

import typer

from dispatch.teams.loader import TeamRoster, bundled_teams, catalogue_departments, load_teams
from dispatch.teams.models import TeamError
from geo.boundaries import BoundaryError, District
from geo.network import NetworkError
from geo.traveltime import travel_times_for
from planner.daily import (
    DayOptions,
    DayPlan,
    DayPlanError,
    clock,
    load_calendar_day,
    plan_day,
    sample_visits,
)
from planner.geometry import write_geojson
from planner.items import ItemList, PlannerDataError, format_clock, load_items
from planner.joint import CalendarInputError
from planner.objects import ObjectSet, find_zone, load_objects
from planner.replan import (
    DEFAULT_THRESHOLD_MIN,
    DEFAULT_WITHIN_MIN,
    URGENT_PRIORITY,
    InsertResult,
    default_units,
    insert_urgent,
    urgent_visit,
)
from web.commands._district import resolve_district
from web.commands._errors import cli_errors, err_console, fail

_ERRORS = (DayPlanError, PlannerDataError, TeamError, BoundaryError, NetworkError,
           CalendarInputError)
_SAMPLE = re.compile(r"^(\d+)(?:-sample)?$")


def _say(quiet: bool):
    def show(message: str) -> None:
        if not quiet:
            err_console.print(message, highlight=False, soft_wrap=True)
    return show


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--date: {value!r} is not a date (YYYY-MM-DD)")
    raise AssertionError("unreachable: fail() exits")


def _inputs(district_code: str, objects_file: Path | None, teams_file: Path | None
            ) -> tuple[District, ItemList, ObjectSet, TeamRoster]:
    with cli_errors(*_ERRORS):
        district, _ = resolve_district(district_code)
        items = load_items()
        objects = load_objects(objects_file, items, district)
        roster = (load_teams(teams_file, district, catalogue_departments())
                  if teams_file else bundled_teams(district))
    return district, items, objects, roster


def _print_plan(plan: DayPlan) -> None:
    s = plan.summary()
    typer.echo(f"{plan.zone} {plan.day.isoformat()} ({plan.options.duty} duty): "
               f"{s['routed']} of {s['visits']} visits "
               f"routed ({s['joint_routed']} joint) on {s['crews_used']} of {s['crews']} crews, "
               f"{s['distance_km']} km, travel times: {plan.eta_source}")
    vis = plan.visit_by_id
    for r in plan.routes:
        c = plan.crew_by_id[r.crew_id]
        if not r.stops:
            typer.echo(f"\n{c.id} {c.name}: no visits")
            continue
        lunch = f", lunch {clock(r.lunch[0])}-{clock(r.lunch[1])}" if r.lunch else ""
        typer.echo(f"\n{c.id} {c.name} ({len(c.officers)} officers, from {c.base_name}): "
                   f"{clock(r.departure_s)}-{clock(r.return_s)}, {r.distance_m / 1000:.1f} km"
                   f"{lunch}")
        for k, st in enumerate(r.stops, start=1):
            v = vis[st.visit_id]
            mark = " [urgent]" if v.priority > 1 else (" [joint]" if v.joint else "")
            typer.echo(f"  {k:2d}. {clock(st.arrival_s)} arrive, {clock(st.start_s)}-"
                       f"{clock(st.end_s)}  {v.id} {v.name}{mark}")
    if plan.other_duty:
        duty = "night" if plan.options.duty == "day" else "day"
        typer.echo(f"\nfor the {duty} duty ({len(plan.other_duty)}; route them with "
                   f"--duty {duty}):")
        for x in plan.other_duty:
            v = vis[x.visit_id]
            typer.echo(f"  {x.visit_id} {v.name}: {v.hours_text()}")
    if plan.left_out:
        typer.echo(f"\nleft out ({len(plan.left_out)}):")
        for x in plan.left_out:
            typer.echo(f"  {x.visit_id} [{x.kind}] {x.reason}")


def routes(
    zone: str = typer.Option(..., "--zone", help="Zone (片区) code or name, e.g. 天马片区."),
    day: str = typer.Option(..., "--date", help="The working day to route (YYYY-MM-DD)."),
    from_calendar: Path | None = typer.Option(
        None, "--from-calendar", help="Calendar JSON (`whistle plan calendar --json`); its "
        "visits on --date are routed."),
    objects: str | None = typer.Option(
        None, "--objects", help="Instead of a calendar: N objects of the zone with checks due "
        "that month, drawn at random (N or N-sample; default 40)."),
    time_limit: float = typer.Option(10.0, "--time-limit", min=0.5,
                                     help="Solve time budget, seconds."),
    geojson: Path | None = typer.Option(None, "--geojson",
                                        help="Write the routes as GeoJSON to this file."),
    save: Path | None = typer.Option(None, "--save", help="Save the day plan as JSON (for "
                                     "`whistle plan insert`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON on stdout."),
    duty: str = typer.Option("day", "--duty", help="day: the day crews' visits; night: the "
                             "night duty's (夜查: checks whose hours only fit the night)."),
    shift: str | None = typer.Option(None, "--shift", help="Shift, HH:MM-HH:MM (default day "
                                     "08:30-17:30, night 19:00-01:00)."),
    lunch: str | None = typer.Option(None, "--lunch",
                                     help="Window the lunch break lies in, HH:MM-HH:MM "
                                     "(default 11:30-13:30)."),
    lunch_min: int | None = typer.Option(None, "--lunch-min", min=0, help="Lunch break, "
                                         "minutes (default day 60, night 0)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sample and of the search."),
    district_code: str = typer.Option("changshan", "--district", help="District code."),
    objects_file: Path | None = typer.Option(None, "--objects-file", help="Object CSV "
                                             "(default: the bundled synthetic sample)."),
    teams_file: Path | None = typer.Option(None, "--teams", help="Team file (default: the "
                                           "bundled sample teams)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines on stderr."),
) -> None:
    """Route the crews of ZONE on DATE: who visits which object, in which order, and when.

    Exits 0 with a plan (visits that cannot be served are listed with reasons), 2 on bad
    input.
    """
    if from_calendar is not None and objects is not None:
        fail("--from-calendar and --objects: give one of them")
    when = _day(day)
    sample_n = 40
    if objects is not None:
        m = _SAMPLE.match(objects.strip())
        if not m or int(m.group(1)) <= 0:
            fail(f"--objects: {objects!r} is not a positive number of objects (N or N-sample)")
        sample_n = int(m.group(1))
    say = _say(quiet)
    district, items, objs, roster = _inputs(district_code, objects_file, teams_file)
    with cli_errors(*_ERRORS):
        area = find_zone(district, zone)
        options = DayOptions.for_duty(duty, shift, lunch, lunch_min, time_limit_s=time_limit,
                                      seed=seed)
        travel = travel_times_for(district)
        if from_calendar is not None:
            visits = load_calendar_day(from_calendar, when, objs, items)
            source = f"calendar {from_calendar.name}"
        else:
            visits = sample_visits(area.name, when, sample_n, seed=seed, district=district,
                                   items=items, objects=objs, roster=roster, travel=travel)
            source = (f"sample: {sample_n} objects of {area.name} with checks due in "
                      f"{when:%Y-%m} (seed {seed})")
        say(f"planning {area.name} {when}, {options.duty} duty: {len(visits)} visits "
            f"({source})")
        plan = plan_day(visits, roster, when, zone=area.name, travel=travel, options=options,
                        district=district.code, source=source, progress=say)
        if save is not None:
            plan.save(save)
            say(f"plan saved to {save}")
        if geojson is not None:
            write_geojson(plan, geojson, travel)
            say(f"GeoJSON written to {geojson}")
    if as_json:
        sys.stdout.write(json.dumps(plan.to_dict(), ensure_ascii=False, indent=1) + "\n")
    else:
        _print_plan(plan)


def _insert_text(res: InsertResult, at: str) -> None:
    v = res.visit
    if res.inserted:
        typer.echo(f"inserted {v.id} ({v.name}) on {res.crew_id}"
                   f"{' (a new crew)' if res.new_crew else ''}, start {clock(res.start_s or 0)}"
                   f" [{res.method}, {res.runtime_s:.2f} s]")
    else:
        typer.echo(f"could not insert {v.id} ({v.name}): [{res.kind}] {res.reason}")
    typer.echo(f"frozen stops (started before {at}): "
               f"{res.frozen}; moved stops: {len(res.moved)} (moved = other crew, dropped, "
               f"order changed, or start shifted > {res.threshold_min} min)")
    for m in res.moved:
        after = (f"{m.after_crew} {clock(m.after_start_s or 0)}" if m.after_crew else "dropped")
        typer.echo(f"  {m.visit_id}: {m.before_crew} {clock(m.before_start_s)} -> {after} "
                   f"({', '.join(m.why)})")


def insert(
    plan_file: Path = typer.Option(..., "--plan", help="Day plan JSON (`whistle plan routes "
                                   "--save`)."),
    object_id: str = typer.Option(..., "--object", help="Object to inspect urgently."),
    at: str = typer.Option(..., "--at", help="Clock time of the re-plan, HH:MM (now)."),
    units: str | None = typer.Option(
        None, "--units", help="Units that must inspect, comma-separated (team id or "
        "dept:<code>); default: the township or hub team of the object's township."),
    minutes: int = typer.Option(30, "--minutes", min=1, help="Minutes on site."),
    within: int = typer.Option(DEFAULT_WITHIN_MIN, "--within", min=1,
                               help="Service must start within this many minutes of --at."),
    priority: int = typer.Option(URGENT_PRIORITY, "--priority", min=1,
                                 help="Weight against a routine visit (1)."),
    threshold: int = typer.Option(DEFAULT_THRESHOLD_MIN, "--threshold", min=0,
                                  help="A stop whose start shifts by more minutes has moved."),
    time_limit: float = typer.Option(3.0, "--time-limit", min=0.5,
                                     help="Budget of the re-solve (when no insertion fits)."),
    save: Path | None = typer.Option(None, "--save", help="Save the re-planned day as JSON."),
    geojson: Path | None = typer.Option(None, "--geojson", help="Write the re-planned routes "
                                        "as GeoJSON."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON on stdout."),
    objects_file: Path | None = typer.Option(None, "--objects-file", help="Object CSV "
                                             "(default: the bundled synthetic sample)."),
    teams_file: Path | None = typer.Option(None, "--teams", help="Team file (default: the "
                                           "bundled sample teams)."),
) -> None:
    """Insert an urgent inspection of OBJECT into a saved day plan at clock time AT.

    Stops started before AT stay as they are. Exits 0 when inserted, 1 when it cannot be
    (the reason is printed and the plan is unchanged), 2 on bad input.
    """
    with cli_errors(*_ERRORS):
        plan = DayPlan.load(plan_file)
    try:
        now = plan.minutes_at(at)
    except ValueError as exc:
        fail(f"--at: {exc}")
    district, _, objs, roster = _inputs(plan.district or "changshan", objects_file, teams_file)
    obj = objs.by_id.get(object_id)
    if obj is None:
        fail(f"--object: {object_id!r} is not in the object file")
    assert obj is not None
    wanted = tuple(u.strip() for u in units.split(",") if u.strip()) if units else \
        default_units(obj.township, roster)
    if not wanted:
        fail(f"--units: no township or hub team covers {obj.township}; name the units")
    with cli_errors(*_ERRORS, ValueError):
        visit = urgent_visit(obj, wanted, minutes, now, within_min=within, priority=priority)
        travel = travel_times_for(district)
        res = insert_urgent(plan, visit, now, travel=travel, roster=roster,
                            time_limit_s=time_limit, threshold_min=threshold)
        if save is not None:
            res.plan.save(save)
        if geojson is not None:
            write_geojson(res.plan, geojson, travel)
    if as_json:
        out: dict[str, Any] = res.as_dict()
        out["plan"] = res.plan.to_dict()
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    else:
        _insert_text(res, format_clock(now))
    if not res.inserted:
        raise typer.Exit(1)
