"""The ``whistle`` command: the one entry point for people and scripts.

Each command group lives in its own module under :mod:`web.commands`; this module only
assembles them. Errors are printed as one clear line naming the field and the reason, with a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import typer

from web.commands import (
    audit,
    boundaries,
    catalog,
    dispatch,
    draw,
    locate,
    network,
    plan,
    plan_calendar,
    plan_daily,
    planner_data,
    serve,
    teams,
)

app = typer.Typer(
    name="whistle",
    help="Whistle: geospatial dispatch and patrol planning for township enforcement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("locate")(locate.locate)
app.add_typer(boundaries.app, name="boundaries")
app.add_typer(network.app, name="network")
app.add_typer(catalog.app, name="catalog")
app.add_typer(teams.app, name="teams")
app.command("dispatch")(dispatch.dispatch)
app.command("replay")(dispatch.replay)
app.add_typer(dispatch.tickets_app, name="tickets")
app.add_typer(audit.app, name="audit")
app.add_typer(planner_data.app, name="planner-data")
plan.app.command("calendar")(plan_calendar.calendar)
plan.app.command("routes")(plan_daily.routes)
plan.app.command("insert")(plan_daily.insert)
plan.app.add_typer(draw.app, name="draw")
app.add_typer(plan.app, name="plan")
app.command("serve")(serve.serve)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
