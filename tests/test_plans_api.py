"""Planning solves as jobs over HTTP: submit → id → status → result, and the exports."""

from __future__ import annotations

import csv
import io
import os

import pytest
from fastapi.testclient import TestClient

from geo.store import open_store
from web.app import create_app

# A small VRPTW in Solomon format (depot + 6 customers), written for this test.
SMALL = """SMALL6

VEHICLE
NUMBER     CAPACITY
   3         50

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE TIME
    0      40         50          0          0       1000          0
    1      45         68         10          0        200         10
    2      45         70         20          0        200         10
    3      42         66         10          0        300         10
    4      20         30         10        100        400         10
    5      22         28         20          0        500         10
    6      60         40         20          0        600         10
"""


@pytest.fixture
def client(sqlite_url, changshan):
    with open_store(sqlite_url) as s:
        s.save_district(changshan)
    with TestClient(create_app(sqlite_url)) as c:
        yield c


def run(client: TestClient, path: str, body: dict) -> dict:
    r = client.post(path, json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/v1/plans/jobs/{job['id']}"
    client.app.state.jobs.wait(job["id"], 120)
    status = client.get(f"/api/v1/plans/jobs/{job['id']}").json()
    assert status["state"] == "done", status
    return status


def test_vrptw_job_returns_a_feasible_plan_serving_every_customer(client):
    status = run(client, "/api/v1/plans/vrptw", {"instance": SMALL, "time_limit_s": 1})
    result = client.get(status["result_url"]).json()
    assert result["feasible"] is True
    served = sorted(c for r in result["routes"] for c in r["customers"])
    assert served == [1, 2, 3, 4, 5, 6]


def test_bad_instance_is_refused_at_submission(client):
    r = client.post("/api/v1/plans/vrptw", json={"instance": "nonsense", "time_limit_s": 1})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "instance"
    r = client.post("/api/v1/plans/vrptw", json={"instance": SMALL, "time_limit_s": -1})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "time_limit_s"
    for workers in (0, (os.cpu_count() or 1) + 1):
        r = client.post("/api/v1/plans/vrptw", json={"instance": SMALL, "workers": workers})
        assert r.status_code == 422 and r.json()["detail"]["field"] == "workers"


def test_vrptw_job_runs_parallel_chains(client):
    workers = min(2, os.cpu_count() or 1)
    status = run(client, "/api/v1/plans/vrptw", {"instance": SMALL, "time_limit_s": 1,
                                                 "workers": workers})
    assert status["params"]["workers"] == workers
    result = client.get(status["result_url"]).json()
    assert result["feasible"] is True


def test_unknown_job_is_404_and_unfinished_result_is_409(client):
    assert client.get("/api/v1/plans/jobs/nope").status_code == 404
    r = client.post("/api/v1/plans/vrptw", json={"instance": SMALL, "time_limit_s": 2})
    early = client.get(f"/api/v1/plans/jobs/{r.json()['id']}/result")
    assert early.status_code in (200, 409)  # 409 while it runs
    client.app.state.jobs.wait(r.json()["id"], 30)


def test_calendar_job_plans_joint_visits_and_exports_the_public_plan(client):
    ids = [f"CS02-{k:04d}" for k in range(1, 31)]
    status = run(client, "/api/v1/plans/calendar", {
        "zone": "紫港片区", "start": "2025-03-01", "end": "2025-04-01", "time_limit_s": 3,
        "object_ids": ids})
    plan = client.get(status["result_url"]).json()
    assert plan["metrics"]["visits"]["whistle"] <= plan["metrics"]["visits"]["baseline"]
    visited = {v["object_id"] for d in plan["days"] for v in d["visits"]}
    assert visited and visited <= set(ids)
    r = client.get(f"/api/v1/plans/jobs/{status['id']}/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert len(rows) - 1 == sum(len(d["visits"]) for d in plan["days"])
    officer_names = {m for t in plan.get("teams", {}).values() for m in [t]}
    assert officer_names  # team names are public; officers are not in the export at all
    x = client.get(f"/api/v1/plans/jobs/{status['id']}/export.xlsx")
    assert x.status_code == 200 and x.content[:2] == b"PK"


def test_calendar_job_refuses_bad_dates_and_reports_unknown_zone(client):
    r = client.post("/api/v1/plans/calendar", json={"zone": "紫港片区", "start": "2025-04-01",
                                                    "end": "2025-03-01"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "end"
    r = client.post("/api/v1/plans/calendar", json={"zone": "月球片区", "start": "2025-03-01",
                                                    "end": "2025-04-01", "time_limit_s": 1})
    job = r.json()["id"]
    client.app.state.jobs.wait(job, 30)
    status = client.get(f"/api/v1/plans/jobs/{job}").json()
    assert status["state"] == "failed" and status["error"]["field"] == "zone"
    assert client.get(f"/api/v1/plans/jobs/{job}/result").status_code == 422


def test_draw_job_records_a_reproducible_draw(client):
    body = {"zone": "天马片区", "share": 0.05, "seed": 11, "at": "2025-03-03",
            "department": "scjg", "actor": "tester"}
    status = run(client, "/api/v1/plans/draw", body)
    record = client.get(status["result_url"]).json()
    pairs = record["result"]["pairings"]
    assert pairs and all(p["officers"][0] != p["officers"][1] for p in pairs)
    # Drawn again on the same objects: last time's inspectors are excluded per object.
    again = client.get(run(client, "/api/v1/plans/draw", body)["result_url"]).json()
    first = {p["object_id"]: set(p["officers"]) for p in pairs}
    for p in again["result"]["pairings"]:
        assert not set(p["officers"]) & first.get(p["object_id"], set())
    bad = client.post("/api/v1/plans/draw", json={**body, "share": 2})
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "share"


def test_routes_then_urgent_insert_jobs(client):
    status = run(client, "/api/v1/plans/routes", {
        "zone": "紫港片区", "date": "2025-03-04", "sample_objects": 8, "time_limit_s": 2})
    plan = client.get(status["result_url"]).json()
    assert plan["eta_source"] == "estimate"
    routed = [s for r in plan["routes"] for s in r["stops"]]
    assert routed
    geo = client.get(f"/api/v1/plans/jobs/{status['id']}/routes.geojson").json()
    assert {f["geometry"]["type"] for f in geo["features"]} >= {"LineString", "Point"}
    ins = run(client, "/api/v1/plans/insert", {
        "plan_job_id": status["id"], "object_id": "CS02-0010", "at": "10:00", "minutes": 30})
    out = client.get(ins["result_url"]).json()
    assert out["inserted"] is True
    assert out["moved"] == len(out["moved_stops"]) and out["frozen_stops"] >= 0
    bad = client.post("/api/v1/plans/insert", json={
        "plan_job_id": "nope", "object_id": "CS02-0010", "at": "10:00", "units": ["CS02-zfd"]})
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "plan_job_id"
    bad = client.post("/api/v1/plans/routes", json={"zone": "紫港片区", "date": "2025-03-04"})
    assert bad.status_code == 422


NIGHT_PRONE = ["CS02-0002", "CS02-0010", "CS02-0016", "CS02-0021", "CS02-0047", "CS02-0048",
               "CS02-0053", "CS02-0069", "CS02-0085", "CS02-0104", "CS02-0121", "CS02-0248"]


def test_night_checks_go_from_the_calendar_to_the_night_duty_routes(client):
    cal = run(client, "/api/v1/plans/calendar", {
        "zone": "紫港片区", "start": "2025-03-01", "end": "2025-04-01", "time_limit_s": 3,
        "object_ids": NIGHT_PRONE})
    plan = client.get(cal["result_url"]).json()
    assert plan["summary"]["night_visits"] > 0
    day = max(plan["days"], key=lambda d: sum(v["duty"] == "night" for v in d["visits"]))
    night_ids = {v["object_id"] for v in day["visits"] if v["duty"] == "night"}
    status = run(client, "/api/v1/plans/routes", {
        "zone": "紫港片区", "date": day["date"], "calendar_job_id": cal["id"], "duty": "night",
        "time_limit_s": 2})
    routes = client.get(status["result_url"]).json()
    assert routes["options"]["duty"] == "night" and routes["options"]["shift"] == "19:00-01:00"
    stops = [s for r in routes["routes"] for s in r["stops"]]
    assert stops and {s["object_id"] for s in stops} <= night_ids
    assert all(s["start_s"] >= 19 * 3600 for s in stops)
    assert {x["kind"] for x in routes["other_duty"]} <= {"day_duty"}
    assert routes["summary"]["other_duty"] == sum(v["duty"] == "day" for v in day["visits"])
    bad = client.post("/api/v1/plans/routes", json={
        "zone": "紫港片区", "date": day["date"], "calendar_job_id": cal["id"], "duty": "dusk"})
    assert bad.status_code == 422 and "duty" in bad.text
