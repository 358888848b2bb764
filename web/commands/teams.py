"""``whistle teams``: enforcement teams, their bases, certified officers and duty status."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from dispatch.catalog.models import CatalogError
from dispatch.catalog.service import local_day
from dispatch.teams.loader import (
    bundled_teams_path,
    catalogue_departments,
    parse_teams,
    read_document,
)
from dispatch.teams.models import DUTY_ZH, LEGAL_REVIEWER_SHARE, Team, TeamError
from geo.boundaries import BoundaryError, District
from web.commands._district import resolve_district
from web.commands._errors import cli_errors, err_console, fail

app = typer.Typer(help="Enforcement teams: bases, certified officers and duty status.",
                  no_args_is_help=True)
console = Console()


@app.callback()
def teams() -> None:
    """Enforcement teams: bases, certified officers and duty status."""


def _day(value: str | None) -> date:
    if value is None:
        return local_day(datetime.now(UTC))
    try:
        return local_day(datetime.fromisoformat(value))
    except ValueError:
        fail(f"--at: {value!r} is not a date or date-time (YYYY-MM-DD[THH:MM])")
    raise AssertionError("unreachable: fail() exits")


def _row(t: Team, day: date, district: District, departments: dict[str, str]
         ) -> dict[str, Any]:
    certified = t.certified_on(day)
    invalid = [m for m in t.officers if m not in certified]
    base_town = district.township(t.base_township) if t.base_township else None
    return {
        "id": t.id, "name": t.name, "name_en": t.name_en, "kind": t.kind, "level": t.level,
        "coordinated": t.coordinated,
        "serves": ([{"code": c, "name": district.township(c).name} for c in t.serves]
                   if t.serves else
                   [{"department": t.department, "name": departments.get(t.department or "")}]),
        "base": {"lon": t.base_lon, "lat": t.base_lat,
                 "township": base_town.code if base_town else None,
                 "township_name": base_town.name if base_town else None,
                 "address": t.base_address},
        "duty": t.duty,
        "at": day.isoformat(),
        "certified_officers": [{"id": m.id, "name": m.name, "certificate": m.certificate.number,
                                "valid_to": m.certificate.valid_to.isoformat()}
                               for m in certified if m.certificate],
        "officers_without_valid_certificate": [
            {"id": m.id, "name": m.name, "certificate": m.certificate.number,
             "valid_from": m.certificate.valid_from.isoformat(),
             "valid_to": m.certificate.valid_to.isoformat()}
            for m in invalid if m.certificate],
        "auxiliaries": len(t.members_with("auxiliary")),
        "legal_reviewers": len(t.members_with("legal_reviewer")),
        "members": len(t.members),
    }


@app.command("list")
def list_teams(
    at: str | None = typer.Option(None, "--at", help="Date the certificates are checked on "
                                  "(default: today, Asia/Shanghai)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    teams_file: Path | None = typer.Option(None, "--teams", help="Team JSON file (default: "
                                           "the bundled Changshan sample)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalogue whose departments "
                                        "the teams serve (default: the bundled sample)."),
) -> None:
    """Each team with its base, officers certified on the day and duty status."""
    day = _day(at)
    with cli_errors(TeamError, CatalogError, BoundaryError):
        path = teams_file or bundled_teams_path()
        doc = read_document(path)
        district, _ = resolve_district(str(doc.get("district") or ""))
        departments = catalogue_departments(catalog)
        roster = parse_teams(doc, district, departments)
    if roster.note:
        err_console.print(f"note: {roster.note}", style="dim", highlight=False)
    rows = [_row(t, day, district, departments) for t in roster.teams]
    staff = sum(r["members"] for r in rows)
    reviewers = sum(r["legal_reviewers"] for r in rows)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("id", "team", "serves", "base", "certified", "aux.", "legal", "duty",
                  title=f"{district.name} teams on {day} — {roster.version}")
    for r in rows:
        serves = "、".join(s["name"] or s.get("department") or "" for s in r["serves"])
        if r["coordinated"]:
            serves += "（联动）"
        n_ok = len(r["certified_officers"])
        n_all = n_ok + len(r["officers_without_valid_certificate"])
        certified = f"{n_ok}/{n_all}" if n_ok else f"[bold red]0/{n_all}[/]"
        base = f"{r['base']['township_name']} {r['base']['lon']:.4f},{r['base']['lat']:.4f}"
        duty = r["duty"] if r["duty"] == "on_duty" else f"[yellow]{r['duty']}[/]"
        table.add_row(r["id"], r["name"], serves, base, certified, str(r["auxiliaries"]),
                      str(r["legal_reviewers"]), f"{duty} {DUTY_ZH[r['duty']]}")
    console.print(table)
    share = reviewers / staff if staff else 0.0
    flag = "" if share >= LEGAL_REVIEWER_SHARE else " [red](below 5%)[/]"
    console.print(f"{len(rows)} teams, {staff} staff, {reviewers} legal reviewers "
                  f"({share:.1%}){flag}; certified = officers with a certificate valid on "
                  f"{day} / all officers", highlight=False)
