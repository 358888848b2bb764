"""``whistle locate``: which township, zone and cluster holds each point."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from geo.boundaries import BoundaryError
from geo.crs import InputCRS
from geo.locate import DEFAULT_NEAR_BOUNDARY_M, LocateError, Locator, parse_points
from web.commands._district import resolve_district
from web.commands._errors import cli_errors, err_console


def locate(
    points: list[str] = typer.Argument(
        None, metavar="LON,LAT...",
        help="Points as LON,LAT; read one per line from stdin if none."),
    crs: InputCRS = typer.Option(InputCRS.wgs84, "--crs", help="Input coordinates: wgs84 or gcj02 "
                                 "(Amap/Tencent web maps)."),
    district: str = typer.Option("changshan", "--district", help="District code."),
    near_m: float = typer.Option(DEFAULT_NEAR_BOUNDARY_M, "--near-m",
                                 help="Flag points within this many metres of another township."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per point."),
) -> None:
    """Locate points: township, zone, "1+X" cluster and whether a boundary is near."""
    with cli_errors(LocateError, BoundaryError):
        texts = points or [line.strip() for line in sys.stdin if line.strip()]
        if not texts:
            raise LocateError("points: give at least one LON,LAT")
        lon, lat = parse_points(texts)
        dist, source = resolve_district(district)
        if source == "bundled":
            err_console.print(f"note: district {district} read from bundled data "
                              "(not loaded into the store yet)", style="dim")
        rows = Locator(dist, near_boundary_m=near_m).describe(lon, lat, crs)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table("lon", "lat", "township", "zone", "cluster", "near boundary", title=dist.name)
    for r in rows:
        table.add_row(f"{r['lon']:.6f}", f"{r['lat']:.6f}", r["township"] or f"— {r['reason']}",
                      r["zone"] or "", r["cluster"] or "",
                      " / ".join(r["candidates"]) if r["near_boundary"] else "")
    Console().print(table)
