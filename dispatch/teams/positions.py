"""The team position log: every fix reported from the field, kept on both storage backends.

Positions arrive often and need no audit chain, so they are appended to a table of their own
(no chain lock) and the registry restores each team's latest fix when the service starts —
a restart does not make every team jump back to its base.
"""

from __future__ import annotations

from datetime import datetime

from dispatch.teams.models import Position
from geo.store import Store
from geo.store._sql import SQLStore
from geo.store.migrations import Migration, register

TEAM_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "teams", 1, "team position log",
        sqlite=(
            """CREATE TABLE team_position (
                id          INTEGER PRIMARY KEY AUTOINCREMENT,
                district    TEXT    NOT NULL,
                team_id     TEXT    NOT NULL,
                lon         REAL    NOT NULL,
                lat         REAL    NOT NULL,
                at          TEXT    NOT NULL,
                recorded_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
            )""",
            "CREATE INDEX team_position_latest ON team_position (district, team_id, id)",
        ),
        postgis=(
            """CREATE TABLE team_position (
                id          bigserial PRIMARY KEY,
                district    text      NOT NULL,
                team_id     text      NOT NULL,
                lon         double precision NOT NULL,
                lat         double precision NOT NULL,
                at          timestamp NOT NULL,
                recorded_at timestamptz NOT NULL DEFAULT now()
            )""",
            "CREATE INDEX team_position_latest ON team_position (district, team_id, id)",
        ),
    ),
)
register(TEAM_MIGRATIONS)


def _sql(store: Store) -> SQLStore:
    if not isinstance(store, SQLStore):
        raise TypeError(f"store: {type(store).__name__} keeps no team positions")
    if store.schema_versions().get("teams", 0) < len(TEAM_MIGRATIONS):
        store.migrate()  # a store opened before this module registered its step
    return store


def record_position(store: Store, district: str, team_id: str, pos: Position) -> None:
    """Append one fix (``pos.at`` is naive local time, as the registry keeps it)."""
    s = _sql(store)
    at = pos.at.isoformat() if s.dialect == "sqlite" else pos.at
    with s.operation(f"recording the position of {team_id}"), s.transaction() as cur:
        cur.execute(s._q("INSERT INTO team_position (district, team_id, lon, lat, at) "
                         "VALUES (?, ?, ?, ?, ?)"), (district, team_id, pos.lon, pos.lat, at))


def latest_positions(store: Store, district: str) -> dict[str, Position]:
    """Each team's latest recorded fix in ``district``."""
    s = _sql(store)
    with s.operation("reading team positions"), s.transaction(readonly=True) as cur:
        cur.execute(s._q(
            "SELECT p.team_id, p.lon, p.lat, p.at FROM team_position p WHERE p.district = ? "
            "AND p.id = (SELECT MAX(q.id) FROM team_position q "
            "WHERE q.district = p.district AND q.team_id = p.team_id)"), (district,))
        rows = cur.fetchall()
    return {str(t): Position(float(lon), float(lat),
                             datetime.fromisoformat(at) if isinstance(at, str) else at)
            for t, lon, lat, at in rows}
