"""Storage backends behind one interface; :func:`open_store` picks one from a URL."""

from __future__ import annotations

from geo.settings import database_url
from geo.store.base import Store, StoreError

__all__ = ["Store", "StoreError", "open_store"]


def open_store(url: str | None = None) -> Store:
    """Open (and migrate) the store at ``url``, default :func:`geo.settings.database_url`.

    ``sqlite:///path`` opens the embedded backend; ``postgresql://...`` opens PostGIS.
    """
    url = url or database_url()
    if url.startswith("sqlite:"):
        from geo.store.sqlite import SQLiteStore

        store: Store = SQLiteStore(url)
    elif url.startswith(("postgresql:", "postgres:")):
        from geo.store.postgis import PostGISStore

        store = PostGISStore(url)
    else:
        raise StoreError(f"WHISTLE_DATABASE_URL: unsupported scheme in {url!r} "
                         "(expected sqlite:/// or postgresql://)")
    store.migrate()
    return store
