"""The storage interface every backend implements.

The domain core never sees SQL: it hands plain objects (:class:`geo.boundaries.District`) to a
:class:`Store` and gets them back. Two backends implement it: SQLite (embedded default, no
server) and PostGIS (production). One contract suite in ``tests/`` runs against both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

from geo.boundaries import District


class StoreError(RuntimeError):
    """A storage operation failed; nothing was half-written."""


class Store(ABC):
    """Persistent storage of districts and (in later layers) operational records."""

    url: str

    @abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the schema to the current version (idempotent)."""

    @abstractmethod
    def save_district(self, district: District) -> None:
        """Insert or atomically replace a district with all its townships and areas."""

    @abstractmethod
    def load_district(self, code: str) -> District:
        """Read a district back; raise KeyError if it is not stored."""

    @abstractmethod
    def list_districts(self) -> list[str]:
        """Codes of the stored districts, sorted."""

    @abstractmethod
    def delete_district(self, code: str) -> None:
        """Remove a district and everything that hangs off it."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
