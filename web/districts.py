"""Districts the web service answers for, read from the store once and cached with their locators.

The service never reads ``data/boundaries/`` directly: what it shows is what was loaded into the
store with ``whistle boundaries load``, so the map and the API agree with every other command
that reads the store. A district that is not stored yet is retried on the next request, so
loading it does not need a restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from dispatch.dispatcher import Dispatcher
from dispatch.teams.positions import latest_positions, record_position
from dispatch.teams.registry import TeamRegistry
from geo.boundaries import District
from geo.locate import Locator
from geo.store import Store, StoreError, open_store


class DistrictNotLoaded(LookupError):
    """The district is not in the store; ``hint`` is the command that loads it."""

    def __init__(self, code: str, stored: list[str]) -> None:
        self.code = code
        self.stored = stored
        self.hint = f"whistle boundaries load data/boundaries/{code}"
        known = ", ".join(stored) if stored else "none"
        super().__init__(f"district {code!r} is not loaded into the store (stored: {known}); "
                         f"run `{self.hint}`")


class StoreUnavailable(RuntimeError):
    """The store could not be opened or read."""


def url_scheme(url: str) -> str:
    """The backend part of a database URL (``sqlite`` / ``postgresql``), never credentials."""
    return url.split(":", 1)[0]


@dataclass
class _Entry:
    district: District
    locator: Locator | None = None
    page: str | None = None
    dispatcher: Dispatcher | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class DistrictRegistry:
    """Cache of stored districts, their :class:`Locator` and rendered map page.

    Parameters
    ----------
    database_url : str
        Store to read from (``sqlite:///...`` or ``postgresql://...``).
    default : str
        District code served when a request names none.
    """

    def __init__(self, database_url: str, default: str) -> None:
        self.database_url = database_url
        self.default = default
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._store: Store | None = None

    def _entry(self, code: str) -> _Entry:
        entry = self._entries.get(code)
        if entry is not None:
            return entry
        with self._lock:
            entry = self._entries.get(code)
            if entry is None:
                entry = _Entry(self._load(code))
                self._entries[code] = entry
        return entry

    def _load(self, code: str) -> District:
        # A short-lived connection per load: the SQLite driver ties a connection to the thread
        # that opened it, and the server answers requests from a pool of threads.
        try:
            with open_store(self.database_url) as store:
                try:
                    return store.load_district(code)
                except KeyError:
                    raise DistrictNotLoaded(code, store.list_districts()) from None
        except StoreError as exc:
            raise StoreUnavailable(f"store ({url_scheme(self.database_url)}): {exc}") from exc

    def district(self, code: str | None = None) -> District:
        """The stored district ``code`` (default district if None)."""
        return self._entry(code or self.default).district

    def locator(self, code: str | None = None) -> Locator:
        """The point locator of a district, built on first use (it precomputes a grid)."""
        entry = self._entry(code or self.default)
        if entry.locator is None:
            with entry.lock:
                if entry.locator is None:
                    entry.locator = Locator(entry.district)
        return entry.locator

    def store(self) -> Store:
        """The long-lived store for tickets and summonses (opened on first use).

        Both backends serialise use of their connection, so one store serves every request
        thread; tickets are written far more often than districts are loaded.
        """
        if self._store is None:
            with self._lock:
                if self._store is None:
                    try:
                        self._store = open_store(self.database_url)
                    except StoreError as exc:
                        raise StoreUnavailable(
                            f"store ({url_scheme(self.database_url)}): {exc}") from exc
        return self._store

    def dispatcher(self, code: str | None = None) -> Dispatcher:
        """The dispatcher of a district (catalogue, teams, travel times), built on first use."""
        entry = self._entry(code or self.default)
        if entry.dispatcher is None:
            locator = self.locator(code)
            with entry.lock:
                if entry.dispatcher is None:
                    disp = Dispatcher.for_district(entry.district, locator=locator)
                    store, code_ = self.store(), entry.district.code
                    disp.registry.restore(latest_positions(store, code_))
                    disp.registry.on_position = (
                        lambda team_id, pos: record_position(store, code_, team_id, pos))
                    entry.dispatcher = disp
        return entry.dispatcher

    def team_registry(self, code: str | None = None) -> TeamRegistry:
        """Teams with live duty status and positions of a district."""
        return self.dispatcher(code).registry

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def map_page(self, code: str | None, render: Any) -> str:
        """The rendered map page of a district; ``render(district) -> str`` runs once."""
        entry = self._entry(code or self.default)
        if entry.page is None:
            with entry.lock:
                if entry.page is None:
                    entry.page = render(entry.district)
        return entry.page

    def status(self) -> dict[str, Any]:
        """Store reachability and loaded districts, for ``/healthz``."""
        out: dict[str, Any] = {"store": url_scheme(self.database_url),
                               "default_district": self.default}
        try:
            with open_store(self.database_url) as store:
                stored = store.list_districts()
        except Exception as exc:  # any driver error means "unreachable" to a health check
            out.update(store_reachable=False, error=f"{type(exc).__name__}: {exc}",
                       stored_districts=[], cached_districts=sorted(self._entries))
            return out
        out.update(store_reachable=True, stored_districts=stored,
                   cached_districts=sorted(self._entries),
                   default_loaded=self.default in stored)
        return out
