"""``whistle plan draw``: 双随机一公开 — random objects, random inspectors, published.

``run`` draws a share of a zone's objects and two certified officers for each, records the
draw (append-only, with an audit chain entry) and prints it; ``show`` prints a stored draw and
re-verifies it; ``verify`` only verifies; ``publish`` writes the public CSV (names and
certificate numbers, no internal ids); ``list`` lists stored draws.
"""

from __future__ import annotations

import csv
import getpass
import json
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from dispatch.catalog.models import CatalogError
from dispatch.catalog.service import local_day
from dispatch.teams.loader import (
    TeamRoster,
    bundled_teams_path,
    catalogue_departments,
    load_teams,
)
from dispatch.teams.models import TeamError
from geo.boundaries import BoundaryError
from geo.store import StoreError, open_store
from planner.draw import (
    MAX_SEED,
    DrawError,
    DrawRecord,
    prepare_draw,
    public_csv,
)
from planner.draw_store import (
    DrawNotFound,
    get_draw,
    list_draws,
    preview_draw,
    record_draw,
    verify_stored_draw,
)
from planner.items import PlannerDataError, load_items
from planner.objects import load_objects
from web.commands._district import resolve_district
from web.commands._errors import cli_errors, err_console, fail

app = typer.Typer(help="双随机一公开: draw inspection objects and inspectors at random, record "
                       "the draw and publish it.", no_args_is_help=True)
console = Console()

JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of tables.")
# The option a draw input field comes from, so an error names what to change on the line.
_OPTION = {"zone": "--zone", "department": "--department", "share": "--share",
           "seed": "--seed", "at": "--at", "until": "--until", "object_type": "--object-type",
           "load_cap": "--cap", "recusals": "--recuse/--recusals",
           "last_inspections": "--last-inspections"}
_ERRORS = (DrawError, DrawNotFound, StoreError, PlannerDataError, TeamError, CatalogError,
           BoundaryError)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date YYYY-MM-DD")
    raise AssertionError("unreachable: fail() exits")


def _read_pairs(path: Path, option: str, key: str) -> Any:
    """Pairs from a JSON file (list of [officer, object] pairs, or a mapping keyed by
    ``key``) or a CSV file with columns ``officer_id,object_id``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{option}: cannot read {path} ({exc})")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(line for line in text.splitlines()
                                   if not line.startswith("#")))
        if rows and not {"officer_id", "object_id"} <= set(rows[0]):
            fail(f"{option}: {path.name} needs the columns officer_id,object_id")
        return [(r["officer_id"].strip(), r["object_id"].strip()) for r in rows]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{option}: {path.name} is not JSON or CSV ({exc})")
    if not isinstance(value, list | dict):
        fail(f"{option}: {path.name} must hold a list of [officer_id, object_id] pairs or a "
             f"mapping {key} id → list of ids")
    return value


def _recuse_flags(values: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for v in values or []:
        officer, sep, obj = v.partition(":")
        if not sep or not officer.strip() or not obj.strip():
            fail(f"--recuse: {v!r} is not OFFICER_ID:OBJECT_ID")
        out.append((officer.strip(), obj.strip()))
    return out


def _roster(path: Path | None, district: Any, departments: dict[str, str]) -> TeamRoster:
    return load_teams(path or bundled_teams_path(district.code), district, departments)


def _print_record(record: DrawRecord, verified: str | None = None) -> None:
    inp, res = record.inputs, record.result
    officers = {o.id: o for o in inp.officers}
    objects = {o.id: o for o in inp.objects}
    title = (f"draw {record.id if record.id is not None else '(preview, not recorded)'} — "
             f"{inp.zone_name} ({inp.zone}), {inp.unit}")
    table = Table("object", "name", "type", "township", "inspector 1", "inspector 2",
                  title=title)
    pairs = res.by_object
    why = {u.object_id: u for u in res.unpaired}
    for oid in res.selected:
        o = objects[oid]
        if oid in pairs:
            a, b = (f"{officers[i].name} {i}" for i in pairs[oid].officers)
        else:
            a, b = f"[bold red]unpaired[/] ({why[oid].reason})", why[oid].message
        table.add_row(oid, o.name, o.type_name, o.township_name, a, b)
    console.print(table)
    loads = ", ".join(f"{officers[i].name} {n}" for i, n in res.loads.items())
    lines = [
        f"drawn on {inp.drawn_on}, inspection window {inp.drawn_on} – {inp.window_end}",
        f"{len(res.selected)} of {len(inp.objects)} objects (share {inp.share:g}"
        f"{', per object type' if inp.by_type else ''}); {len(res.pairings)} paired, "
        f"{len(res.unpaired)} unpaired",
        f"{len(inp.officers)} eligible officers, load cap {res.load_cap}: {loads or 'none'}",
        f"{len(inp.recusals)} recusal(s), {len(inp.exclusions)} last-inspector exclusion(s)",
        f"seed {inp.seed}; algorithm {record.algorithm}; fingerprint {record.fingerprint}",
        f"run by {record.actor}"
        + (f" at {record.recorded_at.isoformat(timespec='seconds')}"
           if record.recorded_at else ""),
    ]
    if record.id is not None:
        lines.append(f"record hash {record.record_hash}")
    if verified:
        lines.append(verified)
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


@app.command("run")
def run(
    zone: str = typer.Option(..., "--zone", help="Zone (片区) code or name, e.g. 天马片区."),
    share: float = typer.Option(0.1, "--share", help="Share of the candidate objects to draw, "
                                "in (0, 1]; ceil(share × candidates)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (0 … 2^63−1); same "
                                    "inputs and seed, same draw. Default: a fresh seed from "
                                    "the system's entropy, printed and recorded."),
    at: str | None = typer.Option(None, "--at", help="Draw date, start of the inspection "
                                  "window (default: today, Asia/Shanghai)."),
    until: str | None = typer.Option(None, "--until", help="Last day of the inspection window "
                                     "(default: end of the draw date's quarter)."),
    department: str | None = typer.Option(None, "--department", help="Department code drawing "
                                          "from its own brigade (default: the zone's township "
                                          "team)."),
    object_type: list[str] | None = typer.Option(None, "--object-type", help="Only this "
                                                 "object type (repeatable)."),
    by_type: bool = typer.Option(False, "--by-type", help="Draw the share within each object "
                                 "type separately."),
    cap: int | None = typer.Option(None, "--cap", help="Most objects per officer (default: "
                                   "ceil(2 × drawn / officers) + 1)."),
    recuse: list[str] | None = typer.Option(None, "--recuse", help="OFFICER_ID:OBJECT_ID to "
                                            "recuse (回避); repeatable."),
    recusals: Path | None = typer.Option(None, "--recusals", help="Recusals file: JSON pairs "
                                         "or officer → objects, or CSV officer_id,object_id."),
    last_inspections: Path | None = typer.Option(
        None, "--last-inspections", help="Who inspected objects last time outside Whistle: "
        "JSON pairs or object → officers, or CSV officer_id,object_id. Stored draws are "
        "taken into account anyway."),
    actor: str | None = typer.Option(None, "--actor", help="Who runs the draw (default: the "
                                     "login name)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the draw without recording it."),
    objects_file: Path | None = typer.Option(None, "--objects", help="Object CSV (default: "
                                             "the bundled synthetic Changshan set)."),
    items_file: Path | None = typer.Option(None, "--items", help="Patrol item list JSON "
                                           "(default: the bundled sample)."),
    teams_file: Path | None = typer.Option(None, "--teams", help="Team JSON file (default: "
                                           "the bundled sample)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Draw objects and inspector pairs for a zone, record the draw and print it.

    Objects that cannot get two eligible officers are listed with the reason (and a warning
    on stderr); the draw is still recorded. Exit 2 on bad input, naming the option.
    """
    if not 0 < share <= 1:
        fail(f"--share: {share:g} must be a fraction in (0, 1]")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        fail(f"--seed: {seed} must be from 0 to {MAX_SEED}")
    if cap is not None and cap < 1:
        fail(f"--cap: {cap} must be a positive number of objects")
    day = _day(at, "--at") or local_day(datetime.now(UTC))
    end = _day(until, "--until")
    pairs = _recuse_flags(recuse)
    if recusals is not None:
        pairs = [*_as_pairs(_read_pairs(recusals, "--recusals", "officer"), "officer"), *pairs]
    last: Any = () if last_inspections is None else _read_pairs(
        last_inspections, "--last-inspections", "object")
    who = (actor or getpass.getuser() or "").strip()
    if not who:
        fail("--actor: name who runs the draw")
    fresh = seed is None
    if seed is None:
        seed = secrets.randbits(63)
    with cli_errors(*_ERRORS):
        items = load_items(items_file)
        district, _ = resolve_district(items.district)
        objects = load_objects(objects_file, items, district)
        departments = catalogue_departments()
        roster = _roster(teams_file, district, departments)
        try:
            inputs = prepare_draw(
                district, zone, objects, items, roster, at=day, until=end, seed=seed,
                share=share, department=department, object_types=object_type or None,
                by_type=by_type, load_cap=cap, recusals=pairs, last_inspections=last,
                departments=departments)
        except DrawError as exc:
            fail(f"{_OPTION.get(exc.field, exc.field)}: {exc.message}")
        with open_store() as store:
            record = (preview_draw(store, inputs, who) if dry_run
                      else record_draw(store, inputs, who))
    if fresh:
        err_console.print(f"seed {seed} (fresh from the system's entropy; recorded with the "
                          "draw)", highlight=False)
    if as_json:
        typer.echo(json.dumps(record.as_dict(), ensure_ascii=False, indent=1))
    else:
        _print_record(record)
    if record.result.unpaired:
        err_console.print(f"[yellow]warning:[/] {len(record.result.unpaired)} drawn object(s) "
                          "could not get two eligible officers: "
                          + ", ".join(u.object_id for u in record.result.unpaired),
                          highlight=False, soft_wrap=True)


def _as_pairs(value: Any, key: str) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [(str(k), str(v)) if key == "officer" else (str(v), str(k))
                for k, vs in value.items() for v in (vs if isinstance(vs, list) else [vs])]
    out = []
    for p in value:
        if not isinstance(p, list | tuple) or len(p) != 2:
            fail(f"--recusals: {p!r} is not an [officer_id, object_id] pair")
        out.append((str(p[0]), str(p[1])))
    return out


@app.command("show")
def show(
    draw_id: int = typer.Argument(..., help="Draw number."),
    as_json: bool = JSON_OPT,
) -> None:
    """Print a stored draw (the full record) and re-verify it."""
    with cli_errors(*_ERRORS), open_store() as store:
        record = get_draw(store, draw_id)
        check = verify_stored_draw(store, draw_id)
    if as_json:
        typer.echo(json.dumps({**record.as_dict(), "verification": check.as_dict()},
                              ensure_ascii=False, indent=1))
    else:
        _print_record(record, check.summary() if check.ok else None)
    if not check.ok:
        fail(check.summary(), code=1)


@app.command("verify")
def verify(
    draw_id: int = typer.Argument(..., help="Draw number."),
    as_json: bool = JSON_OPT,
) -> None:
    """Re-run a stored draw from its recorded inputs; exit 1 if anything differs."""
    with cli_errors(*_ERRORS), open_store() as store:
        check = verify_stored_draw(store, draw_id)
    if as_json:
        typer.echo(json.dumps(check.as_dict(), ensure_ascii=False))
        raise typer.Exit(0 if check.ok else 1)
    if not check.ok:
        fail(check.summary(), code=1)
    typer.echo(check.summary())


@app.command("publish")
def publish(
    draw_id: int = typer.Argument(..., help="Draw number."),
    out: Path = typer.Option(..., "--out", help="CSV file to write (replaced if it exists)."),
) -> None:
    """Write the public version (objects, window, inspectors' names and certificate numbers).

    Refuses a draw that fails verification: what is published must be what was drawn.
    """
    if not out.parent.is_dir():
        fail(f"--out: folder {out.parent} does not exist")
    with cli_errors(*_ERRORS), open_store() as store:
        record = get_draw(store, draw_id)
        check = verify_stored_draw(store, draw_id)
    if not check.ok:
        fail(f"not published: {check.summary()}", code=1)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(public_csv(record).encode("utf-8"))
    tmp.replace(out)
    typer.echo(f"draw {draw_id}: {len(record.result.selected)} objects written to {out}")


@app.command("list")
def list_cmd(
    zone: str | None = typer.Option(None, "--zone", help="Zone code (e.g. zone-CS01)."),
    department: str | None = typer.Option(None, "--department", help="Department code, or "
                                          "'township' for the township teams' draws."),
    since: str | None = typer.Option(None, "--since", help="Drawn on or after this date."),
    until: str | None = typer.Option(None, "--until", help="Drawn on or before this date."),
    as_json: bool = JSON_OPT,
) -> None:
    """Stored draws, oldest first."""
    start, end = _day(since, "--since"), _day(until, "--until")
    with cli_errors(*_ERRORS), open_store() as store:
        rows = list_draws(store, zone=zone, department=department, since=start, until=end)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=1))
        return
    table = Table("id", "drawn on", "zone", "department", "drawn", "paired", "unpaired",
                  "seed", "by", title=f"{len(rows)} draw(s)")
    for r in rows:
        table.add_row(str(r.id), r.drawn_on.isoformat(), r.zone, r.department or "township",
                      str(r.selected), str(r.paired),
                      f"[red]{r.unpaired}[/]" if r.unpaired else "0", str(r.seed), r.actor)
    console.print(table)
