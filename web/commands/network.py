"""``whistle network``: import an OSM road extract for a district, and show what is cached."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from geo.boundaries import BoundaryError, District, load_district
from geo.network import NetworkError, RoadNetwork, district_coverage
from geo.speeds import district_urban_area
from geo.traveltime import network_path
from web.commands._district import resolve_district
from web.commands._errors import cli_errors, fail

app = typer.Typer(help="Road networks: import an OSM extract for a district, inspect the cache.",
                  no_args_is_help=True)
console = Console()


def _district(code: str | None, boundaries: Path | None) -> District:
    if boundaries is not None:
        with cli_errors(BoundaryError):
            district = load_district(boundaries)
        if code and code != district.code:
            fail(f"--district {code!r} does not match the code {district.code!r} in "
                 f"{boundaries / 'district.json'}")
        return district
    if not code:
        fail("--district: give a district code, or a district folder with --boundaries")
    with cli_errors(BoundaryError):
        district, _ = resolve_district(code)
    return district


def _summary(net: RoadNetwork) -> dict[str, Any]:
    return {"nodes": net.n_nodes, "edges": net.n_edges, "road_km": round(net.road_km, 2),
            "epsg": net.epsg, **net.meta}


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="OSM extract: .osm, .osm.bz2 or .osm.pbf."),
    district: str | None = typer.Option(None, "--district", help="District code, e.g. changshan."),
    boundaries: Path | None = typer.Option(
        None, "--boundaries", help="District folder (district.json + townships.geojson) to use "
        "instead of a stored or bundled district."),
    service_roads: bool = typer.Option(True, "--service/--no-service",
                                       help="Keep highway=service access roads."),
    force: bool = typer.Option(False, "--force",
                               help="Save even if no road of the file lies in the district."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Build the drivable road network of FILE and cache it for the district.

    Speeds are urban inside the district's streets (街道) and rural elsewhere. The file must
    reach into the district's townships, unless --force.
    """
    dist = _district(district, boundaries)
    started = time.perf_counter()
    with cli_errors(NetworkError):
        net = RoadNetwork.from_osm(file, service_roads=service_roads,
                                   urban_area=district_urban_area(dist))
    cov = district_coverage(net, dist)
    if cov.share_in_district == 0 and not force:
        fail(f"{file.name}: none of its {net.n_nodes:,} road nodes lies in {dist.name} "
             f"({dist.code}); nothing was saved (check the file and --district, or use --force)")
    net.meta.update(district=dist.code, share_in_bbox=round(cov.share_in_bbox, 4),
                    share_in_district=round(cov.share_in_district, 4),
                    townships_without_roads=cov.townships_without_roads)
    path = net.save(network_path(dist.code))
    elapsed = time.perf_counter() - started
    if as_json:
        typer.echo(json.dumps({"path": str(path), "build_s": round(elapsed, 3), **_summary(net)},
                              ensure_ascii=False, indent=2))
        return
    missing = cov.townships_without_roads
    console.print(
        f"[green]imported[/] {file.name} for {dist.name} ({dist.code}): {net.n_nodes:,} nodes, "
        f"{net.n_edges:,} edges, {net.road_km:,.1f} km of road\n"
        f"coverage: {cov.share_in_district:.1%} of nodes inside the townships, "
        f"{cov.share_in_bbox:.1%} inside the district bbox; townships with roads: "
        f"{len(dist.townships) - len(missing)}/{len(dist.townships)}"
        + (f" (none in {', '.join(missing)})" if missing else "")
        + f"\nsaved {path} in {elapsed:.1f} s", highlight=False, soft_wrap=True)


@app.command()
def info(
    district: str = typer.Option(..., "--district", help="District code, e.g. changshan."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Show the road network cached for a district, or say that travel times are estimated."""
    path = network_path(district)
    if not path.exists():
        if as_json:
            typer.echo(json.dumps({"district": district, "path": str(path), "cached": False,
                                   "eta_source": "estimate"}))
        else:
            console.print(f"no road network cached for {district} ({path}); travel times use "
                          "the district's estimate (great-circle × circuity ÷ speed)",
                          highlight=False, soft_wrap=True)
        return
    started = time.perf_counter()
    with cli_errors(NetworkError):
        net = RoadNetwork.load(path)
    load_s = time.perf_counter() - started
    summary = {"district": district, "path": str(path), "cached": True, "eta_source": "road",
               "bytes": path.stat().st_size, "load_s": round(load_s, 4), **_summary(net)}
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    for key, value in summary.items():
        console.print(f"{key:>24}: {value}", highlight=False, soft_wrap=True)
