"""Shared fixtures: the bundled district, and a clean store per test on each backend.

PostGIS tests need a server: ``WHISTLE_TEST_POSTGIS_URL`` (default
``postgresql://postgres@127.0.0.1:5432/whistle_test``; ``bash scripts/postgis.sh`` sets one
up). Without one they are skipped with the reason, except in CI (``CI=true``), where a
missing server fails them: CI must not go green by skipping the production backend.

Every PostGIS test runs in a schema of its own, created for it and dropped after it, so
parametrised runs, parallel sessions and earlier aborted runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from geo.boundaries import District, bundled_district
from geo.store import Store, open_store
from geo.store._codec import redact

DEFAULT_POSTGIS_URL = "postgresql://postgres@127.0.0.1:5432/whistle_test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that ask for ``postgis_url`` directly are PostGIS tests too (``-m postgis``)."""
    for item in items:
        if "postgis_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgis)


@pytest.fixture(scope="session")
def changshan() -> District:
    """The bundled Changshan county (14 townships, zones and "1+X" clusters)."""
    return bundled_district("changshan")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A fresh SQLite file in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'whistle.db'}"


def _postgis_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
        pytest.fail(f"PostGIS is required in CI: {reason}", pytrace=False)
    pytest.skip(f"PostGIS not available: {reason}")


def _with_search_path(url: str, schema: str, extension_schema: str) -> str:
    """``url`` with libpq ``options`` putting ``schema`` first on the search path."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    old = dict(parse_qsl(parts.query)).get("options", "")
    options = f"{old} -csearch_path={schema},{extension_schema}".strip()
    query.append(("options", options))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@pytest.fixture(scope="session")
def _postgis_server() -> tuple[str, str]:
    """(server URL, schema holding the postgis extension); checked once per session."""
    url = os.environ.get("WHISTLE_TEST_POSTGIS_URL") or DEFAULT_POSTGIS_URL
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            row = conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension "
                               "WHERE extname = 'postgis'").fetchone()
    except psycopg.Error as exc:
        _postgis_unavailable(f"{redact(url)}: {str(exc).strip()} "
                             "(run `bash scripts/postgis.sh` or set WHISTLE_TEST_POSTGIS_URL)")
    assert row is not None
    return url, row[0]


@pytest.fixture
def postgis_url(_postgis_server: tuple[str, str]) -> Iterator[str]:
    """URL of an empty schema of its own on the test PostGIS server, dropped afterwards."""
    server, extension_schema = _postgis_server
    schema = f"whistle_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield _with_search_path(server, schema, extension_schema)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty, migrated store on each backend (the contract suites run against both)."""
    url = request.getfixturevalue(f"{request.param}_url")
    s = open_store(url)
    try:
        yield s
    finally:
        s.close()
