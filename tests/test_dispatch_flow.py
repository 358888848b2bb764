"""From a reported incident to a stored ticket: the dispatcher, the API and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dispatch.catalog.loader import bundled_catalog_path, load_catalog
from dispatch.dispatcher import Dispatcher, intake
from dispatch.incidents import IncidentError, parse_incident
from dispatch.samples import synthetic_incidents
from geo.store import open_store
from web.app import create_app
from web.cli import app as cli

NOW = datetime.now(UTC)
WHEN = (NOW - timedelta(days=2)).isoformat()


def incident(**kw):
    body = {"source": "hotline_12345", "external_id": "H-1", "matter_code": "SR001",
            "lon": 118.52, "lat": 28.90, "reported_at": WHEN}
    body.update(kw)
    return body


@pytest.fixture(scope="module")
def dispatcher(changshan) -> Dispatcher:
    return Dispatcher.for_district(changshan)


def test_street_incident_goes_to_the_street_team_first(dispatcher):
    d = dispatcher.decide(parse_incident(incident()))
    assert d.location.township_name == "天马街道" and d.location.zone == "zone-CS01"
    assert d.competence.kind == "township" and d.competence.holder == "CS01"
    assert d.recommendation.shortlist[0].team_id == "CS01-zfd"
    assert d.recommendation.eta_source == "estimate"
    assert d.sla_due_at is not None and d.sla_due_at > NOW


def test_radiated_township_incident_goes_to_the_hub_team(dispatcher, changshan):
    p = changshan.township("新昌乡").geometry.representative_point()
    d = dispatcher.decide(parse_incident(incident(lon=p.x, lat=p.y)))
    assert d.location.cluster_hub == "CS07"
    if d.competence.kind == "hub_team":
        assert d.recommendation.shortlist[0].team_id == "CS07-zfd"


def test_fine_over_50k_goes_to_department(dispatcher):
    d = dispatcher.decide(parse_incident(incident(facts={"fine_yuan": 50_000})))
    assert d.competence.kind == "department"
    assert "penalty.major" in d.competence.reason_codes


@pytest.mark.parametrize(("change", "field"), [
    ({"matter_code": "ZZ999"}, "matter_code"),
    ({"lon": 118.0}, "lon/lat"),
    ({"reported_at": "2026-01-01T09:00:00"}, "reported_at"),
    ({"reported_at": (NOW + timedelta(days=1)).isoformat()}, "reported_at"),
    ({"lat": "north"}, "lat"),
    ({"source": "fax"}, "source"),
    ({"facts": {"measures": ["banish"]}}, "facts.measures"),
])
def test_bad_incident_names_the_field(dispatcher, change, field):
    with pytest.raises(IncidentError) as exc:
        dispatcher.decide(parse_incident(incident(**change)))
    assert exc.value.field == field


def test_intake_is_idempotent_and_bad_input_stores_nothing(dispatcher, store):
    first = intake(dispatcher, store, parse_incident(incident()))
    again = intake(dispatcher, store, parse_incident(incident()))
    assert first.created and not again.created and again.ticket.id == first.ticket.id
    with pytest.raises(IncidentError):
        intake(dispatcher, store, parse_incident(incident(external_id="H-2", lon=118.0)))
    from dispatch.tickets.service import list_tickets
    assert [t.id for t in list_tickets(store)] == [first.ticket.id]


def test_batch_agrees_with_single_decisions(changshan):
    """Replay ignores today's duty roster, so compare with every team on duty."""
    dispatcher = Dispatcher.for_district(changshan)
    for team in dispatcher.registry.teams:
        dispatcher.registry.set_duty(team.id, "on_duty")
    cat = load_catalog(bundled_catalog_path(), changshan)
    frame = synthetic_incidents(changshan, sorted(cat.matters), 300, seed=5)
    times = [datetime.fromisoformat(t) for t in frame["reported_at"]]
    fines = frame["fine_yuan"].tolist()
    res = dispatcher.decide_batch(frame["matter_code"].tolist(), frame["lon"].to_numpy(),
                                  frame["lat"].to_numpy(), times, fines)
    assert (res.error == "").all()
    for i in range(0, 300, 7):
        facts = {"fine_yuan": fines[i]} if fines[i] == fines[i] and fines[i] >= 50_000 else {}
        one = dispatcher.decide(parse_incident(incident(
            lon=frame["lon"][i], lat=frame["lat"][i], matter_code=frame["matter_code"][i],
            reported_at=frame["reported_at"][i], facts=facts)), received_at=times[i])
        assert res.township[i] == one.location.township
        assert (res.kind[i], res.holder[i]) == (one.competence.kind, one.competence.holder)
        best = one.recommendation.best
        assert res.team[i] == (best.team_id if best else "")
        if best is not None:
            assert np.isclose(res.eta_s[i], best.eta_s, atol=0.1)


@pytest.fixture
def client(sqlite_url, changshan):
    with open_store(sqlite_url) as s:
        s.save_district(changshan)
    with TestClient(create_app(sqlite_url)) as c:
        yield c


def test_api_incident_then_assign_race_then_list(client):
    r = client.post("/api/v1/incidents", json=incident())
    assert r.status_code == 201
    body = r.json()
    assert body["competent_authority"]["kind"] == "township"
    assert body["recommendation"]["shortlist"][0]["team_id"] == "CS01-zfd"
    assert client.post("/api/v1/incidents", json=incident()).status_code == 200
    t = body["ticket"]
    first = client.post(f"/api/v1/tickets/{t['id']}/transitions", json={
        "to_state": "assigned", "actor": "d1", "team_id": "CS01-zfd",
        "expected_version": t["version"]})
    second = client.post(f"/api/v1/tickets/{t['id']}/transitions", json={
        "to_state": "assigned", "actor": "d2", "team_id": "CS02-zfd",
        "expected_version": t["version"]})
    assert first.status_code == 200 and second.status_code == 409
    assert second.json()["detail"]["field"] == "expected_version"
    listed = client.get("/api/v1/tickets", params={"state": "assigned"}).json()
    assert [x["team_id"] for x in listed["tickets"]] == ["CS01-zfd"]
    trail = client.get(f"/api/v1/tickets/{t['id']}/events").json()["events"]
    assert [e["to_state"] for e in trail] == ["received", "assigned"]


def test_api_errors_name_the_field(client):
    r = client.post("/api/v1/incidents", json=incident(reported_at="2026-01-01T09:00:00"))
    assert r.status_code == 422 and r.json()["detail"]["field"] == "reported_at"
    r = client.post("/api/v1/incidents", json=incident(lon=118.0))
    assert r.status_code == 422 and r.json()["detail"]["field"] == "lon/lat"
    r = client.post("/api/v1/teams/nobody/position",
                    json={"lon": 118.5, "lat": 28.9, "at": WHEN})
    assert r.status_code == 404
    r = client.post("/api/v1/teams/CS01-zfd/position",
                    json={"lon": 120.5, "lat": 30.9, "at": WHEN})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "lon/lat"


def test_api_position_update_moves_the_team(client):
    r = client.post("/api/v1/teams/CS02-zfd/position",
                    json={"lon": 118.515, "lat": 28.902, "at": NOW.isoformat()})
    assert r.status_code == 200
    body = client.post("/api/v1/incidents", json=incident(external_id="H-9")).json()
    live = {c["team_id"]: c["position"]["source"]
            for c in body["recommendation"]["shortlist"]}
    assert live.get("CS02-zfd", "live") == "live"


def test_api_whistle_fans_out_to_departments(client):
    r = client.post("/api/v1/whistles", json={
        "township": "辉埠镇", "departments": ["sthj", "zrzy"], "description": "矿山非法开采",
        "raised_by": "辉埠镇平台"})
    assert r.status_code == 201
    s = r.json()
    assert [d["state"] for d in s["departments"]] == ["summoned", "summoned"]
    bad = client.post("/api/v1/whistles", json={
        "township": "辉埠镇", "departments": ["nosuch"], "description": "x", "raised_by": "y"})
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "departments"


def test_cli_dispatch_and_replay(tmp_path, monkeypatch, changshan):
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    r = runner.invoke(cli, ["dispatch", "--json"], input=json.dumps(incident()))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ticket"]["state"] == "received"
    r = runner.invoke(cli, ["dispatch"], input=json.dumps(incident(matter_code="ZZ999")))
    assert r.exit_code == 2 and "matter_code" in r.output
    cat = load_catalog(bundled_catalog_path(), changshan)
    csv = tmp_path / "in.csv"
    synthetic_incidents(changshan, sorted(cat.matters), 500, seed=9).to_csv(csv, index=False)
    out = tmp_path / "out.csv"
    r = runner.invoke(cli, ["replay", str(csv), "--out", str(out)])
    assert r.exit_code == 0, r.output
    import pandas as pd
    res = pd.read_csv(out, keep_default_na=False)
    assert len(res) == 500 and set(res["authority_kind"]) <= {
        "township", "hub_team", "department", "platform_office"}
    bad = tmp_path / "bad.csv"
    bad.write_text("matter_code,lon,lat,reported_at\nSR001,118.5,28.9,2025-01-01T09:00:00\n")
    r = runner.invoke(cli, ["replay", str(bad)])
    assert r.exit_code == 2 and "time zone" in r.output
