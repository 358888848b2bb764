"""Team positions reported from the field are logged on both backends and survive a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from dispatch.teams.models import Position
from dispatch.teams.positions import latest_positions, record_position
from geo.store import open_store
from web.app import create_app


def test_latest_position_per_team(store):
    t0 = datetime(2025, 5, 6, 9, 0)
    t1 = t0 + timedelta(minutes=5)
    record_position(store, "changshan", "CS01-zfd", Position(118.51, 28.90, t0))
    record_position(store, "changshan", "CS01-zfd", Position(118.52, 28.91, t1))
    record_position(store, "changshan", "CS02-zfd", Position(118.53, 28.92, t0))
    record_position(store, "other", "CS01-zfd", Position(1.0, 2.0, t0))
    got = latest_positions(store, "changshan")
    assert got == {"CS01-zfd": Position(118.52, 28.91, t1),
                   "CS02-zfd": Position(118.53, 28.92, t0)}


def test_position_posted_to_the_api_is_there_after_a_restart(sqlite_url, changshan):
    with open_store(sqlite_url) as s:
        s.save_district(changshan)
    now = datetime.now(UTC).replace(microsecond=0)
    with TestClient(create_app(sqlite_url)) as c:
        r = c.post("/api/v1/teams/CS03-zfd/position",
                   json={"lon": 118.49, "lat": 28.905, "at": now.isoformat()})
        assert r.status_code == 200
    with TestClient(create_app(sqlite_url)) as c:  # a new process would start the same way
        teams = {t["id"]: t for t in c.get("/api/v1/teams").json()["teams"]}
        pos = teams["CS03-zfd"]["position"]
        assert pos is not None and (pos["lon"], pos["lat"]) == (118.49, 28.905)
        assert teams["CS01-zfd"]["position"] is None
