"""Schema migrations: ordered, backend-aware steps recorded in a ``schema_version`` table.

Each layer that stores something owns a *component* with its own version sequence (``geo``
here; dispatch tickets and audit logs add theirs), so two layers can each add a step without
renumbering the other's. A step carries the statements for both backends side by side, which
keeps the SQLite and PostGIS schemas reviewed together.

To add a step, append ``Migration(component, next_version, name, sqlite=(...), postgis=(...))``
to the component's list and :func:`register` it (at import time of the layer's storage
module, before the store is migrated). Never edit a step that has shipped: databases in the
field already ran it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Dialect = Literal["sqlite", "postgis"]


@dataclass(frozen=True)
class Migration:
    """One schema step: run once per database, inside the same transaction as its record.

    Parameters
    ----------
    component : str
        Owner of the version sequence (``"geo"``, ``"dispatch"``, ...).
    version : int
        Position in the component's sequence, starting at 1 with no gaps.
    name : str
        Short description, stored with the applied version.
    sqlite, postgis : tuple of str
        Statements for each backend, one SQL statement per item, run in order.
    """

    component: str
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgis: tuple[str, ...]

    def statements(self, dialect: Dialect) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgis


# Created before any step (outside the numbered sequence) because it records the sequence.
SCHEMA_VERSION_SQL: dict[Dialect, str] = {
    "sqlite": """
        CREATE TABLE IF NOT EXISTS schema_version (
            component  TEXT    NOT NULL,
            version    INTEGER NOT NULL,
            name       TEXT    NOT NULL,
            applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (component, version)
        )""",
    "postgis": """
        CREATE TABLE IF NOT EXISTS schema_version (
            component  text        NOT NULL,
            version    integer     NOT NULL,
            name       text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (component, version)
        )""",
}

# -- geo: districts, townships, zones and clusters ------------------------------------------
#
# Townships and areas keep ``sort_order`` because order is meaning: the first township listed
# wins a point in an overlap sliver, and areas are shown in the order the source lists them.
# Removing a township that an area still lists fails (no cascade) rather than silently
# dropping the membership. District metadata is JSON text (PostGIS ``json``, not ``jsonb``)
# so key order survives.

_GEO_V1_SQLITE = (
    """CREATE TABLE district (
        code             TEXT    PRIMARY KEY,
        name             TEXT    NOT NULL,
        metric_epsg      INTEGER NOT NULL,
        outline          BLOB,
        travel_circuity  REAL    NOT NULL,
        travel_speed_kmh REAL    NOT NULL,
        meta             TEXT    NOT NULL
    )""",
    """CREATE TABLE township (
        district_code TEXT    NOT NULL REFERENCES district (code) ON DELETE CASCADE,
        code          TEXT    NOT NULL,
        sort_order    INTEGER NOT NULL,
        name          TEXT    NOT NULL,
        kind          TEXT    NOT NULL,
        town_class    TEXT    NOT NULL,
        geom          BLOB    NOT NULL,
        PRIMARY KEY (district_code, code)
    )""",
    """CREATE TABLE area (
        district_code TEXT    NOT NULL REFERENCES district (code) ON DELETE CASCADE,
        layer         TEXT    NOT NULL CHECK (layer IN ('zone', 'cluster')),
        code          TEXT    NOT NULL,
        sort_order    INTEGER NOT NULL,
        name          TEXT    NOT NULL,
        hub           TEXT,
        derived       INTEGER NOT NULL CHECK (derived IN (0, 1)),
        note          TEXT    NOT NULL,
        PRIMARY KEY (district_code, layer, code),
        FOREIGN KEY (district_code, hub) REFERENCES township (district_code, code)
    )""",
    """CREATE TABLE area_member (
        district_code TEXT    NOT NULL,
        layer         TEXT    NOT NULL,
        area_code     TEXT    NOT NULL,
        position      INTEGER NOT NULL,
        township_code TEXT    NOT NULL,
        PRIMARY KEY (district_code, layer, area_code, position),
        FOREIGN KEY (district_code, layer, area_code)
            REFERENCES area (district_code, layer, code) ON DELETE CASCADE,
        FOREIGN KEY (district_code, township_code) REFERENCES township (district_code, code)
    )""",
    "CREATE INDEX area_member_township ON area_member (district_code, township_code)",
    "CREATE INDEX area_hub ON area (district_code, hub)",
)

_GEO_V1_POSTGIS = (
    "CREATE EXTENSION IF NOT EXISTS postgis",
    """CREATE TABLE district (
        code             text    PRIMARY KEY,
        name             text    NOT NULL,
        metric_epsg      integer NOT NULL,
        outline          geometry(Geometry, 4326),
        travel_circuity  double precision NOT NULL,
        travel_speed_kmh double precision NOT NULL,
        meta             json    NOT NULL
    )""",
    """CREATE TABLE township (
        district_code text    NOT NULL REFERENCES district (code) ON DELETE CASCADE,
        code          text    NOT NULL,
        sort_order    integer NOT NULL,
        name          text    NOT NULL,
        kind          text    NOT NULL,
        town_class    text    NOT NULL,
        geom          geometry(Geometry, 4326) NOT NULL,
        PRIMARY KEY (district_code, code)
    )""",
    """CREATE TABLE area (
        district_code text    NOT NULL REFERENCES district (code) ON DELETE CASCADE,
        layer         text    NOT NULL CHECK (layer IN ('zone', 'cluster')),
        code          text    NOT NULL,
        sort_order    integer NOT NULL,
        name          text    NOT NULL,
        hub           text,
        derived       boolean NOT NULL,
        note          text    NOT NULL,
        PRIMARY KEY (district_code, layer, code),
        FOREIGN KEY (district_code, hub) REFERENCES township (district_code, code)
    )""",
    """CREATE TABLE area_member (
        district_code text    NOT NULL,
        layer         text    NOT NULL,
        area_code     text    NOT NULL,
        position      integer NOT NULL,
        township_code text    NOT NULL,
        PRIMARY KEY (district_code, layer, area_code, position),
        FOREIGN KEY (district_code, layer, area_code)
            REFERENCES area (district_code, layer, code) ON DELETE CASCADE,
        FOREIGN KEY (district_code, township_code) REFERENCES township (district_code, code)
    )""",
    "CREATE INDEX area_member_township ON area_member (district_code, township_code)",
    "CREATE INDEX area_hub ON area (district_code, hub)",
    "CREATE INDEX district_outline_gist ON district USING GIST (outline)",
    "CREATE INDEX township_geom_gist ON township USING GIST (geom)",
)

GEO_MIGRATIONS: tuple[Migration, ...] = (
    Migration("geo", 1, "districts, townships, zones and clusters",
              sqlite=_GEO_V1_SQLITE, postgis=_GEO_V1_POSTGIS),
)

_REGISTRY: dict[str, tuple[Migration, ...]] = {}


def register(migrations: Iterable[Migration]) -> None:
    """Add or extend a component's steps; raise ValueError if the sequence is malformed.

    Re-registering the same steps is a no-op, so a storage module may register at import
    time without caring how often it is imported. Extending a component must keep every
    already-registered step unchanged.
    """
    steps = tuple(migrations)
    if not steps:
        return
    components = {m.component for m in steps}
    if len(components) != 1:
        raise ValueError(f"migrations: one component per call, got {sorted(components)}")
    (component,) = components
    if not component or not component.isidentifier():
        raise ValueError(f"migrations: component {component!r} must be an identifier")
    for expected, m in enumerate(steps, start=1):
        if m.version != expected:
            raise ValueError(f"migrations: {component} step {m.name!r} has version "
                             f"{m.version}, expected {expected} (versions start at 1, no gaps)")
        if not m.sqlite or not m.postgis:
            raise ValueError(f"migrations: {component} v{m.version} needs statements for "
                             "both sqlite and postgis")
    known = _REGISTRY.get(component, ())
    if steps[: len(known)] != known and known[: len(steps)] != steps:
        raise ValueError(f"migrations: {component} steps conflict with those already "
                         "registered (a shipped step must never change)")
    if len(steps) > len(known):
        _REGISTRY[component] = steps


def registered() -> Mapping[str, tuple[Migration, ...]]:
    """Every registered component's steps, in version order."""
    return dict(_REGISTRY)


def pending(applied: Mapping[str, int]) -> list[Migration]:
    """Steps not yet applied, given the highest applied version per component.

    Raises
    ------
    ValueError
        If the database holds a component version newer than this code knows: running
        older code against a newer schema could corrupt it.
    """
    todo: list[Migration] = []
    for component, current in applied.items():
        latest = len(_REGISTRY.get(component, ()))
        if component in _REGISTRY and current > latest:
            raise ValueError(f"schema {component} is at version {current}, newer than this "
                             f"Whistle knows ({latest}); upgrade Whistle")
    for component, steps in _REGISTRY.items():
        current = applied.get(component, 0)
        todo.extend(m for m in steps if m.version > current)
    return todo


register(GEO_MIGRATIONS)
