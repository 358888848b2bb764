"""``whistle dispatch``, ``whistle replay`` and ``whistle tickets``: dispatch from a shell."""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from dispatch.dispatcher import Dispatcher, intake
from dispatch.incidents import IncidentError, parse_incident
from dispatch.tickets.errors import NotFound, TicketError
from dispatch.tickets.service import assign, get_ticket, list_tickets, transition, utcnow
from geo.boundaries import BoundaryError
from geo.store import StoreError, open_store
from web.commands._district import resolve_district
from web.commands._errors import cli_errors, fail

console = Console()
tickets_app = typer.Typer(help="Tickets: list, show, move through their lifecycle.",
                          no_args_is_help=True)

REPLAY_COLUMNS = ("matter_code", "lon", "lat", "reported_at")
OFFICE_TZ = ZoneInfo("Asia/Shanghai")  # deadlines are read in the office's time
CHUNK = 10_000


def _dispatcher(district: str) -> Dispatcher:
    with cli_errors(BoundaryError):
        d, _ = resolve_district(district)
    return Dispatcher.for_district(d)


def dispatch(
    file: Annotated[Path | None, typer.Argument(help="Incident JSON file; stdin if omitted.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")]
    = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide only; store nothing.")]
    = False,
) -> None:
    """Decide one incident (as POST /api/v1/incidents) and store it as a ticket."""
    text = file.read_text(encoding="utf-8") if file else sys.stdin.read()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"incident: not valid JSON ({exc})")
    if not isinstance(raw, dict):
        fail("incident: expected a JSON object")
    with cli_errors(IncidentError, StoreError, TicketError):
        incident = parse_incident(raw)
        dispatcher = _dispatcher(incident.district)
        if dry_run:
            out = {"created": False, "dry_run": True, **dispatcher.decide(incident).as_dict()}
        else:
            with open_store() as store:
                out = intake(dispatcher, store, incident, actor="cli").as_dict()
    if as_json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return
    _print_result(out)


def _print_result(out: dict[str, Any]) -> None:
    loc, auth, rec = out["location"], out["competent_authority"], out["recommendation"]
    t = out.get("ticket")
    head = (f"ticket {t['id']} ({'new' if out['created'] else 'already stored'}), state "
            f"{t['state']}" if t else "dry run: nothing stored")
    console.print(f"[bold]{head}[/]", highlight=False)
    console.print(f"where: {loc['township_name']} · {loc['zone_name']}"
                  + (f" · near {'/'.join(loc['candidates'])}" if loc["near_boundary"] else ""),
                  highlight=False)
    console.print(f"competent: {auth['summary_zh']}", highlight=False)
    for i, r in enumerate(auth["reasons"], 1):
        console.print(f"  {i}. {r['zh']}", highlight=False, style="dim")
    table = Table("#", "team", "ETA", "km", "load", "position", title=f"shortlist "
                  f"(eta: {rec['eta_source']})")
    for c in rec["shortlist"]:
        table.add_row(str(c["rank"]), c["team_name"], f"{c['eta_min']:.0f} min",
                      f"{c['metres'] / 1000:.1f}", str(c["load"]), c["position"]["source"])
    console.print(table)
    if out["sla"]["due_at"]:
        due = datetime.fromisoformat(out["sla"]["due_at"]).astimezone(OFFICE_TZ)
        console.print(f"due: {due:%Y-%m-%d %H:%M} Beijing time ({out['sla']['rule']})",
                      highlight=False)


def _read_replay(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, comment="#", dtype={"matter_code": str, "external_id": str,
                                                      "source": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read CSV ({exc})")
    missing = [c for c in REPLAY_COLUMNS if c not in frame.columns]
    if missing:
        fail(f"{path}: missing column(s) {', '.join(missing)}; need {', '.join(REPLAY_COLUMNS)}")
    for col in ("lon", "lat"):
        bad = pd.to_numeric(frame[col], errors="coerce").isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            fail(f"{path}: row {row + 1}: {col} {frame[col].iloc[row]!r} is not a number")
    times = pd.to_datetime(frame["reported_at"], errors="coerce", utc=False, format="ISO8601")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        fail(f"{path}: row {row + 1}: reported_at {frame['reported_at'].iloc[row]!r} is not an "
             "ISO 8601 date-time")
    if getattr(times.dt, "tz", None) is None:
        fail(f"{path}: reported_at needs a time zone, e.g. 2025-05-01T09:30:00+08:00")
    frame["reported_at"] = times.dt.tz_convert("Asia/Shanghai")
    return frame


def replay(
    file: Annotated[Path, typer.Argument(help="CSV of historical tickets: matter_code, lon, lat, "
                                              "reported_at (ISO 8601 with zone); optional "
                                              "source, external_id, fine_yuan.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the decisions (CSV).")]
    = Path("decisions.csv"),
    district: Annotated[str, typer.Option("--district", help="District code.")] = "changshan",
    crs: Annotated[str, typer.Option("--crs", help="wgs84 or gcj02.")] = "wgs84",
) -> None:
    """Replay a ticket file through locate + competence + recommendation, in batch."""
    frame = _read_replay(file)
    dispatcher = _dispatcher(district)
    n = len(frame)
    fines = frame["fine_yuan"].astype(float).to_numpy() if "fine_yuan" in frame else None
    started = time.perf_counter()
    parts = []
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  TextColumn("{task.completed:,}/{task.total:,}"), TimeRemainingColumn(),
                  console=Console(stderr=True)) as progress:
        task = progress.add_task("replaying", total=n)
        for lo in range(0, n, CHUNK):
            part = frame.iloc[lo:lo + CHUNK]
            with cli_errors(IncidentError, ValueError):
                res = dispatcher.decide_batch(
                    part["matter_code"].tolist(), part["lon"].to_numpy(float),
                    part["lat"].to_numpy(float), part["reported_at"].dt.to_pydatetime().tolist(),
                    fines[lo:lo + CHUNK].tolist() if fines is not None else None, crs)
            parts.append(pd.DataFrame({
                "township": res.township, "zone": res.zone, "authority_kind": res.kind,
                "holder": res.holder, "transfer": res.transfer, "dispute": res.dispute,
                "team": res.team,
                "eta_min": np.where(np.isfinite(res.eta_s), np.round(res.eta_s / 60, 1), np.nan),
                "km": np.where(np.isfinite(res.metres), np.round(res.metres / 1000, 2), np.nan),
                "eta_source": res.eta_source, "error": res.error}, index=part.index))
            progress.advance(task, len(part))
    elapsed = time.perf_counter() - started
    keep = [c for c in ("source", "external_id", "matter_code", "lon", "lat", "reported_at")
            if c in frame.columns]
    result = pd.concat([frame[keep], pd.concat(parts)], axis=1)
    result.to_csv(out, index=False, quoting=csv.QUOTE_MINIMAL)
    errors = int((result["error"] != "").sum())
    console.print(f"{n:,} tickets in {elapsed:.1f} s ({n / max(elapsed, 1e-9):,.0f}/s); "
                  f"{errors:,} could not be decided; decisions written to {out}",
                  highlight=False)
    counts = result.loc[result["error"] == "", "authority_kind"].value_counts()
    console.print("  " + ", ".join(f"{k}: {v:,}" for k, v in counts.items()), highlight=False)


# -- tickets ----------------------------------------------------------------------------------


@tickets_app.command("list")
def tickets_list(
    state: Annotated[str | None, typer.Option(help="Only this state.")] = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone code.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open tickets past their "
                                          "deadline.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List tickets."""
    with cli_errors(TicketError, StoreError), open_store() as store:
        rows = list_tickets(store, state=state, zone=zone,
                            overdue_at=utcnow() if overdue else None)
    if as_json:
        sys.stdout.write(json.dumps([t.as_dict() for t in rows], ensure_ascii=False) + "\n")
        return
    now = datetime.now(UTC)
    table = Table("id", "source", "matter", "township", "state", "team", "due (Beijing)", "")
    for t in rows:
        due = t.sla_due_at.astimezone(OFFICE_TZ).strftime("%Y-%m-%d %H:%M") if t.sla_due_at else ""
        table.add_row(str(t.id), t.source, t.matter_code or "", t.township or "", t.state,
                      t.team_id or "", due, "[red]overdue[/]" if t.is_overdue(now) else "")
    console.print(table)


@tickets_app.command("show")
def tickets_show(ticket_id: int) -> None:
    """Show one ticket as JSON."""
    with cli_errors(TicketError, NotFound, StoreError), open_store() as store:
        t = get_ticket(store, ticket_id)
    sys.stdout.write(json.dumps(t.as_dict(), ensure_ascii=False, indent=2) + "\n")


@tickets_app.command("move")
def tickets_move(
    ticket_id: int,
    to_state: Annotated[str, typer.Argument(help="Target state.")],
    actor: Annotated[str, typer.Option(help="Who makes the change.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    team: Annotated[str | None, typer.Option(help="Team id, to assign.")] = None,
    version: Annotated[int | None, typer.Option(help="The version you read.")] = None,
) -> None:
    """Move a ticket to another state (assigning needs --team and --version)."""
    with cli_errors(TicketError, NotFound, StoreError), open_store() as store:
        if to_state == "assigned":
            if team is None or version is None:
                fail("--team and --version are required to assign")
            t = assign(store, ticket_id, team, actor, version, reason=reason or None)
        else:
            t = transition(store, ticket_id, to_state, actor, reason, None, version)
    console.print(f"ticket {t.id}: {t.state} (version {t.version})")
