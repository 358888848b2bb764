"""Tickets, summons and the audit chain in SQL, for both backends (component ``dispatch``).

All SQL of the ticket layer lives here. It is written once with ``?`` placeholders and runs on
SQLite and PostGIS alike through the store's own ``transaction()``; the differences are
confined to the migration statements and to how a time or a JSON value crosses the driver
(SQLite keeps times as fixed-width UTC text ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, which sorts and
compares like the time; PostGIS uses ``timestamptz`` and ``json``).

Concurrency: every write operation first takes the audit chain's lock (``LOCK TABLE ... IN
EXCLUSIVE MODE`` on PostGIS, which still lets readers through; the write lock that ``BEGIN
IMMEDIATE`` takes on SQLite), so appends form one total order and no two writers read the same
chain head. Ticket updates are additionally conditional on the version the caller read
(``UPDATE ... WHERE id = ? AND version = ?``), which is what turns a stale dispatcher's second
assignment into a conflict.

Clock: ``recorded_at`` (and the time of an event given without one) is read under that lock
from the database server on PostGIS (``clock_timestamp()``), so several application servers
share one clock and their skew cannot make a correct event look back-filled; SQLite has no
server and uses the process clock.
"""

from __future__ import annotations

import json
import math
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from dispatch.tickets.audit import GENESIS, TIME_FORMAT, canonical_json, digest, hashed_fields
from dispatch.tickets.models import (
    AuditEntry,
    Authority,
    DuplicateLink,
    SummonedDepartment,
    Ticket,
    TicketDraft,
    WhistleSummons,
)
from dispatch.tickets.transitions import OPEN_STATES, LegalReview
from dispatch.tickets.validation import utcnow
from geo.store._sql import Cursor, SQLStore
from geo.store.base import Store
from geo.store.migrations import Migration, register

# -- schema --------------------------------------------------------------------------------
#
# Enumerations (states, sources) are checked in Python, not by CHECK constraints, so adding a
# state does not need a table rebuild on SQLite. The audit table refuses UPDATE and DELETE by
# trigger on both backends: the log is append-only in the database, not only in the code.

_APPEND_ONLY_MSG = "dispatch_audit is append-only"

_V1_SQLITE = (
    """CREATE TABLE dispatch_ticket (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        source           TEXT    NOT NULL,
        external_id      TEXT,
        district         TEXT    NOT NULL,
        matter_code      TEXT,
        lon              REAL    NOT NULL CHECK (lon BETWEEN -180 AND 180),
        lat              REAL    NOT NULL CHECK (lat BETWEEN -90 AND 90),
        township         TEXT,
        zone             TEXT,
        reported_at      TEXT,
        received_at      TEXT    NOT NULL,
        state            TEXT    NOT NULL,
        version          INTEGER NOT NULL CHECK (version >= 1),
        authority_kind   TEXT,
        authority_holder TEXT,
        authority        TEXT,
        team_id          TEXT,
        major            INTEGER NOT NULL CHECK (major IN (0, 1)),
        sla_due_at       TEXT,
        sla_rule         TEXT,
        duplicate_of     INTEGER REFERENCES dispatch_ticket (id),
        description      TEXT    NOT NULL,
        facts            TEXT    NOT NULL,
        legal_review     TEXT,
        created_at       TEXT    NOT NULL,
        updated_at       TEXT    NOT NULL,
        UNIQUE (source, external_id),
        CHECK (duplicate_of IS NULL OR duplicate_of <> id)
    )""",
    "CREATE INDEX dispatch_ticket_state ON dispatch_ticket (state, sla_due_at)",
    "CREATE INDEX dispatch_ticket_zone ON dispatch_ticket (zone, state)",
    "CREATE INDEX dispatch_ticket_overdue ON dispatch_ticket (sla_due_at)",
    "CREATE INDEX dispatch_ticket_matter ON dispatch_ticket (district, matter_code, received_at)",
    """CREATE TABLE dispatch_ticket_link (
        ticket_id  INTEGER NOT NULL REFERENCES dispatch_ticket (id),
        other_id   INTEGER NOT NULL REFERENCES dispatch_ticket (id),
        kind       TEXT    NOT NULL,
        distance_m REAL    NOT NULL CHECK (distance_m >= 0),
        created_at TEXT    NOT NULL,
        PRIMARY KEY (ticket_id, other_id, kind),
        CHECK (ticket_id <> other_id)
    )""",
    "CREATE INDEX dispatch_ticket_link_other ON dispatch_ticket_link (other_id)",
    """CREATE TABLE dispatch_audit (
        seq         INTEGER PRIMARY KEY CHECK (seq >= 1),
        entity      TEXT    NOT NULL,
        entity_id   INTEGER NOT NULL,
        action      TEXT    NOT NULL,
        from_state  TEXT,
        to_state    TEXT,
        actor       TEXT    NOT NULL,
        actor_role  TEXT,
        reason      TEXT    NOT NULL,
        occurred_at TEXT    NOT NULL,
        recorded_at TEXT    NOT NULL,
        data        TEXT    NOT NULL,
        prev_hash   TEXT    NOT NULL UNIQUE,
        hash        TEXT    NOT NULL UNIQUE
    )""",
    "CREATE INDEX dispatch_audit_entity ON dispatch_audit (entity, entity_id, seq)",
    f"""CREATE TRIGGER dispatch_audit_no_update BEFORE UPDATE ON dispatch_audit
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MSG}: UPDATE refused'); END""",
    f"""CREATE TRIGGER dispatch_audit_no_delete BEFORE DELETE ON dispatch_audit
        BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY_MSG}: DELETE refused'); END""",
    """CREATE TABLE dispatch_summons (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        district    TEXT    NOT NULL,
        township    TEXT    NOT NULL,
        zone        TEXT,
        ticket_id   INTEGER REFERENCES dispatch_ticket (id),
        description TEXT    NOT NULL,
        lon         REAL CHECK (lon BETWEEN -180 AND 180),
        lat         REAL CHECK (lat BETWEEN -90 AND 90),
        raised_by   TEXT    NOT NULL,
        raised_at   TEXT    NOT NULL,
        state       TEXT    NOT NULL,
        version     INTEGER NOT NULL CHECK (version >= 1),
        closed_at   TEXT
    )""",
    "CREATE INDEX dispatch_summons_state ON dispatch_summons (state)",
    """CREATE TABLE dispatch_summons_department (
        summons_id    INTEGER NOT NULL REFERENCES dispatch_summons (id),
        department    TEXT    NOT NULL,
        position      INTEGER NOT NULL,
        state         TEXT    NOT NULL,
        report_due_at TEXT    NOT NULL,
        reported_at   TEXT,
        reported_by   TEXT,
        acted_at      TEXT,
        acted_by      TEXT,
        note          TEXT    NOT NULL,
        PRIMARY KEY (summons_id, department)
    )""",
    "CREATE INDEX dispatch_summons_due ON dispatch_summons_department (state, report_due_at)",
)

_V1_POSTGIS = (
    """CREATE TABLE dispatch_ticket (
        id               bigint  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        source           text    NOT NULL,
        external_id      text,
        district         text    NOT NULL,
        matter_code      text,
        lon              double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
        lat              double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
        township         text,
        zone             text,
        reported_at      timestamptz,
        received_at      timestamptz NOT NULL,
        state            text    NOT NULL,
        version          integer NOT NULL CHECK (version >= 1),
        authority_kind   text,
        authority_holder text,
        authority        json,
        team_id          text,
        major            boolean NOT NULL,
        sla_due_at       timestamptz,
        sla_rule         text,
        duplicate_of     bigint  REFERENCES dispatch_ticket (id),
        description      text    NOT NULL,
        facts            json    NOT NULL,
        legal_review     json,
        created_at       timestamptz NOT NULL,
        updated_at       timestamptz NOT NULL,
        UNIQUE (source, external_id),
        CHECK (duplicate_of IS NULL OR duplicate_of <> id)
    )""",
    "CREATE INDEX dispatch_ticket_state ON dispatch_ticket (state, sla_due_at)",
    "CREATE INDEX dispatch_ticket_zone ON dispatch_ticket (zone, state)",
    "CREATE INDEX dispatch_ticket_overdue ON dispatch_ticket (sla_due_at)",
    "CREATE INDEX dispatch_ticket_matter ON dispatch_ticket (district, matter_code, received_at)",
    """CREATE TABLE dispatch_ticket_link (
        ticket_id  bigint NOT NULL REFERENCES dispatch_ticket (id),
        other_id   bigint NOT NULL REFERENCES dispatch_ticket (id),
        kind       text   NOT NULL,
        distance_m double precision NOT NULL CHECK (distance_m >= 0),
        created_at timestamptz NOT NULL,
        PRIMARY KEY (ticket_id, other_id, kind),
        CHECK (ticket_id <> other_id)
    )""",
    "CREATE INDEX dispatch_ticket_link_other ON dispatch_ticket_link (other_id)",
    """CREATE TABLE dispatch_audit (
        seq         bigint  PRIMARY KEY CHECK (seq >= 1),
        entity      text    NOT NULL,
        entity_id   bigint  NOT NULL,
        action      text    NOT NULL,
        from_state  text,
        to_state    text,
        actor       text    NOT NULL,
        actor_role  text,
        reason      text    NOT NULL,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL,
        data        json    NOT NULL,
        prev_hash   text    NOT NULL UNIQUE,
        hash        text    NOT NULL UNIQUE
    )""",
    "CREATE INDEX dispatch_audit_entity ON dispatch_audit (entity, entity_id, seq)",
    f"""CREATE OR REPLACE FUNCTION dispatch_audit_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{_APPEND_ONLY_MSG}: % refused', TG_OP;
        END $$""",
    """CREATE TRIGGER dispatch_audit_append_only BEFORE UPDATE OR DELETE ON dispatch_audit
        FOR EACH ROW EXECUTE FUNCTION dispatch_audit_append_only()""",
    """CREATE TRIGGER dispatch_audit_no_truncate BEFORE TRUNCATE ON dispatch_audit
        FOR EACH STATEMENT EXECUTE FUNCTION dispatch_audit_append_only()""",
    """CREATE TABLE dispatch_summons (
        id          bigint  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        district    text    NOT NULL,
        township    text    NOT NULL,
        zone        text,
        ticket_id   bigint  REFERENCES dispatch_ticket (id),
        description text    NOT NULL,
        lon         double precision CHECK (lon BETWEEN -180 AND 180),
        lat         double precision CHECK (lat BETWEEN -90 AND 90),
        raised_by   text    NOT NULL,
        raised_at   timestamptz NOT NULL,
        state       text    NOT NULL,
        version     integer NOT NULL CHECK (version >= 1),
        closed_at   timestamptz
    )""",
    "CREATE INDEX dispatch_summons_state ON dispatch_summons (state)",
    """CREATE TABLE dispatch_summons_department (
        summons_id    bigint  NOT NULL REFERENCES dispatch_summons (id),
        department    text    NOT NULL,
        position      integer NOT NULL,
        state         text    NOT NULL,
        report_due_at timestamptz NOT NULL,
        reported_at   timestamptz,
        reported_by   text,
        acted_at      timestamptz,
        acted_by      text,
        note          text    NOT NULL,
        PRIMARY KEY (summons_id, department)
    )""",
    "CREATE INDEX dispatch_summons_due ON dispatch_summons_department (state, report_due_at)",
)

DISPATCH_MIGRATIONS: tuple[Migration, ...] = (
    Migration("dispatch", 1, "tickets, duplicate links, audit chain and whistle summons",
              sqlite=_V1_SQLITE, postgis=_V1_POSTGIS),
)
register(DISPATCH_MIGRATIONS)

_TICKET_COLS = (
    "id, source, external_id, district, matter_code, lon, lat, township, zone, reported_at, "
    "received_at, state, version, {authority}, team_id, major, sla_due_at, sla_rule, "
    "duplicate_of, description, {facts}, {legal_review}, created_at, updated_at")
_AUDIT_COLS = ("seq, entity, entity_id, action, from_state, to_state, actor, actor_role, reason, "
               "occurred_at, recorded_at, {data}, prev_hash, hash")
_DEPT_COLS = ("summons_id, department, state, report_due_at, reported_at, reported_by, "
              "acted_at, acted_by, note")
_SUMMONS_COLS = ("id, district, township, zone, ticket_id, description, lon, lat, raised_by, "
                 "raised_at, state, version, closed_at")
_BATCH = 500  # ids per IN (...) list


def sql_store(store: Store) -> SQLStore:
    """``store`` if it is one of the SQL backends, else TypeError."""
    if not isinstance(store, SQLStore):
        raise TypeError(f"store: {type(store).__name__} does not hold dispatch records "
                        "(expected a SQLite or PostGIS store)")
    return store


class DispatchDb:
    """The dispatch tables inside one open transaction of a SQL store."""

    def __init__(self, store: SQLStore, cur: Cursor):
        self.store = store
        self.cur = cur
        self.sqlite = store.dialect == "sqlite"
        #: The server clock of this transaction (set by :func:`writing`, under the lock).
        self.now = utcnow()

    def server_now(self) -> datetime:
        """The database server's clock on PostGIS (one clock for every app server, so their
        skew cannot reorder events); the process clock on SQLite, which has no server."""
        if self.sqlite:
            return utcnow()
        self.cur.execute("SELECT clock_timestamp()")
        return self.cur.fetchone()[0].astimezone(UTC)

    # -- values crossing the driver ----------------------------------------------------------

    def q(self, sql: str) -> str:
        """Shared SQL is written with ``?`` placeholders (and uses ``?`` for nothing else)."""
        return sql.replace("?", self.store.placeholder)

    def t_in(self, t: datetime | None) -> Any:
        if t is None:
            return None
        return t.astimezone(UTC).strftime(TIME_FORMAT) if self.sqlite else t.astimezone(UTC)

    @staticmethod
    def t_out(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, str):
            return datetime.strptime(v, TIME_FORMAT).replace(tzinfo=UTC)
        return v.astimezone(UTC)

    @staticmethod
    def j_in(value: Any) -> str | None:
        return None if value is None else canonical_json(value)

    @staticmethod
    def j_out(v: Any) -> Any:
        return None if v is None else json.loads(v)

    def _cols(self, template: str) -> str:
        jo = self.store.json_out
        return template.format(authority=jo("authority"), facts=jo("facts"),
                               legal_review=jo("legal_review"), data=jo("data"))

    def _ids_in(self, ids: Sequence[int]) -> Iterator[tuple[str, list[int]]]:
        for i in range(0, len(ids), _BATCH):
            chunk = list(ids[i:i + _BATCH])
            yield "(" + ", ".join("?" * len(chunk)) + ")", chunk

    # -- the audit chain ---------------------------------------------------------------------

    def lock_chain(self) -> None:
        """Make this transaction the only appender until it ends (see the module docstring)."""
        if not self.sqlite:
            self.cur.execute("LOCK TABLE dispatch_audit IN EXCLUSIVE MODE")

    def chain_head(self) -> tuple[int, str]:
        self.cur.execute("SELECT seq, hash FROM dispatch_audit ORDER BY seq DESC LIMIT 1")
        row = self.cur.fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), row[1])

    def append(self, entity: str, entity_id: int, action: str, *, actor: str, reason: str,
               occurred_at: datetime, recorded_at: datetime, from_state: str | None = None,
               to_state: str | None = None, actor_role: str | None = None,
               data: Mapping[str, Any] | None = None) -> AuditEntry:
        """Append one entry after the current head; the caller holds the chain lock."""
        seq, prev = self.chain_head()
        seq += 1
        data = dict(data or {})
        h = digest(hashed_fields(seq, entity, entity_id, action, from_state, to_state, actor,
                                 actor_role, reason, occurred_at, recorded_at, data, prev))
        self.cur.execute(self.q(
            "INSERT INTO dispatch_audit (seq, entity, entity_id, action, from_state, to_state, "
            "actor, actor_role, reason, occurred_at, recorded_at, data, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            (seq, entity, entity_id, action, from_state, to_state, actor, actor_role, reason,
             self.t_in(occurred_at), self.t_in(recorded_at), self.j_in(data), prev, h))
        return AuditEntry(seq, entity, entity_id, action, from_state, to_state, actor,
                          actor_role, reason, occurred_at, recorded_at, data, prev, h)

    def _entry(self, r: Sequence[Any]) -> AuditEntry:
        return AuditEntry(seq=int(r[0]), entity=r[1], entity_id=int(r[2]), action=r[3],
                          from_state=r[4], to_state=r[5], actor=r[6], actor_role=r[7],
                          reason=r[8], occurred_at=self.t_out(r[9]),
                          recorded_at=self.t_out(r[10]), data=self.j_out(r[11]),
                          prev_hash=r[12], hash=r[13])

    def entries_after(self, seq: int, limit: int) -> list[AuditEntry]:
        """Up to ``limit`` entries with a larger ``seq``, in order (keyset paging)."""
        self.cur.execute(self.q(f"SELECT {self._cols(_AUDIT_COLS)} FROM dispatch_audit "
                                "WHERE seq > ? ORDER BY seq LIMIT ?"), (seq, limit))
        return [self._entry(r) for r in self.cur.fetchall()]

    def entity_entries(self, entity: str, entity_id: int) -> list[AuditEntry]:
        self.cur.execute(self.q(f"SELECT {self._cols(_AUDIT_COLS)} FROM dispatch_audit "
                                "WHERE entity = ? AND entity_id = ? ORDER BY seq"),
                         (entity, entity_id))
        return [self._entry(r) for r in self.cur.fetchall()]

    def last_event_time(self, entity: str, entity_id: int) -> datetime | None:
        self.cur.execute(self.q("SELECT occurred_at FROM dispatch_audit WHERE entity = ? AND "
                                "entity_id = ? ORDER BY seq DESC LIMIT 1"), (entity, entity_id))
        row = self.cur.fetchone()
        return None if row is None else self.t_out(row[0])

    def latest_legal_review(self, ticket_id: int) -> LegalReview | None:
        """The most recent legal review in the log (the log, not the ticket row, is authority)."""
        self.cur.execute(self.q(
            f"SELECT seq, actor, actor_role, occurred_at, {self.store.json_out('data')}, reason "
            "FROM dispatch_audit WHERE entity = 'ticket' AND entity_id = ? "
            "AND action = 'legal_review' ORDER BY seq DESC LIMIT 1"), (ticket_id,))
        row = self.cur.fetchone()
        if row is None:
            return None
        data = self.j_out(row[4])
        return LegalReview(seq=int(row[0]), reviewer=row[1], reviewer_role=row[2] or "",
                           outcome=data.get("outcome", ""), opinion=row[5],
                           at=self.t_out(row[3]))

    # -- tickets -----------------------------------------------------------------------------

    def ticket_id_by_external(self, source: str, external_id: str) -> int | None:
        self.cur.execute(self.q("SELECT id FROM dispatch_ticket WHERE source = ? AND "
                                "external_id = ?"), (source, external_id))
        row = self.cur.fetchone()
        return None if row is None else int(row[0])

    def insert_ticket(self, d: TicketDraft, sla_due_at: datetime | None, sla_rule: str | None,
                      now: datetime) -> int | None:
        """New ticket id, or None if ``(source, external_id)`` is already stored."""
        a = d.authority
        self.cur.execute(self.q(
            "INSERT INTO dispatch_ticket (source, external_id, district, matter_code, lon, lat, "
            "township, zone, reported_at, received_at, state, version, authority_kind, "
            "authority_holder, authority, team_id, major, sla_due_at, sla_rule, duplicate_of, "
            "description, facts, legal_review, created_at, updated_at) VALUES (?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, 'received', 1, ?, ?, ?, NULL, ?, ?, ?, NULL, ?, ?, NULL, ?, ?) "
            "ON CONFLICT (source, external_id) DO NOTHING RETURNING id"),
            (d.source, d.external_id, d.district, d.matter_code, d.lon, d.lat, d.township,
             d.zone, self.t_in(d.reported_at), self.t_in(d.received_at),
             a.kind if a else None, a.holder if a else None,
             self.j_in(a.as_dict()) if a else None, d.major, self.t_in(sla_due_at), sla_rule,
             d.description, self.j_in(dict(d.facts)), self.t_in(now), self.t_in(now)))
        row = self.cur.fetchone()
        return None if row is None else int(row[0])

    def _ticket(self, r: Sequence[Any], links: tuple[DuplicateLink, ...]) -> Ticket:
        authority = self.j_out(r[13])
        review = self.j_out(r[21])
        return Ticket(
            id=int(r[0]), source=r[1], external_id=r[2], district=r[3], matter_code=r[4],
            lon=float(r[5]), lat=float(r[6]), township=r[7], zone=r[8],
            reported_at=self.t_out(r[9]), received_at=self.t_out(r[10]), state=r[11],
            version=int(r[12]),
            authority=Authority.from_dict(authority) if authority else None,
            team_id=r[14], major=bool(r[15]), sla_due_at=self.t_out(r[16]), sla_rule=r[17],
            duplicate_of=None if r[18] is None else int(r[18]), description=r[19],
            facts=self.j_out(r[20]),
            legal_review=None if review is None else LegalReview(
                seq=review["seq"], reviewer=review["reviewer"],
                reviewer_role=review["reviewer_role"], outcome=review["outcome"],
                opinion=review["opinion"], at=datetime.fromisoformat(review["at"])),
            created_at=self.t_out(r[22]), updated_at=self.t_out(r[23]), links=links)

    def ticket(self, ticket_id: int) -> Ticket | None:
        self.cur.execute(self.q(f"SELECT {self._cols(_TICKET_COLS)} FROM dispatch_ticket "
                                "WHERE id = ?"), (ticket_id,))
        row = self.cur.fetchone()
        if row is None:
            return None
        return self._ticket(row, self.links_for([ticket_id]).get(ticket_id, ()))

    def tickets(self, *, state: str | None = None, zone: str | None = None,
                district: str | None = None, overdue_at: datetime | None = None,
                after_id: int | None = None, limit: int | None = None) -> list[Ticket]:
        where, params = [], []
        for col, value in (("state", state), ("zone", zone), ("district", district)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        if overdue_at is not None:
            opens = sorted(OPEN_STATES)
            where.append("sla_due_at IS NOT NULL AND sla_due_at < ? AND state IN ("
                         + ", ".join("?" * len(opens)) + ")")
            params += [self.t_in(overdue_at), *opens]
        if after_id is not None:
            where.append("id > ?")
            params.append(after_id)
        sql = f"SELECT {self._cols(_TICKET_COLS)} FROM dispatch_ticket"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        self.cur.execute(self.q(sql), params)
        rows = self.cur.fetchall()
        links = self.links_for([int(r[0]) for r in rows])
        return [self._ticket(r, links.get(int(r[0]), ())) for r in rows]

    def update_ticket(self, ticket_id: int, version: int, changes: Mapping[str, Any],
                      now: datetime) -> bool:
        """Apply ``changes`` if the ticket is still at ``version``; bump it. False if not."""
        allowed = {"state", "team_id", "major", "duplicate_of", "legal_review"}
        bad = set(changes) - allowed
        if bad:
            raise ValueError(f"update_ticket: not updatable: {sorted(bad)}")
        sets, params = [], []
        for col, value in changes.items():
            sets.append(f"{col} = ?")
            params.append(self.j_in(value) if col == "legal_review" else value)
        sets += ["version = version + 1", "updated_at = ?"]
        params += [self.t_in(now), ticket_id, version]
        self.cur.execute(self.q(f"UPDATE dispatch_ticket SET {', '.join(sets)} "
                                "WHERE id = ? AND version = ?"), params)
        return self.cur.rowcount == 1

    def ticket_states(self) -> dict[tuple[Any, ...], str]:
        self.cur.execute("SELECT id, state FROM dispatch_ticket")
        return {("ticket", int(i)): s for i, s in self.cur.fetchall()}

    # -- likely duplicates -------------------------------------------------------------------

    def duplicate_candidates(self, district: str, matter_code: str, lon: float, lat: float,
                             radius_m: float, start: datetime, end: datetime
                             ) -> list[tuple[int, float, float]]:
        """(id, lon, lat) of live tickets of the matter in a bounding box around the point.

        The box is a cheap, index-friendly superset; the caller keeps those within the exact
        great-circle radius.
        """
        dlat = math.degrees(radius_m / 6_371_008.8) * 1.01
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        self.cur.execute(self.q(
            "SELECT id, lon, lat FROM dispatch_ticket WHERE district = ? AND matter_code = ? "
            "AND state NOT IN ('duplicate', 'rejected') AND received_at >= ? "
            "AND received_at <= ? AND lat BETWEEN ? AND ? AND lon BETWEEN ? AND ? ORDER BY id"),
            (district, matter_code, self.t_in(start), self.t_in(end), lat - dlat, lat + dlat,
             lon - dlon, lon + dlon))
        return [(int(i), float(x), float(y)) for i, x, y in self.cur.fetchall()]

    def insert_links(self, links: Sequence[DuplicateLink], now: datetime) -> None:
        if links:
            self.cur.executemany(self.q(
                "INSERT INTO dispatch_ticket_link (ticket_id, other_id, kind, distance_m, "
                "created_at) VALUES (?, ?, ?, ?, ?)"),
                [(k.ticket_id, k.other_id, k.kind, k.distance_m, self.t_in(now)) for k in links])

    def links_for(self, ids: Sequence[int]) -> dict[int, tuple[DuplicateLink, ...]]:
        """Links touching each ticket, from its own side (``ticket_id`` is the one asked for)."""
        out: dict[int, list[DuplicateLink]] = {}
        for marks, chunk in self._ids_in(ids):
            self.cur.execute(self.q(
                "SELECT ticket_id, other_id, kind, distance_m FROM dispatch_ticket_link "
                f"WHERE ticket_id IN {marks} OR other_id IN {marks} "
                "ORDER BY ticket_id, other_id"), chunk + chunk)
            wanted = set(chunk)
            for a, b, kind, dist in self.cur.fetchall():
                a, b = int(a), int(b)
                if a in wanted:
                    out.setdefault(a, []).append(DuplicateLink(a, b, float(dist), kind))
                if b in wanted:
                    out.setdefault(b, []).append(DuplicateLink(b, a, float(dist), kind))
        return {k: tuple(sorted(v, key=lambda x: x.other_id)) for k, v in out.items()}

    # -- whistle summons ---------------------------------------------------------------------

    def insert_summons(self, district: str, township: str, zone: str | None,
                       ticket_id: int | None, description: str, lon: float | None,
                       lat: float | None, raised_by: str, raised_at: datetime,
                       departments: Sequence[tuple[str, datetime]]) -> int:
        self.cur.execute(self.q(
            "INSERT INTO dispatch_summons (district, township, zone, ticket_id, description, "
            "lon, lat, raised_by, raised_at, state, version, closed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', 1, NULL) RETURNING id"),
            (district, township, zone, ticket_id, description, lon, lat, raised_by,
             self.t_in(raised_at)))
        sid = int(self.cur.fetchone()[0])
        self.cur.executemany(self.q(
            "INSERT INTO dispatch_summons_department (summons_id, department, position, state, "
            "report_due_at, note) VALUES (?, ?, ?, 'summoned', ?, '')"),
            [(sid, code, i, self.t_in(due)) for i, (code, due) in enumerate(departments)])
        return sid

    def _departments(self, ids: Sequence[int]) -> dict[int, tuple[SummonedDepartment, ...]]:
        out: dict[int, list[SummonedDepartment]] = {}
        for marks, chunk in self._ids_in(ids):
            self.cur.execute(self.q(f"SELECT {_DEPT_COLS} FROM dispatch_summons_department "
                                    f"WHERE summons_id IN {marks} "
                                    "ORDER BY summons_id, position"), chunk)
            for r in self.cur.fetchall():
                out.setdefault(int(r[0]), []).append(SummonedDepartment(
                    department=r[1], state=r[2], report_due_at=self.t_out(r[3]),
                    reported_at=self.t_out(r[4]), reported_by=r[5],
                    acted_at=self.t_out(r[6]), acted_by=r[7], note=r[8]))
        return {k: tuple(v) for k, v in out.items()}

    def _summons(self, r: Sequence[Any], depts: tuple[SummonedDepartment, ...]
                 ) -> WhistleSummons:
        return WhistleSummons(
            id=int(r[0]), district=r[1], township=r[2], zone=r[3],
            ticket_id=None if r[4] is None else int(r[4]), description=r[5],
            lon=None if r[6] is None else float(r[6]), lat=None if r[7] is None else float(r[7]),
            raised_by=r[8], raised_at=self.t_out(r[9]), state=r[10], version=int(r[11]),
            closed_at=self.t_out(r[12]), departments=depts)

    def summons(self, summons_id: int) -> WhistleSummons | None:
        self.cur.execute(self.q(f"SELECT {_SUMMONS_COLS} FROM dispatch_summons WHERE id = ?"),
                         (summons_id,))
        row = self.cur.fetchone()
        if row is None:
            return None
        return self._summons(row, self._departments([summons_id]).get(summons_id, ()))

    def summonses(self, *, state: str | None = None, overdue_at: datetime | None = None,
                  district: str | None = None) -> list[WhistleSummons]:
        where, params = [], []
        for col, value in (("state", state), ("district", district)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        if overdue_at is not None:
            where.append("id IN (SELECT summons_id FROM dispatch_summons_department WHERE "
                         "state = 'overdue' OR (state = 'summoned' AND report_due_at < ?))")
            params.append(self.t_in(overdue_at))
        sql = f"SELECT {_SUMMONS_COLS} FROM dispatch_summons"
        if where:
            sql += " WHERE " + " AND ".join(where)
        self.cur.execute(self.q(sql + " ORDER BY id"), params)
        rows = self.cur.fetchall()
        depts = self._departments([int(r[0]) for r in rows])
        return [self._summons(r, depts.get(int(r[0]), ())) for r in rows]

    def update_summons(self, summons_id: int, version: int, *, state: str | None = None,
                       closed_at: datetime | None = None) -> bool:
        """Bump the version (and set state/closed_at) if still at ``version``."""
        self.cur.execute(self.q(
            "UPDATE dispatch_summons SET state = COALESCE(?, state), "
            "closed_at = COALESCE(?, closed_at), version = version + 1 "
            "WHERE id = ? AND version = ?"),
            (state, self.t_in(closed_at), summons_id, version))
        return self.cur.rowcount == 1

    def update_department(self, summons_id: int, department: str, from_state: str,
                          to_state: str, **changes: Any) -> bool:
        allowed = {"reported_at", "reported_by", "acted_at", "acted_by", "note"}
        bad = set(changes) - allowed
        if bad:
            raise ValueError(f"update_department: not updatable: {sorted(bad)}")
        sets, params = ["state = ?"], [to_state]
        for col, value in changes.items():
            sets.append(f"{col} = ?")
            params.append(self.t_in(value) if col.endswith("_at") else value)
        params += [summons_id, department, from_state]
        self.cur.execute(self.q(
            f"UPDATE dispatch_summons_department SET {', '.join(sets)} "
            "WHERE summons_id = ? AND department = ? AND state = ?"), params)
        return self.cur.rowcount == 1

    def due_departments(self, now: datetime) -> list[tuple[int, str, datetime]]:
        """(summons id, department, deadline) still summoned after their report-in deadline."""
        self.cur.execute(self.q(
            "SELECT d.summons_id, d.department, d.report_due_at "
            "FROM dispatch_summons_department d JOIN dispatch_summons s ON s.id = d.summons_id "
            "WHERE s.state = 'open' AND d.state = 'summoned' AND d.report_due_at < ? "
            "ORDER BY d.summons_id, d.position"), (self.t_in(now),))
        return [(int(a), b, self.t_out(c)) for a, b, c in self.cur.fetchall()]

    def summons_states(self) -> dict[tuple[Any, ...], str]:
        self.cur.execute("SELECT id, state FROM dispatch_summons")
        out: dict[tuple[Any, ...], str] = {("summons", int(i)): s for i, s in
                                            self.cur.fetchall()}
        self.cur.execute("SELECT summons_id, department, state FROM dispatch_summons_department")
        out.update({("summons_department", int(i), d): s for i, d, s in self.cur.fetchall()})
        return out


_READY: weakref.WeakSet[SQLStore] = weakref.WeakSet()


def _ensure_schema(store: SQLStore) -> None:
    """Migrate a store opened before this module registered its steps (once per store)."""
    if store in _READY:
        return
    if store.schema_versions().get("dispatch", 0) < len(DISPATCH_MIGRATIONS):
        store.migrate()
    _READY.add(store)


@contextmanager
def writing(store: Store, what: str) -> Iterator[DispatchDb]:
    """One write transaction holding the chain lock; engine errors become StoreError."""
    s = sql_store(store)
    _ensure_schema(s)
    with s.operation(what), s.transaction() as cur:
        db = DispatchDb(s, cur)
        db.lock_chain()
        db.now = db.server_now()
        yield db


@contextmanager
def reading(store: Store, what: str) -> Iterator[DispatchDb]:
    """One read-only transaction (a consistent snapshot on PostGIS)."""
    s = sql_store(store)
    _ensure_schema(s)
    with s.operation(what), s.transaction(readonly=True) as cur:
        yield DispatchDb(s, cur)
