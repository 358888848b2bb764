"""``whistle plan calendar``: the zone's inspection calendar with joint visits (综合查一次)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from planner.calendar import plan_zone
from planner.calendar_result import write_public_csv, write_public_xlsx
from planner.items import PlannerDataError
from planner.joint import CalendarInputError, CalendarOptions
from web.commands._errors import cli_errors, err_console, fail

console = Console()


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{name}: {text!r} is not a date (YYYY-MM-DD)")
        raise  # unreachable: fail exits


def calendar(
    zone: Annotated[str, typer.Option("--zone", help="Zone name or code, e.g. 天马片区.")],
    from_: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    to: Annotated[str, typer.Option("--to", help="Day after the last (YYYY-MM-DD), e.g. the "
                                    "next quarter's first day.")],
    time_limit: Annotated[float, typer.Option("--time-limit", min=1.0,
                                              help="CP-SAT budget, seconds.")] = 50.0,
    out: Annotated[Path | None, typer.Option("--out", help="Write the full plan as JSON "
                                             "(input for `whistle plan routes`).")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Public joint-inspection plan, CSV "
                                             "(no officers' personal data).")] = None,
    xlsx: Annotated[Path | None, typer.Option("--xlsx", help="The same as XLSX.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    night_crews: Annotated[int, typer.Option("--night-crews", min=0, max=10,
                                             help="Crews a team may send on a working day's "
                                             "night duty (夜查); 0: none.")] = 1,
) -> None:
    """Plan which working day each required inspection happens, joining departments' checks."""
    start, end = _day(from_, "--from"), _day(to, "--to")
    if end <= start:
        fail(f"--to: {to} must be after --from {from_}")
    with cli_errors(CalendarInputError, PlannerDataError, ValueError), \
            err_console.status(f"planning {zone} {start} → {end} (CP-SAT, up to "
                               f"{time_limit:g} s per month block)…"):
        plan = plan_zone(zone, start, end, CalendarOptions(time_limit_s=time_limit,
                                                           night_crews=night_crews))
    for path, write in ((csv, write_public_csv), (xlsx, write_public_xlsx)):
        if path is not None:
            write(plan, path)
            err_console.print(f"written {path}", highlight=False)
    if out is not None:
        out.write_text(json.dumps(plan.as_dict(), ensure_ascii=False), encoding="utf-8")
        err_console.print(f"written {out}", highlight=False)
    if as_json:
        sys.stdout.write(json.dumps(plan.as_dict(), ensure_ascii=False) + "\n")
        return
    m, s = plan.metrics, plan.summary()
    table = Table("", "Whistle (joint)", "each department alone",
                  title=f"{plan.zone} {plan.start} → {plan.end}: {s['objects']} objects, "
                        f"{s['working_days']} working days")
    table.add_row("visits", str(m["visits"]["whistle"]), str(m["visits"]["baseline"]))
    table.add_row("visits per object", str(m["visits_per_object"]["whistle"]),
                  str(m["visits_per_object"]["baseline"]))
    table.add_row("anti-repeat violations", str(m["anti_repeat_violations"]["whistle"]),
                  str(m["anti_repeat_violations"]["baseline"]))
    table.add_row("checks not placed", str(m["checks_unplaced"]["whistle"]),
                  str(m["checks_unplaced"]["baseline"]))
    table.add_row("of the visits, night duty (夜查)", str(s["night_visits"]), "")
    console.print(table)
    st = plan.solver
    console.print(f"{m['reduction']:.1%} fewer visits; {m['joint_visits']} joint visits; "
                  f"solver {st.status}, gap {st.gap if st.gap is not None else float('nan'):.3%}, "
                  f"{st.wall_s:.1f} s; travel {plan.travel.get('eta_source')}", highlight=False)
    reasons: dict[str, int] = {}
    for u in plan.unplaced:
        reasons[u.reason] = reasons.get(u.reason, 0) + 1
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:8]:
        console.print(f"  not placed ×{n}: {reason}", highlight=False, style="yellow")
