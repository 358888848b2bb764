"""``whistle boundaries``: validate, load, list and inspect district boundaries."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from geo.boundaries import BoundaryError, load_district, read_district
from geo.clusters import derive_clusters
from geo.store import StoreError, open_store
from geo.validate import validate_district
from web.commands._district import resolve_district
from web.commands._errors import cli_errors, fail

app = typer.Typer(help="District boundaries: townships, zones (片区) and \"1+X\" clusters (组团).",
                  no_args_is_help=True)
console = Console()


@app.command()
def validate(
    folder: Path = typer.Argument(..., help="District folder (district.json + GeoJSON)."),
    as_json: bool = typer.Option(False, "--json", help="Print problems as JSON."),
) -> None:
    """Check geometry, overlaps, gaps, outline coverage and area references."""
    with cli_errors(BoundaryError):
        district = read_district(folder)
    problems = validate_district(district)
    if as_json:
        typer.echo(json.dumps([p.as_dict() for p in problems], ensure_ascii=False, indent=2))
    elif not problems:
        console.print(f"[green]ok[/] {district.name}: {len(district.townships)} townships, "
                      f"{len(district.zones)} zones, {len(district.clusters)} clusters")
    for p in problems if not as_json else []:
        console.print(f"[red]{p.kind}[/] {p.message}", highlight=False)
    if problems:
        raise typer.Exit(1)


@app.command()
def load(folder: Path = typer.Argument(..., help="District folder to validate and store.")) -> None:
    """Validate a district folder and store it, replacing any earlier version atomically."""
    try:
        district = load_district(folder)
    except BoundaryError as exc:
        for p in exc.problems:
            console.print(f"[red]{p.kind}[/] {p.message}", highlight=False)
        fail(f"{folder}: {len(exc.problems)} problem(s); nothing was stored")
    with cli_errors(StoreError), open_store() as store:
        store.save_district(district)
        url = store.url
    console.print(f"[green]loaded[/] {district.code} {district.name}: {len(district.townships)} "
                  f"townships, {len(district.zones)} zones, {len(district.clusters)} clusters "
                  f"into {url.split('@')[-1]}", highlight=False, soft_wrap=True)


@app.command("list")
def list_() -> None:
    """List the districts in the store."""
    with cli_errors(StoreError), open_store() as store:
        for code in store.list_districts():
            typer.echo(code)


@app.command()
def show(district: str = typer.Option("changshan", "--district", help="District code.")) -> None:
    """Show each township with its kind, class, zone and cluster."""
    with cli_errors(BoundaryError):
        dist, source = resolve_district(district)
    table = Table("code", "township", "kind", "class", "zone", "cluster (hub)",
                  title=f"{dist.name} ({source})")
    for t in dist.townships:
        zone, cluster = dist.area_of(t.code, "zone"), dist.area_of(t.code, "cluster")
        hub = dist.township(cluster.hub).name if cluster and cluster.hub else ""
        table.add_row(t.code, t.name, t.kind, t.town_class, zone.name if zone else "",
                      f"{cluster.name} ({hub})" if cluster else "")
    console.print(table)


@app.command("derive-clusters")
def derive_clusters_cmd(
    folder: Path = typer.Argument(..., help="District folder."),
    hub: list[str] = typer.Option(..., "--hub", help="Hub township (name or code); repeat."),
    standalone: list[str] = typer.Option([], "--standalone", help="Township that stays alone."),
    max_members: int = typer.Option(2, "--max-members", help="Neighbours per hub, at most."),
    write: bool = typer.Option(False, "--write", help="Write the clusters into district.json."),
) -> None:
    """Derive "1+X" cluster membership from adjacency and distance (labelled derived)."""
    with cli_errors(BoundaryError, KeyError):
        district = read_district(folder)
        hubs = {district.township(h).code: f"{district.township(h).name[:2]}组团" for h in hub}
        alone = {district.township(s).code for s in standalone}
        result = derive_clusters(district, hubs, alone, max_members=max_members)
    for c in result.clusters:
        console.print(f"{c.name}: " + " + ".join(district.township(m).name for m in c.members)
                      + f"  [dim]{c.note}[/]", highlight=False)
    if write:
        path = Path(folder) / "district.json"
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta.setdefault("layers", {})["cluster"] = [
            {"code": c.code, "name": c.name, "hub": c.hub, "members": list(c.members),
             "derived": True, "note": c.note} for c in result.clusters]
        path.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        console.print(f"written to {path}")
