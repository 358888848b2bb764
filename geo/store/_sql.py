"""The part of both SQL backends that does not depend on the database engine.

Migration bookkeeping and the save/load sequences live here once; a backend supplies its
connection, transactions, parameter placeholder and how a geometry column is written and
read (a plain WKB blob in SQLite, ``ST_GeomFromWKB``/``ST_AsBinary`` in PostGIS).
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar, Protocol

from shapely.errors import ShapelyError

from geo.boundaries import District
from geo.store import _codec
from geo.store.base import Store, StoreError
from geo.store.migrations import SCHEMA_VERSION_SQL, Dialect, pending


class Cursor(Protocol):
    """What the shared code needs of a DB-API cursor (sqlite3 and psycopg both fit)."""

    rowcount: int

    def execute(self, query: Any, params: Sequence[Any] = ...) -> Any: ...

    def executemany(self, query: Any, params_seq: Any) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SQLStore(Store):
    """A :class:`Store` over a DB-API connection; subclasses bind it to one engine.

    Every public operation holds a lock and runs in one transaction, so a store object may
    be shared between threads (a web server's worker pool) without interleaving statements
    of two operations on the same connection.
    """

    dialect: ClassVar[Dialect]
    placeholder: ClassVar[str]
    #: Engine errors that mean "the operation failed"; wrapped in StoreError.
    driver_errors: ClassVar[tuple[type[BaseException], ...]]

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()

    # -- engine hooks ------------------------------------------------------------------------

    @abstractmethod
    def transaction(self, readonly: bool = False) -> AbstractContextManager[Cursor]:
        """A cursor inside one transaction: committed on success, rolled back on error.

        ``readonly`` asks for a consistent snapshot across several SELECTs.
        """

    def geom_in(self, placeholder: str) -> str:
        """SQL expression turning a WKB parameter into the stored geometry value."""
        return placeholder

    def geom_out(self, column: str) -> str:
        """SQL expression reading a stored geometry column as WKB."""
        return column

    def json_out(self, column: str) -> str:
        """SQL expression reading a JSON column as text (decoded in one place, the codec)."""
        return column

    def lock_schema(self, cur: Cursor) -> None:
        """Serialise concurrent migrations where the engine needs help to."""

    # -- helpers -----------------------------------------------------------------------------

    @contextmanager
    def operation(self, what: str) -> Iterator[None]:
        """Hold the lock and turn engine errors into StoreError naming the database."""
        with self._lock:
            try:
                yield
            except self.driver_errors as exc:
                raise StoreError(f"{_codec.redact(self.url)}: {what} failed: "
                                 f"{str(exc).strip() or type(exc).__name__}") from exc

    def _q(self, sql: str) -> str:
        """Shared SQL is written with ``?`` placeholders (and uses ``?`` for nothing else)."""
        return sql.replace("?", self.placeholder)

    # -- Store -------------------------------------------------------------------------------

    def migrate(self) -> None:
        with self.operation("schema migration"), self.transaction() as cur:
            self.lock_schema(cur)
            cur.execute(SCHEMA_VERSION_SQL[self.dialect])
            cur.execute("SELECT component, MAX(version) FROM schema_version GROUP BY component")
            applied = {component: int(v) for component, v in cur.fetchall()}
            try:
                steps = pending(applied)
            except ValueError as exc:
                raise StoreError(f"{_codec.redact(self.url)}: {exc}") from exc
            for step in steps:
                try:
                    for statement in step.statements(self.dialect):
                        cur.execute(statement)
                except self.driver_errors as exc:
                    raise StoreError(
                        f"{_codec.redact(self.url)}: schema migration failed at {step.component} "
                        f"v{step.version} ({step.name}): {str(exc).strip()}") from exc
                cur.execute(self._q("INSERT INTO schema_version (component, version, name) "
                                    "VALUES (?, ?, ?)"),
                            (step.component, step.version, step.name))

    def schema_versions(self) -> dict[str, int]:
        """Highest applied migration per component (``{"geo": 1, ...}``)."""
        with self.operation("reading schema versions"), self.transaction(readonly=True) as cur:
            cur.execute("SELECT component, MAX(version) FROM schema_version GROUP BY component")
            return {component: int(v) for component, v in cur.fetchall()}

    def save_district(self, district: District) -> None:
        """Insert or replace a district in one transaction.

        Rows are updated in place rather than deleted and re-inserted, so records of later
        layers that reference a township (by district and code) survive a boundary update
        as long as the township still exists.
        """
        code = district.code
        try:  # encode everything first: a bad value fails before the database is touched
            drow = _codec.district_row(district)
            townships = list(_codec.township_rows(district))
            areas = list(_codec.area_rows(district))
            members = list(_codec.member_rows(district))
        except (TypeError, ValueError, ShapelyError) as exc:
            raise StoreError(f"district {code!r}: cannot store it ({exc})") from exc
        # Upserts would merge duplicates silently; the keys must be unique to read back.
        for what, keys in (("township code", [r[1] for r in townships]),
                           ("area code", [f"{r[1]}/{r[2]}" for r in areas])):
            dups = sorted(k for k, n in Counter(keys).items() if n > 1)
            if dups:
                raise StoreError(f"district {code!r}: cannot store it ({what} used more than "
                                 f"once: {', '.join(dups)})")
        gi = self.geom_in("?")
        with self.operation(f"saving district {code!r}"), self.transaction() as cur:
            cur.execute(self._q(
                "INSERT INTO district (code, name, metric_epsg, outline, travel_circuity, "
                f"travel_speed_kmh, meta) VALUES (?, ?, ?, {gi}, ?, ?, ?) "
                "ON CONFLICT (code) DO UPDATE SET name = excluded.name, "
                "metric_epsg = excluded.metric_epsg, outline = excluded.outline, "
                "travel_circuity = excluded.travel_circuity, "
                "travel_speed_kmh = excluded.travel_speed_kmh, meta = excluded.meta"), drow)
            cur.executemany(self._q(
                "INSERT INTO township (district_code, code, sort_order, name, kind, town_class, "
                f"geom) VALUES (?, ?, ?, ?, ?, ?, {gi}) "
                "ON CONFLICT (district_code, code) DO UPDATE SET "
                "sort_order = excluded.sort_order, name = excluded.name, kind = excluded.kind, "
                "town_class = excluded.town_class, geom = excluded.geom"),
                townships)
            cur.execute(self._q("DELETE FROM area_member WHERE district_code = ?"), (code,))
            cur.executemany(self._q(
                "INSERT INTO area (district_code, layer, code, sort_order, name, hub, derived, "
                "note) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (district_code, layer, code) DO UPDATE SET "
                "sort_order = excluded.sort_order, name = excluded.name, hub = excluded.hub, "
                "derived = excluded.derived, note = excluded.note"), areas)
            cur.execute(self._q("SELECT layer, code FROM area WHERE district_code = ?"), (code,))
            keep = {(r[1], r[2]) for r in areas}
            gone = [(code, layer, a) for layer, a in cur.fetchall() if (layer, a) not in keep]
            if gone:
                cur.executemany(self._q(
                    "DELETE FROM area WHERE district_code = ? AND layer = ? AND code = ?"), gone)
            cur.executemany(self._q(
                "INSERT INTO area_member (district_code, layer, area_code, position, "
                "township_code) VALUES (?, ?, ?, ?, ?)"), members)
            cur.execute(self._q("SELECT code FROM township WHERE district_code = ?"), (code,))
            keep_t = {t.code for t in district.townships}
            gone_t = [(code, t) for (t,) in cur.fetchall() if t not in keep_t]
            if gone_t:
                cur.executemany(self._q(
                    "DELETE FROM township WHERE district_code = ? AND code = ?"), gone_t)

    def load_district(self, code: str) -> District:
        go = self.geom_out
        with self.operation(f"loading district {code!r}"), \
                self.transaction(readonly=True) as cur:
            cur.execute(self._q(
                "SELECT code, name, metric_epsg, " + go("outline") + ", travel_circuity, "
                "travel_speed_kmh, " + self.json_out("meta") + " FROM district WHERE code = ?"),
                (code,))
            row = cur.fetchone()
            if row is None:
                cur.execute("SELECT code FROM district")
                stored = sorted(r[0] for r in cur.fetchall())
                raise KeyError(f"no district {code!r} in {_codec.redact(self.url)}; "
                               f"stored: {', '.join(stored) or 'none'}")
            cur.execute(self._q(
                "SELECT district_code, code, sort_order, name, kind, town_class, "
                + go("geom") + " FROM township WHERE district_code = ? "
                "ORDER BY sort_order, code"), (code,))
            townships = cur.fetchall()
            cur.execute(self._q(
                "SELECT district_code, layer, code, sort_order, name, hub, derived, note "
                "FROM area WHERE district_code = ? ORDER BY layer, sort_order, code"), (code,))
            areas = cur.fetchall()
            cur.execute(self._q(
                "SELECT district_code, layer, area_code, position, township_code "
                "FROM area_member WHERE district_code = ? "
                "ORDER BY layer, area_code, position"), (code,))
            members = cur.fetchall()
        return _codec.build_district(row, townships, areas, members)

    def list_districts(self) -> list[str]:
        with self.operation("listing districts"), self.transaction(readonly=True) as cur:
            cur.execute("SELECT code FROM district")
            return sorted(r[0] for r in cur.fetchall())

    def delete_district(self, code: str) -> None:
        """Remove a district with its townships and areas; KeyError if it is not stored."""
        with self.operation(f"deleting district {code!r}"), self.transaction() as cur:
            # Children first: memberships must go before the townships they point at (not
            # cascaded, so a save cannot drop them silently).
            for table in ("area_member", "area", "township"):
                cur.execute(self._q(f"DELETE FROM {table} WHERE district_code = ?"), (code,))
            cur.execute(self._q("DELETE FROM district WHERE code = ?"), (code,))
            if cur.rowcount == 0:
                raise KeyError(f"no district {code!r} in {_codec.redact(self.url)}")
