"""``whistle plan``: route planning from the command line.

``whistle plan vrptw FILE`` solves a Solomon / Gehring-Homberger VRPTW instance with the
routing core and prints the vehicles used, the total distance and the routes (customer
numbers as in the file), after checking the plan independently of the solver. Progress of
long solves goes to stderr, so ``--json`` output on stdout stays clean.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from planner.model import ProblemError
from planner.routes import Progress, solve, warm_up
from planner.solomon import read_problem
from web.commands._errors import cli_errors, err_console, fail

app = typer.Typer(help="Route planning: solve vehicle routing problems.", no_args_is_help=True)


def _progress_printer(enabled: bool):
    def show(event: Progress) -> None:
        if enabled and (event.elapsed_s >= 1.0 or event.phase == "done"):
            err_console.print(f"  {event.elapsed_s:6.1f} s  {event.phase:8s} best {event.cost:.2f}",
                              highlight=False)

    return show


@app.command("vrptw")
def vrptw(
    file: Path = typer.Argument(..., help="Instance in Solomon text format."),
    time_limit: float = typer.Option(10.0, "--time-limit", min=0.1,
                                     help="Solve time budget in seconds."),
    seed: int = typer.Option(0, "--seed", help="Seed of the randomised improvement phase."),
    objective: str = typer.Option(
        "distance", "--objective",
        help="distance: total distance, free fleet; hierarchical: fewest vehicles, then "
        "distance."),
    workers: int = typer.Option(
        1, "--workers", min=1,
        help="Parallel improvement chains, one core each; the best plan wins."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
) -> None:
    """Solve the VRPTW instance FILE (the file's vehicle number caps the fleet).

    Exits 0 with a feasible plan, 1 if the plan breaks a rule (listed on stderr), 2 if the file
    cannot be read.
    """
    with cli_errors(ProblemError):
        problem = read_problem(file, objective=objective)
    started = time.perf_counter()
    warm_up()  # loads the compiled improver (the first run after an install compiles it)
    if not quiet and time.perf_counter() - started > 2.0:
        err_console.print(f"compiled the route improver in {time.perf_counter() - started:.0f} s "
                          "(once per install)", highlight=False)
    if not quiet:
        err_console.print(f"solving {problem.name}: {problem.n_clients} customers, "
                          f"{problem.n_vehicles} vehicles available, {time_limit:g} s"
                          + (f", {workers} chains" if workers > 1 else ""),
                          highlight=False)
    result = solve(problem, time_limit, seed=seed, workers=workers,
                   progress=_progress_printer(not quiet))
    number = [cl.location for cl in problem.clients]  # customer number in the file
    routes = [[number[c] for c in r.clients] for r in result.routes]
    if as_json:
        out = result.to_dict()
        for r, customers in zip(out["routes"], routes, strict=True):
            r["customers"] = customers
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
    else:
        typer.echo(f"{problem.name}: {'feasible' if result.is_feasible() else 'INFEASIBLE'}")
        typer.echo(f"vehicles {result.n_vehicles}")
        typer.echo(f"distance {result.distance:.2f}")
        for k, customers in enumerate(routes, start=1):
            typer.echo(f"Route #{k}: {' '.join(map(str, customers))}")
    if not result.is_feasible():
        shown = "; ".join(v.message for v in result.violations[:5])
        fail(f"the plan breaks {len(result.violations)} rule(s): {shown}", code=1)
