"""``whistle catalog``: the power catalogue (赋权事项清单) and who is competent, when and why."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from dispatch.catalog.competence import (
    MAJOR_MEASURES,
    CaseFacts,
    Competence,
    CompetenceError,
    Decision,
)
from dispatch.catalog.loader import bundled_catalog_path, parse_catalog, read_document
from dispatch.catalog.models import CatalogError
from dispatch.catalog.service import Catalogue
from geo.boundaries import BoundaryError
from web.commands._district import resolve_district
from web.commands._errors import cli_errors, fail

app = typer.Typer(help="The power catalogue (赋权事项清单): what is granted where, and who is "
                       "competent for a case.", no_args_is_help=True)
console = Console()

CATALOG_OPT = typer.Option(None, "--catalog", help="Catalogue JSON file (default: the bundled "
                           "Changshan sample).")
KNOWN_AT_OPT = typer.Option(None, "--known-at", help="Use only records recorded up to this "
                            "date/time (reproduce an earlier decision).")
JSON_OPT = typer.Option(False, "--json", help="Print JSON instead of a table.")
LANG_OPT = typer.Option("zh", "--lang", help="Language of the reasons: zh or en.")
MEASURE_HELP = ("Major measure the case may lead to; repeat. One of: "
                + ", ".join(MAJOR_MEASURES) + ".")

STATUS = {  # reason code -> short (zh, en) status label for tables
    "grant.in_force": ("赋权", "granted"),
    "grant.entrusted": ("委托至{on}", "entrusted until {on}"),
    "grant.in_transition": ("过渡期至{on}", "in transition until {on}"),
    "grant.recalled": ("{on}收回", "recalled on {on}"),
    "grant.expired": ("委托{on}期满", "agreement ended {on}"),
    "grant.not_granted": ("未赋权", "not granted"),
    "matter.no_department": ("职责待裁定", "owner unclear"),
    "matter.unknown": ("清单外", "unknown matter"),
    "grant.conflict": ("授权冲突", "conflicting grants"),
}


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date or date-time (YYYY-MM-DD[THH:MM])")
    return None  # unreachable: fail() exits


def _open(catalog: Path | None, known_at: str | None) -> Catalogue:
    when = _when(known_at, "--known-at")
    with cli_errors(CatalogError, BoundaryError):
        path = catalog or bundled_catalog_path()
        doc = read_document(path)
        district, _source = resolve_district(str(doc.get("district") or ""))
        log = parse_catalog(doc, district)
    return Catalogue(log, district, when)


def _status(d: Decision, lang: str) -> str:
    for r in reversed(d.reasons):
        if r.code in STATUS:
            label = STATUS[r.code][0 if lang == "zh" else 1]
            return label.format(on=r.on.isoformat() if r.on else "")
    return ""


def _lang(lang: str) -> str:
    if lang not in ("zh", "en"):
        fail(f"--lang: {lang!r} is not zh or en")
    return lang


@app.command()
def show(
    at: str = typer.Option(..., "--at", help="Date (or date-time) the catalogue is read at."),
    township: str = typer.Option(..., "--township", help="Township name or code."),
    catalog: Path | None = CATALOG_OPT,
    known_at: str | None = KNOWN_AT_OPT,
    domain: str | None = typer.Option(None, "--domain", help="Only matters of this domain."),
    held_only: bool = typer.Option(False, "--held-only",
                                   help="Only matters the township (or its hub team) holds."),
    as_json: bool = JSON_OPT,
    lang: str = LANG_OPT,
) -> None:
    """List each matter and who holds it in a township on a day, with the reason."""
    lang = _lang(lang)
    day = _when(at, "--at")
    cat = _open(catalog, known_at)
    comp = Competence(cat)
    with cli_errors(CompetenceError):
        t = cat.district.township(comp.resolve(township))
    if domain is not None and domain not in cat.log.domains:
        fail(f"--domain: {domain!r} is not one of the catalogue's domains "
             f"({', '.join(cat.log.domains)})")
    assert day is not None
    rows: list[tuple[Any, Decision]] = []
    for m in cat.matters.values():
        if domain is not None and m.domain != domain:
            continue
        d = comp.decide(m.code, t.code, day)
        if held_only and d.kind not in ("township", "hub_team"):
            continue
        rows.append((m, d))
    counts: dict[str, int] = {}
    for _, d in rows:
        counts[d.kind] = counts.get(d.kind, 0) + 1
    if as_json:
        out = {"township": {"code": t.code, "name": t.name}, "at": day.date().isoformat(),
               "catalogue_version": cat.version, "counts": counts,
               "matters": [{"name": m.name, "domain": m.domain, **d.as_dict()}
                           for m, d in rows]}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    title = (f"{t.name} ({t.code}) {day.date()} — {cat.version}: "
             + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    table = Table("code", "matter", "domain", "holder", "in the name of", "status", title=title)
    for m, d in rows:
        holder = d.holder_name + (f" (代{d.acting_for_name})" if d.kind == "hub_team" else "")
        name = m.name if len(m.name) <= 28 else m.name[:27] + "…"
        table.add_row(m.code, name, m.domain, holder, d.case_in_name_of_name or "",
                      _status(d, lang))
    console.print(table)


@app.command()
def decide(
    matter: str = typer.Argument(..., help="Matter code."),
    place: str = typer.Option(..., "--township", help="Township or management area "
                              "(name or code) where the incident is."),
    at: str = typer.Option(..., "--at", help="Incident date or date-time."),
    fine: float | None = typer.Option(None, "--fine", help="Fine the case may lead to (yuan)."),
    measure: list[str] = typer.Option([], "--measure", help=MEASURE_HELP),
    held_by: str | None = typer.Option(None, "--held-by", help="Township whose team already "
                                       "holds the case (makes a department case a transfer)."),
    catalog: Path | None = CATALOG_OPT,
    known_at: str | None = KNOWN_AT_OPT,
    as_json: bool = JSON_OPT,
    lang: str = LANG_OPT,
) -> None:
    """Decide the competent authority for one case and explain why."""
    lang = _lang(lang)
    when = _when(at, "--at")
    cat = _open(catalog, known_at)
    comp = Competence(cat)
    assert when is not None
    with cli_errors(CompetenceError, ValueError):
        holder = comp.resolve(held_by) if held_by else None
        facts = CaseFacts(fine_yuan=fine, measures=frozenset(measure), held_by=holder)
        d = comp.decide(matter, place, when, facts)
    if as_json:
        typer.echo(json.dumps(d.as_dict(), ensure_ascii=False, indent=2))
    else:
        console.print(d.explain(lang), highlight=False)  # type: ignore[arg-type]


@app.command()
def check(
    path: Path = typer.Argument(..., help="Catalogue JSON file."),
    as_json: bool = JSON_OPT,
) -> None:
    """Validate a catalogue file against its district; list every problem."""
    with cli_errors(BoundaryError):
        try:
            doc = read_document(path)
            district, _ = resolve_district(str(doc.get("district") or ""))
            log = parse_catalog(doc, district)
        except CatalogError as exc:
            if as_json:
                typer.echo(json.dumps([p.as_dict() for p in exc.problems], ensure_ascii=False,
                                      indent=2))
            else:
                for p in exc.problems:
                    console.print(f"[red]{p.record}[/] {p.field}: {p.message}", highlight=False)
            fail(f"{path}: {len(exc.problems)} problem(s)", code=1)
    cat = Catalogue(log, district)
    if as_json:
        typer.echo("[]")
    else:
        console.print(f"[green]ok[/] {cat.version}: {len(log.matters)} matters, "
                      f"{len(log.records)} records, {len(cat.lines)} grant lines",
                      highlight=False)


@app.command()
def history(
    matter: str = typer.Argument(..., help="Matter code."),
    catalog: Path | None = CATALOG_OPT,
    known_at: str | None = KNOWN_AT_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Every record that granted, recalled or corrected a matter, in log order."""
    cat = _open(catalog, known_at)
    if matter not in cat.matters:
        fail(f"matter: {matter!r} is not in catalogue {cat.log.version}")
    rows = []
    for rec in cat.history(matter):
        row: dict[str, Any] = {"id": rec.id, "type": rec.kind,
                               "recorded_at": rec.recorded_at.isoformat()}
        if rec.kind == "grant":
            row.update(target=str(rec.target), mode=rec.mode,
                       effective=rec.effective_from.isoformat(), document=rec.document)
        elif rec.kind == "recall":
            row.update(grant=rec.grant, effective=rec.effective.isoformat(),
                       document=rec.document, reason=rec.reason)
        else:
            row.update(corrects=rec.corrects, reason=rec.reason,
                       changes={k: v.isoformat() if isinstance(v, date) else str(v)
                                for k, v in rec.changes.items()})
        rows.append(row)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("id", "type", "recorded", "effective", "detail",
                  title=f"{matter} {cat.matters[matter].name}")
    for r in rows:
        detail = r.get("target") or r.get("grant") or r.get("corrects") or ""
        extra = r.get("reason") or r.get("document") or ""
        table.add_row(r["id"], r["type"], r["recorded_at"][:10], r.get("effective", ""),
                      f"{detail} {extra}".strip())
    console.print(table)
