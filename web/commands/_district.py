"""Resolve the district a command works on: the store first, the bundled data as fallback."""

from __future__ import annotations

from geo.boundaries import BoundaryError, District, bundled_district
from geo.store import StoreError, open_store


def resolve_district(code: str) -> tuple[District, str]:
    """Return the district and where it came from (``"store"`` or ``"bundled"``).

    Commands should work on a fresh checkout before anything is loaded, so a district that is
    not in the store yet is read from ``data/boundaries/<code>`` and the caller says so.
    """
    try:
        with open_store() as store:
            return store.load_district(code), "store"
    except (KeyError, StoreError):
        pass
    try:
        return bundled_district(code), "bundled"
    except BoundaryError as exc:
        raise BoundaryError(f"--district: {exc}") from exc
