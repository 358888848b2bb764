"""``whistle planner-data``: the patrol item list and the inspection objects patrols visit."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from geo.boundaries import BoundaryError, District, bundled_district
from planner.items import ItemList, PlannerDataError, load_items
from planner.objects import (
    DEFAULT_COUNT,
    DEFAULT_SEED,
    ObjectSet,
    generate_objects,
    load_objects,
    zone_demand,
)
from web.commands._errors import cli_errors, fail

app = typer.Typer(help="Planner input data: the patrol item list (巡查事项清单) and the "
                       "inspection objects.", no_args_is_help=True)
objects_app = typer.Typer(help="Inspection objects (检查对象): generate a synthetic set, "
                               "summarise one, or show what a zone needs.",
                          no_args_is_help=True)
app.add_typer(objects_app, name="objects")
console = Console()

ITEMS_OPT = typer.Option(None, "--items", help="Patrol item list JSON (default: the bundled "
                         "Changshan sample).")
OBJECTS_OPT = typer.Option(None, "--file", help="Object CSV (default: the bundled synthetic "
                           "Changshan set).")
JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of tables.")


def _items(path: Path | None) -> ItemList:
    with cli_errors(PlannerDataError):
        return load_items(path)
    raise AssertionError  # unreachable: cli_errors exits


def _district(items: ItemList) -> District:
    with cli_errors(BoundaryError):
        return bundled_district(items.district)
    raise AssertionError


def _objects(path: Path | None, items: ItemList, district: District) -> ObjectSet:
    with cli_errors(PlannerDataError):
        return load_objects(path, items, district)
    raise AssertionError


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date YYYY-MM-DD")
    raise AssertionError


@app.command("items")
def items_cmd(
    field: str | None = typer.Option(None, "--field", help="Only items of this field "
                                     "(code or name, e.g. market or 市场秩序)."),
    object_type: str | None = typer.Option(None, "--object-type",
                                           help="Only items that apply to this object type."),
    items_file: Path | None = ITEMS_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """List patrol items with frequency, spacing, duration and whether they combine."""
    items = _items(items_file)
    rows = list(items.items)
    if field is not None:
        match = [f for f in items.fields if field in (f.code, f.name)]
        if not match:
            fail(f"--field: {field!r} is not one of "
                 + ", ".join(f"{f.code} ({f.name})" for f in items.fields))
        rows = [i for i in rows if i.field == match[0].code]
    if object_type is not None:
        if object_type not in items.types:
            fail(f"--object-type: {object_type!r} is not one of {', '.join(items.types)}")
        rows = [i for i in rows if object_type in i.object_types]
    if as_json:
        typer.echo(json.dumps([i.as_dict() for i in rows], ensure_ascii=False, indent=2))
        return
    fields = {f.code: f.name for f in items.fields}
    table = Table("code", "item", "field", "dept", "object types", "frequency", "spacing d",
                  "min", "combined", title=f"{items.title} — {len(rows)} of {len(items.items)} "
                                           f"items")
    for i in rows:
        window = f" {i.as_dict()['visit_window']}" if i.visit_window else ""
        table.add_row(i.code, i.name, fields[i.field], i.department, ", ".join(i.object_types),
                      i.frequency_text, str(i.min_spacing_days), str(i.duration_min),
                      ("yes" if i.combinable else "no") + window)
    console.print(table)
    grades = ", ".join(f"{g.grade} ×{float(g.multiplier):g}" for g in items.risk_grades)
    console.print(f"risk multipliers (risk-scaled items only): {grades}; "
                  f"visit setup {items.visit_setup_min} min", highlight=False)


@objects_app.command("generate")
def generate_cmd(
    out: Path = typer.Option(..., "--out", help="CSV file to write (replaced if it exists)."),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Random seed; same seed, same file."),
    count: int = typer.Option(DEFAULT_COUNT, "--count", help="Number of objects."),
    items_file: Path | None = ITEMS_OPT,
) -> None:
    """Generate a synthetic, reproducible object set and write it as CSV."""
    if count <= 0:
        fail(f"--count: {count} must be a positive number of objects")
    items = _items(items_file)
    district = _district(items)
    if not out.parent.is_dir():
        fail(f"--out: folder {out.parent} does not exist")
    with cli_errors(PlannerDataError):
        objs = generate_objects(district, items, seed=seed, count=count)
    with cli_errors(OSError):
        objs.write_csv(out)
    console.print(f"wrote {len(objs)} synthetic objects to {out} (seed {seed})",
                  highlight=False)


@objects_app.command("summary")
def summary_cmd(
    file: Path | None = OBJECTS_OPT,
    items_file: Path | None = ITEMS_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Count objects per township (with its zone), object type and risk grade."""
    items = _items(items_file)
    district = _district(items)
    objs = _objects(file, items, district)
    towns = objs.counts("township")
    zones = {z.name: sum(towns.get(m, 0) for m in z.members) for z in district.zones}
    out = {"objects": len(objs), "township": towns, "zone": zones,
           "object_type": objs.counts("object_type"), "risk_grade": objs.counts("risk_grade")}
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if objs.note:
        console.print(objs.note, highlight=False)
    t = Table("township", "name", "zone", "objects", title=f"{len(objs)} objects")
    for code, n in towns.items():
        zone = district.area_of(code, "zone")
        t.add_row(code, district.township(code).name, zone.name if zone else "", str(n))
    console.print(t)
    t = Table("zone", "objects")
    for name, n in zones.items():
        t.add_row(name, str(n))
    console.print(t)
    t = Table("object type", "name", "objects")
    for code, n in out["object_type"].items():
        t.add_row(code, items.types[code].name, str(n))
    console.print(t)
    t = Table("risk grade", "name", "objects")
    names = {g.grade: g.name for g in items.risk_grades}
    for g, n in out["risk_grade"].items():
        t.add_row(g, names[g], str(n))
    console.print(t)


@objects_app.command("demand")
def demand_cmd(
    zone: str = typer.Option(..., "--zone", help="Zone (片区) code or name, e.g. 天马片区."),
    start: str = typer.Option(..., "--start", help="First day of the horizon (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--end", help="First day after the horizon (YYYY-MM-DD); "
                            "a quarter is --start 2025-01-01 --end 2025-04-01."),
    file: Path | None = OBJECTS_OPT,
    items_file: Path | None = ITEMS_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """What a zone's objects need over a horizon: visits and minutes on site."""
    d0, d1 = _day(start, "--start"), _day(end, "--end")
    if d1 <= d0:
        fail(f"--end: {end} must be after --start {start}")
    items = _items(items_file)
    district = _district(items)
    objs = _objects(file, items, district)
    with cli_errors(PlannerDataError):
        dem = zone_demand(objs, items, district, zone, d0, d1)
    s = dem.summary()
    if as_json:
        typer.echo(json.dumps(s, ensure_ascii=False, indent=2))
        return
    t = Table("measure", "value", title=f"{s['area']} {s['start']} – {s['end']} (end excluded)")
    for key in ("objects", "objects_with_visits", "item_visits", "non_combinable_visits",
                "min_visits"):
        t.add_row(key, f"{s[key]:,}")
    t.add_row("on-site hours if combined", f"{s['on_site_min_combined'] / 60:,.0f}")
    t.add_row("on-site hours if separate", f"{s['on_site_min_separate'] / 60:,.0f}")
    console.print(t)
    fields = {f.code: f.name for f in items.fields}
    t = Table("field", "item visits")
    for code, n in s["item_visits_by_field"].items():
        t.add_row(fields.get(code, code), f"{n:,}")
    console.print(t)
