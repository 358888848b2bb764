"""The audit chain is tamper-evident: any altered, removed or unlogged change is found."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dispatch.tickets import (
    SummonsDraft,
    TicketDraft,
    assign,
    create_summons,
    create_ticket,
    events,
    report_in,
    transition,
    verify_audit,
)
from dispatch.tickets.audit import GENESIS, ChainVerifier, entry_hash
from dispatch.tickets.models import AuditEntry
from geo.store import Store
from web.commands import audit as audit_cmd

BJ = timezone(timedelta(hours=8))


def _draft(n: int) -> TicketDraft:
    return TicketDraft(source="grid", external_id=f"G-{n}", district="changshan",
                       matter_code="HJ003", lon=118.52 + n * 0.01, lat=28.90, zone="Z1",
                       actor=f"grid-{n}", received_at=datetime(2025, 9, 30, 10, n, tzinfo=BJ))


def _history(store: Store) -> None:
    """Three tickets and a summons: 8 entries, ticket 2's events in the middle of the chain."""
    for n in (1, 2, 3):
        create_ticket(store, _draft(n))                                       # seq 1, 2, 3
    t = assign(store, 1, "CS01-zf", "d-01", 1)                                # 4
    transition(store, 2, "rejected", "d-01", "不属于执法事项")                   # 5
    transition(store, t.id, "accepted", "o-11", "接单")                         # 6
    s = create_summons(store, SummonsDraft(district="changshan", township="CS01",
                                           departments=["scjg"], description="联合整治",
                                           raised_by="CS01-platform"))          # 7
    report_in(store, s.id, "scjg", "scjg-01")                                 # 8


@contextmanager
def _unguarded(store: Store) -> Iterator[Any]:
    """A cursor that can rewrite the audit table: what someone with the database's owner
    rights could do after switching the append-only triggers off."""
    with store.transaction() as cur:
        if store.dialect == "sqlite":
            cur.execute("DROP TRIGGER dispatch_audit_no_update")
            cur.execute("DROP TRIGGER dispatch_audit_no_delete")
        else:
            cur.execute("ALTER TABLE dispatch_audit DISABLE TRIGGER USER")
        yield cur
        if store.dialect != "sqlite":
            cur.execute("ALTER TABLE dispatch_audit ENABLE TRIGGER USER")


# -- the hash format is reproducible from its documentation -------------------------------------


def test_hash_is_sha256_of_the_documented_canonical_json() -> None:
    t = datetime(2025, 9, 30, 2, 0, 0, 123456, tzinfo=UTC)
    e = AuditEntry(seq=1, entity="ticket", entity_id=5, action="transition",
                   from_state="received", to_state="assigned", actor="d-01", actor_role=None,
                   reason="派单", occurred_at=t, recorded_at=t + timedelta(seconds=1),
                   data={"team_id": "CS01-zf", "n": 2}, prev_hash=GENESIS, hash="")
    # Written out by hand from the format in dispatch/tickets/audit.py.
    text = ('{"action":"transition","actor":"d-01","actor_role":null,'
            '"data":{"n":2,"team_id":"CS01-zf"},"entity":"ticket","entity_id":5,'
            '"from_state":"received","occurred_at":"2025-09-30T02:00:00.123456Z",'
            '"prev_hash":"' + "0" * 64 + '","reason":"派单",'
            '"recorded_at":"2025-09-30T02:00:01.123456Z","seq":1,"to_state":"assigned"}')
    assert entry_hash(e) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_stored_entries_rehash_to_their_stored_hash(store: Store) -> None:
    _history(store)
    log = events(store, 1)
    assert all(entry_hash(e) == e.hash for e in log)
    assert log[0].prev_hash == GENESIS
    assert log[1].prev_hash != log[0].hash  # tickets interleave: the chain is global


# -- verify on both backends -------------------------------------------------------------------


def test_intact_log_verifies(store: Store) -> None:
    assert verify_audit(store).summary().startswith("ok, 0 entries")
    _history(store)
    report = verify_audit(store)
    assert report.ok, report.problem
    assert (report.entries, report.head_seq) == (8, 8)
    assert report.summary().startswith("ok, 8 entries (head 8:")
    with store.transaction() as cur:  # one server clock under one lock: never goes back
        cur.execute("SELECT recorded_at FROM dispatch_audit ORDER BY seq")
        times = [r[0] for r in cur.fetchall()]
    assert times == sorted(times)


def test_altered_entry_is_found_at_its_seq(store: Store) -> None:
    _history(store)
    with _unguarded(store) as cur:
        cur.execute("UPDATE dispatch_audit SET reason = '事后补记' WHERE seq = 5")
    report = verify_audit(store)
    assert not report.ok and report.entries == 4
    p = report.problem
    assert (p.kind, p.seq, p.entity, p.entity_id) == ("hash", 5, "ticket", 2)
    assert "entry 5 (ticket 2, transition): content does not match its hash" in p.message


def test_altered_time_is_found(store: Store) -> None:
    _history(store)
    with _unguarded(store) as cur:
        value = ("'2025-09-30T01:00:00.000000Z'" if store.dialect == "sqlite"
                 else "'2025-09-30T01:00:00Z'")
        cur.execute(f"UPDATE dispatch_audit SET occurred_at = {value} WHERE seq = 6")
    assert (verify_audit(store).problem.kind, verify_audit(store).problem.seq) == ("hash", 6)


def test_deleted_entry_leaves_a_gap(store: Store) -> None:
    _history(store)
    with _unguarded(store) as cur:
        cur.execute("DELETE FROM dispatch_audit WHERE seq = 4")
    p = verify_audit(store).problem
    assert (p.kind, p.seq) == ("gap", 5)
    assert "entries 4–4 are missing" in p.message


def test_deleting_a_whole_ticket_with_its_events_is_found(store: Store) -> None:
    _history(store)
    with _unguarded(store) as cur:
        cur.execute("DELETE FROM dispatch_audit WHERE entity = 'ticket' AND entity_id = 2")
        cur.execute("DELETE FROM dispatch_ticket WHERE id = 2")
    p = verify_audit(store).problem
    assert (p.kind, p.seq) == ("gap", 3)


def test_rehashed_rewrite_breaks_the_next_link(store: Store) -> None:
    _history(store)
    entry = events(store, 2)[0]
    forged = AuditEntry(**{**entry.__dict__, "reason": "伪造", "hash": ""})
    with _unguarded(store) as cur:
        cur.execute(f"UPDATE dispatch_audit SET reason = '伪造', hash = '{entry_hash(forged)}' "
                    f"WHERE seq = {entry.seq}")
    p = verify_audit(store).problem
    assert (p.kind, p.seq) == ("prev_hash", entry.seq + 1)


def test_state_changed_behind_the_logs_back_is_found(store: Store) -> None:
    _history(store)
    with store.transaction() as cur:
        cur.execute("UPDATE dispatch_ticket SET state = 'closed' WHERE id = 3")
    p = verify_audit(store).problem
    assert (p.kind, p.entity, p.entity_id) == ("state", "ticket", 3)
    assert "ticket 3 is stored as 'closed' but the audit log ends at 'received'" in p.message


def test_department_state_changed_behind_the_logs_back_is_found(store: Store) -> None:
    _history(store)
    with store.transaction() as cur:
        cur.execute("UPDATE dispatch_summons_department SET state = 'acted'")
    p = verify_audit(store).problem
    assert (p.kind, p.entity, p.entity_id) == ("state", "summons", 1)
    assert "department scjg of summons 1" in p.message


def test_ticket_inserted_without_the_log_is_found(store: Store) -> None:
    _history(store)
    with store.transaction() as cur:
        cur.execute("INSERT INTO dispatch_ticket (source, district, lon, lat, received_at, "
                    "state, version, major, description, facts, created_at, updated_at) "
                    "SELECT source, district, lon, lat, received_at, 'received', 1, major, "
                    "description, facts, created_at, updated_at FROM dispatch_ticket "
                    "WHERE id = 1")
    p = verify_audit(store).problem
    assert (p.kind, p.entity_id) == ("unrecorded", 4)


def test_cut_newest_entries_show_only_against_an_anchor(store: Store) -> None:
    _history(store)
    head = verify_audit(store)
    anchor = (head.head_seq, head.head_hash)
    with _unguarded(store) as cur:
        cur.execute("DELETE FROM dispatch_audit WHERE seq >= 7")
        cur.execute("DELETE FROM dispatch_summons_department")
        cur.execute("DELETE FROM dispatch_summons")
    assert verify_audit(store).ok  # a consistent cut of the tail is invisible from inside
    p = verify_audit(store, anchor).problem
    assert p.kind == "anchor" and "chain ends at entry 6 but the recorded anchor is entry 8" \
        in p.message


def test_verifier_feeds_in_batches_of_any_size(store: Store,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import dispatch.tickets.service as service

    _history(store)
    monkeypatch.setattr(service, "VERIFY_BATCH", 3)
    assert verify_audit(store).entries == 8
    with _unguarded(store) as cur:
        cur.execute("UPDATE dispatch_audit SET actor = 'x' WHERE seq = 7")
    assert verify_audit(store).problem.seq == 7


def test_verifier_rejects_a_sequence_going_backwards() -> None:
    t = datetime(2025, 9, 30, tzinfo=UTC)
    e = AuditEntry(1, "ticket", 1, "create", None, "received", "a", None, "r", t, t, {},
                   GENESIS, "")
    e = AuditEntry(**{**e.__dict__, "hash": entry_hash(e)})
    v = ChainVerifier()
    assert v.feed(e)
    assert not v.feed(e)
    assert v.problem.kind == "gap" and "goes back from 1 to 1" in v.problem.message


# -- whistle audit verify -------------------------------------------------------------------------


def _cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(audit_cmd.app, name="audit")  # as web/cli.py registers command groups
    return root


def test_cli_verify_ok_and_broken(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHISTLE_DATABASE_URL", store.url)
    _history(store)
    res = CliRunner().invoke(_cli(), ["audit", "verify"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("ok, 8 entries\nhead 8:")
    head = res.stdout.split("head ")[1].strip()
    res = CliRunner().invoke(_cli(), ["audit", "verify", "--json", "--anchor", head])
    assert res.exit_code == 0 and json.loads(res.stdout)["entries"] == 8
    with _unguarded(store) as cur:
        cur.execute("UPDATE dispatch_audit SET reason = 'x' WHERE seq = 3")
    res = CliRunner().invoke(_cli(), ["audit", "verify"])
    assert res.exit_code == 1
    assert "audit log broken: entry 3 (ticket 3, create)" in res.stderr
    assert "Traceback" not in res.output
    res = CliRunner().invoke(_cli(), ["audit", "verify", "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["problem"]["seq"] == 3


def test_cli_refuses_a_malformed_anchor(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHISTLE_DATABASE_URL", store.url)
    res = CliRunner().invoke(_cli(), ["audit", "verify", "--anchor", "8:abc"])
    assert res.exit_code == 2 and "--anchor: '8:abc' is not SEQ:HASH" in res.stderr
