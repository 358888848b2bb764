"""``whistle audit``: check the tamper-evident audit log of tickets and whistle summons."""

from __future__ import annotations

import json

import typer

from dispatch.tickets.errors import TicketError
from dispatch.tickets.service import verify_audit
from geo.store import StoreError, open_store
from web.commands._errors import cli_errors, fail

app = typer.Typer(help="The audit log (全过程记录): every recorded event, hash-chained.",
                  no_args_is_help=True)


def _anchor(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, sep, digest = value.partition(":")
    if not sep or not seq.isdigit() or int(seq) < 1 or len(digest) != 64:
        fail(f"--anchor: {value!r} is not SEQ:HASH (an entry number and its 64-hex-digit hash, "
             "as printed by an earlier verify)")
    return int(seq), digest.lower()


@app.command("verify")
def verify(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    anchor: str | None = typer.Option(
        None, "--anchor", help="SEQ:HASH of a head recorded earlier: also check that the chain "
                               "still holds it (detects cut-off or rewritten newest entries)."),
) -> None:
    """Walk the audit chain and report the first broken link.

    Exit 0 with "ok, N entries" when every entry is intact and the stored tickets and
    summonses match what the log records; exit 1 naming the first broken entry otherwise.
    """
    wanted = _anchor(anchor)
    with cli_errors(StoreError, TicketError), open_store() as store:
        report = verify_audit(store, wanted)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        raise typer.Exit(0 if report.ok else 1)
    if report.problem is not None:
        fail(report.summary(), code=1)
    typer.echo(f"ok, {report.entries} entries")
    if report.entries:  # plain echo: a wrapped hash could not be pasted back as --anchor
        typer.echo(f"head {report.head_seq}:{report.head_hash}")
