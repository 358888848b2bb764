"""Embedded backend: one SQLite file, no server, geometries as WKB blobs.

Spatial queries are not needed here (point location runs in numpy/shapely, see
:mod:`geo.locate`), so plain :mod:`sqlite3` suffices and no SpatiaLite build is required.
The file runs in WAL mode so the web server can read while a CLI command writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from geo.store._codec import redact
from geo.store._sql import SQLStore
from geo.store.base import StoreError
from geo.store.migrations import Dialect

_PREFIX = "sqlite:///"
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's write transaction


def sqlite_path(url: str) -> str:
    """The file path in ``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or
    ``sqlite:///:memory:``; raise StoreError for anything else."""
    if not url.startswith(_PREFIX) or url == _PREFIX:
        raise StoreError(f"{redact(url)}: not a SQLite URL (expected sqlite:///path/to/file.db)")
    return url[len(_PREFIX):]


class SQLiteStore(SQLStore):
    """Store in a SQLite file given as ``sqlite:///path`` (the directory must exist)."""

    dialect: ClassVar[Dialect] = "sqlite"
    placeholder: ClassVar[str] = "?"
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = (sqlite3.Error,)

    def __init__(self, url: str) -> None:
        super().__init__(url)
        path = sqlite_path(url)
        if path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"{url}: cannot open database: directory {parent} does not exist")
            if Path(path).is_dir():
                raise StoreError(f"{url}: cannot open database: {path} is a directory")
        try:
            # Autocommit mode: transactions are opened explicitly (see transaction()), so
            # DDL in migrations is transactional too.
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise StoreError(f"{url}: cannot open database: {exc}") from exc
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints in WAL
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"{url}: cannot open database: {exc}") from exc
        self._conn = conn

    @contextmanager
    def transaction(self, readonly: bool = False) -> Iterator[sqlite3.Cursor]:
        # BEGIN IMMEDIATE takes the write lock up front: two writers queue (busy timeout)
        # instead of one failing halfway with "database is locked".
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.rollback()
                raise
            finally:
                cur.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
