"""The zone leader's planning tab, as headless Chromium draws it and as a zone leader uses it.

A real uvicorn server runs with a seeded store. A routes job created over the API and opened
at ``/?plan=JOBID`` must draw one line per crew, every stop numbered in its crew's order, the
crews' bases and the visits left out, and list the crews; the DOM is read after the page's
scripts ran. Another test drives the tab over the DevTools protocol: plan a day with the
"Plan routes" button, then insert an urgent inspection into it. The browser cannot resolve
any other host, as on the office machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from _live import find_chromium, serving_district  # tests/ is on sys.path under pytest
from test_web_console import WINDOW, _Cdp, _Dom, _keep, _run_chromium

from geo.boundaries import District

pytestmark = pytest.mark.browser

# Small enough for a browser test: 8 sampled objects of one street, a 2 s search.
ZONE, DAY = "紫港片区", "2025-03-04"
ROUTES = {"zone": ZONE, "date": DAY, "sample_objects": 8, "time_limit_s": 2}
URGENT_OBJECT = "CS02-0010"


@pytest.fixture(scope="module")
def chromium() -> str:
    return find_chromium()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, changshan: District) -> Iterator[str]:
    """Base URL of the app on a free loopback port, serving a store seeded with Changshan."""
    with serving_district(tmp_path_factory.mktemp('plan'), changshan) as base:
        yield base


def _finished(base: str, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = httpx.get(f"{base}/api/v1/plans/jobs/{job_id}").json()
        if status["state"] in ("done", "failed"):
            assert status["state"] == "done", status
            return status
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} did not finish")


@pytest.fixture(scope="module")
def routes_job(server: str) -> tuple[str, dict[str, Any]]:
    """(job id, result) of a small routes job submitted over the API."""
    r = httpx.post(f"{server}/api/v1/plans/routes", json=ROUTES, timeout=30)
    assert r.status_code == 202, r.text
    job = _finished(server, r.json()["id"])["id"]
    return job, httpx.get(f"{server}/api/v1/plans/jobs/{job}/result").json()


def _dump(chromium: str, tmp_path: Path, url: str) -> _Dom:
    dom = _Dom()
    dom.feed(_run_chromium(chromium, tmp_path / "profile", "--dump-dom", url).stdout)
    return dom


def _stroke(result: dict[str, Any]) -> dict[str, str]:
    return {f["properties"]["crew_id"]: f["properties"]["stroke"]
            for f in result["geojson"]["features"] if f["properties"]["kind"] == "route"}


def test_deep_link_draws_each_crews_route_its_numbered_stops_and_lists_the_crews(
        chromium: str, server: str, routes_job: tuple[str, dict[str, Any]],
        tmp_path: Path) -> None:
    job, plan = routes_job
    dom = _dump(chromium, tmp_path, f"{server}/?plan={job}")
    body = dom.find("body")[0]
    assert (body.get("data-plan-state"), body.get("data-plan-job"),
            body.get("data-plan-mode")) == ("drawn", job, "plan")

    # One line per crew that goes out, in the crew's colour of the GeoJSON export.
    out = [r for r in plan["routes"] if r["stops"]]
    assert out, "the sample day should route some visits"
    lines = dom.find("path", cls="ws-plan-route", attr="data-crew-id")
    assert sorted(p["data-crew-id"] for p in lines) == sorted(r["crew_id"] for r in out)
    stroke = _stroke(plan)
    for p in lines:
        assert p["d"].startswith("M") and p["stroke"] == stroke[p["data-crew-id"]]
    assert body["data-plan-routes-drawn"] == str(len(out))

    # Every stop, numbered in its crew's order.
    stops = dom.find("div", cls="ws-plan-stop-icon", attr="data-visit-id")
    assert sorted((s["data-crew-id"], int(s["data-seq"]), s["data-visit-id"]) for s in stops) \
        == sorted((r["crew_id"], k + 1, st["visit_id"]) for r in out
                  for k, st in enumerate(r["stops"]))
    joint = {st["visit_id"] for r in out for st in r["stops"] if st["joint"]}
    assert {s["data-visit-id"] for s in stops if s["data-joint"] == "true"} == joint

    # Bases of every crew, and each visit left out on a grey mark.
    bases = dom.find("div", cls="ws-plan-base-icon", attr="data-crews")
    assert sorted(c for b in bases for c in b["data-crews"].split()) == sorted(
        c["id"] for c in plan["crews"])
    left = dom.find("div", cls="ws-plan-left-icon", attr="data-visit-ids")
    assert sorted(v for m in left for v in m["data-visit-ids"].split()) == sorted(
        x["visit_id"] for x in plan["left_out"])

    # The panel lists the crews with their stops, the visits left out with their reasons,
    # and says the travel times are straight-line estimates.
    cards = dom.find("li", cls="ws-plan-crew", attr="data-crew-id")
    assert [(c["data-crew-id"], int(c["data-stops"])) for c in cards] == [
        (c["id"], len(next(r for r in plan["routes"] if r["crew_id"] == c["id"])["stops"]))
        for c in plan["crews"]]
    crews = dom.text_of("ws-plan-crews")
    for c in plan["crews"]:
        assert f"{len(c['officers'])} officers" in crews
    for r in out:
        assert f"{r['departure']}–{r['return']}" in crews
    lefts = dom.find("li", cls="ws-plan-left-item", attr="data-visit-id")
    assert [x["data-visit-id"] for x in lefts] == [x["visit_id"] for x in plan["left_out"]]
    reasons = dom.text_of("ws-plan-left-out")
    for x in plan["left_out"]:
        assert " ".join(x["reason"].split()) in reasons
    assert plan["eta_source"] == "estimate"
    eta = dom.find("div", attr="data-eta-source")[0]
    assert eta["data-eta-source"] == "estimate" and "straight-line" in dom.text_of("ws-plan-eta")

    link = dom.find("a", attr="download")[0]
    assert link["href"] == f"api/v1/plans/jobs/{job}/routes.geojson"
    geo = httpx.get(f"{server}/{link['href']}").json()
    assert geo["type"] == "FeatureCollection"
    # The live layers made way for the plan.
    assert dom.find("div", cls="ws-team-icon") == []


def test_deep_link_to_an_unknown_job_says_so(chromium: str, server: str,
                                            tmp_path: Path) -> None:
    dom = _dump(chromium, tmp_path, f"{server}/?plan=nosuchjob")
    assert dom.find("body")[0].get("data-plan-state") == "error"
    assert "No job nosuchjob" in dom.text_of("ws-plan-msg")
    assert dom.find("path", cls="ws-plan-route") == []


def test_screenshot_shows_every_crews_route(chromium: str, server: str,
                                           routes_job: tuple[str, dict[str, Any]],
                                           tmp_path: Path) -> None:
    from PIL import Image

    job, plan = routes_job
    png = tmp_path / "whistle_plan.png"
    _run_chromium(chromium, tmp_path / "profile", f"--screenshot={png}",
                  f"{server}/?plan={job}")
    _keep(png, "whistle_plan.png")
    with Image.open(png) as im:
        assert im.size == WINDOW
        shot = np.asarray(im.convert("RGB"), dtype=int)
    on_map = shot[60:, 410:]

    def near(region: np.ndarray, hex_colour: str) -> int:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(region - rgb).max(axis=2) <= 8).sum())

    for crew, colour in _stroke(plan).items():
        assert near(on_map, colour) > 300, f"{crew} {colour}"
    if plan["left_out"]:
        assert near(on_map, "#808080") > 60


def _set(page: _Cdp, ident: str, value: str) -> None:
    page.js(f"(function () {{ var n = document.getElementById({ident!r}); n.value = {value!r};"
            " n.dispatchEvent(new Event('input')); n.dispatchEvent(new Event('change')); }())")


def _plan_tab(page: _Cdp, server: str) -> None:
    """Open the map page, switch to the Plan tab and choose the zone."""
    page.call("Page.navigate", page.session, url=f"{server}/")
    page.wait("document.body && document.body.dataset.planReady === 'true'")
    page.js("document.getElementById('ws-tab-plan').click()")
    assert page.js("document.body.dataset.planMode") == "plan"
    _set(page, "ws-plan-zone", ZONE)


def test_zone_leader_plans_the_day_then_inserts_an_urgent_inspection(
        chromium: str, server: str, tmp_path: Path) -> None:
    page = _Cdp(chromium, tmp_path / "profile")
    try:
        _plan_tab(page, server)
        assert page.js("getComputedStyle(document.getElementById('ws-ticket-list'))"
                       ".display") == "none"
        _set(page, "ws-plan-date", DAY)
        _set(page, "ws-plan-sample", "8")
        _set(page, "ws-plan-time", "2")
        page.js("document.getElementById('ws-plan-run').click()")
        assert page.wait("document.body.dataset.planState === 'drawn'")

        job = page.js("document.body.dataset.planJob")
        status = httpx.get(f"{server}/api/v1/plans/jobs/{job}").json()
        assert status["kind"] == "routes" and status["params"] | ROUTES == status["params"]
        # The solver's progress lines, as the job reported them.
        log = page.js("Array.from(document.querySelectorAll('#ws-plan-log li'))"
                      ".map(function (li) { return li.lastChild.textContent; })")
        assert log == [p["message"].strip() for p in status["progress"]]
        plan = httpx.get(f"{server}/api/v1/plans/jobs/{job}/result").json()
        assert page.js("document.querySelectorAll('.ws-plan-stop-icon[data-visit-id]').length") \
            == sum(len(r["stops"]) for r in plan["routes"])
        assert page.js("location.search") == f"?plan={job}"

        # Urgent insert: an object with no visit today, sent to the zone's township team.
        assert URGENT_OBJECT not in {v["object_id"] for v in plan["visits"]}
        _set(page, "ws-plan-object", URGENT_OBJECT)
        _set(page, "ws-plan-at", "10:00")
        assert "CS02-zfd" in page.js("document.getElementById('ws-plan-unit-hint').textContent")
        page.js("document.getElementById('ws-plan-insert-run').click()")
        assert page.wait("document.body.dataset.planInsert === 'done' && "
                         "document.body.dataset.planState === 'drawn'", timeout=30)
        ins = page.js("document.body.dataset.planJob")
        assert ins != job
        status = httpx.get(f"{server}/api/v1/plans/jobs/{ins}").json()
        assert status["kind"] == "insert"
        assert (status["params"]["plan_job_id"], status["params"]["object_id"],
                status["params"]["units"], status["params"]["at"]) == (
            job, URGENT_OBJECT, ["CS02-zfd"], "10:00")
        out = httpx.get(f"{server}/api/v1/plans/jobs/{ins}/result").json()
        assert out["inserted"] is True
        moved = page.js("document.getElementById('ws-plan-moved').textContent")
        assert moved.startswith(f"Moved {out['moved']} stop")
        assert page.js("Array.from(document.querySelectorAll('.ws-plan-moves li'))"
                       ".map(function (li) { return li.dataset.visitId; })") == [
            m["visit_id"] for m in out["moved_stops"]]
        urgent = page.js("Array.from(document.querySelectorAll("
                         "'.ws-plan-stop-icon[data-urgent=\"true\"]')).map(function (n) {"
                         " return [n.dataset.objectId, n.dataset.crewId]; })")
        assert urgent == [[URGENT_OBJECT, out["crew"]]]
        assert page.js("document.querySelectorAll('.ws-plan-stop-icon[data-visit-id]').length") \
            == sum(len(r["stops"]) for r in out["plan"]["routes"])
        assert page.js("document.getElementById('ws-plan-geojson').getAttribute('href')") \
            == f"api/v1/plans/jobs/{ins}/routes.geojson"
    finally:
        page.close()


NIGHT_PRONE = ["CS02-0002", "CS02-0010", "CS02-0016", "CS02-0021", "CS02-0047", "CS02-0048",
               "CS02-0053", "CS02-0069", "CS02-0085", "CS02-0104", "CS02-0121", "CS02-0248"]


def test_night_duty_plan_shows_its_duty_and_leaves_day_visits_off_the_map(
        chromium: str, server: str, tmp_path: Path) -> None:
    r = httpx.post(f"{server}/api/v1/plans/calendar", timeout=30, json={
        "zone": ZONE, "start": "2025-03-01", "end": "2025-04-01", "time_limit_s": 3,
        "object_ids": NIGHT_PRONE})
    cal = _finished(server, r.json()["id"])["id"]
    days = httpx.get(f"{server}/api/v1/plans/jobs/{cal}/result").json()["days"]
    both = [d for d in days if {v["duty"] for v in d["visits"]} == {"day", "night"}]
    assert both, "the calendar should have a day with day and night visits"
    day = max(both, key=lambda d: sum(v["duty"] == "night" for v in d["visits"]))
    r = httpx.post(f"{server}/api/v1/plans/routes", timeout=30, json={
        "zone": ZONE, "date": day["date"], "calendar_job_id": cal, "duty": "night",
        "time_limit_s": 2})
    job = _finished(server, r.json()["id"])["id"]
    plan = httpx.get(f"{server}/api/v1/plans/jobs/{job}/result").json()
    assert plan["other_duty"] and {x["kind"] for x in plan["other_duty"]} == {"day_duty"}

    dom = _dump(chromium, tmp_path, f"{server}/?plan={job}")
    assert dom.find("body")[0].get("data-plan-state") == "drawn"
    note = dom.find("p", attr="data-count")
    assert [n["data-count"] for n in note] == [str(len(plan["other_duty"]))]
    assert "choose Duty day" in dom.text_of("ws-plan-other-duty")
    # Only this plan's visits are on the map: the day visits are not drawn as left out.
    left = dom.find("div", cls="ws-plan-left-icon", attr="data-visit-ids")
    assert sorted(v for m in left for v in m["data-visit-ids"].split()) == sorted(
        x["visit_id"] for x in plan["left_out"])
    stops = dom.find("div", cls="ws-plan-stop-icon", attr="data-visit-id")
    night = {v["id"] for v in plan["visits"] if v["duty"] == "night"}
    assert stops and {s["data-visit-id"] for s in stops} <= night


def test_zone_leader_plans_a_calendar_in_the_panel_then_routes_a_day_of_it(
        chromium: str, server: str, tmp_path: Path) -> None:
    page = _Cdp(chromium, tmp_path / "profile")
    try:
        _plan_tab(page, server)
        page.js("document.getElementById('ws-plan-calbox').open = true")
        _set(page, "ws-plan-cal-from", "2025-03")
        _set(page, "ws-plan-cal-span", "1")
        _set(page, "ws-plan-cal-time", "3")
        page.js("document.getElementById('ws-plan-cal-run').click()")
        assert page.wait("document.body.dataset.planCalendar === 'done'", timeout=60)

        facts = page.js("Object.assign({}, document.getElementById('ws-plan-cal-facts')"
                        ".dataset)")
        job = facts["job"]
        status = httpx.get(f"{server}/api/v1/plans/jobs/{job}").json()
        assert status["kind"] == "calendar" and status["params"]["zone"] == ZONE
        assert (status["params"]["start"], status["params"]["end"]) == ("2025-03-01",
                                                                        "2025-04-01")
        plan = httpx.get(f"{server}/api/v1/plans/jobs/{job}/result").json()
        assert (int(facts["visits"]), int(facts["baseline"]), int(facts["night"]),
                int(facts["unplaced"])) == (
            plan["metrics"]["visits"]["whistle"], plan["metrics"]["visits"]["baseline"],
            plan["summary"]["night_visits"], plan["summary"]["checks_unplaced"])
        why = page.js("Array.from(document.querySelectorAll('#ws-plan-cal-why li'))"
                      ".map(function (li) { return li.textContent; })")
        reasons = {u["reason"] for u in plan["unplaced"]}
        assert bool(why) == bool(reasons)
        assert all(w.split(": ", 1)[1] in reasons for w in why)
        hrefs = page.js("Array.from(document.querySelectorAll('#ws-plan-cal-out a'))"
                        ".map(function (a) { return a.getAttribute('href'); })")
        assert hrefs == [f"api/v1/plans/jobs/{job}/export.csv",
                         f"api/v1/plans/jobs/{job}/export.xlsx"]
        assert httpx.get(f"{server}/{hrefs[0]}").status_code == 200
        # The new calendar is the source of the next routes.
        assert page.js("document.getElementById('ws-plan-calendar').value") == job
        assert page.js("document.getElementById('ws-plan-use-calendar').checked") is True
        busy = max(plan["days"], key=lambda d: len(d["visits"]))["date"]
        _set(page, "ws-plan-date", busy)
        _set(page, "ws-plan-time", "2")
        page.js("document.getElementById('ws-plan-run').click()")
        assert page.wait("document.body.dataset.planState === 'drawn'", timeout=60)
        routes = page.js("document.body.dataset.planJob")
        params = httpx.get(f"{server}/api/v1/plans/jobs/{routes}").json()["params"]
        assert (params["calendar_job_id"], params["date"], params["duty"]) == (job, busy, "day")
    finally:
        page.close()
