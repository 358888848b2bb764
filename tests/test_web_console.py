"""The dispatch console: its API, the page as headless Chromium draws it, and a dispatcher at it.

The API tests check that the shortlist for a stored ticket is the dispatcher's own decision with
the loads of the moment. The browser tests run a real uvicorn server with a seeded store (the
tickets and positions below are made up for the test), read the DOM after the console script
ran, and drive the page over the DevTools protocol to assign a ticket and to lose an assign
race (409). External hosts are unresolvable for the browser, as on the office machine.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from _live import find_chromium, serving  # tests/ is on sys.path under pytest
from fastapi.testclient import TestClient

from dispatch.dispatcher import Dispatcher
from dispatch.tickets.models import Authority, TicketDraft
from dispatch.tickets.service import create_ticket, get_ticket
from geo.boundaries import District
from geo.store import open_store
from web.api.console import incident_of
from web.app import create_app

NOW = datetime.now(UTC)
# Same browser and flags as tests/test_web_browser.py.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1400, 900)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
)
# Screenshots are kept here when set (CI artefacts, or to look at the page by eye).
SCREENSHOT_DIR = "WHISTLE_SCREENSHOT_DIR"


def incident(**kw: Any) -> dict[str, Any]:
    body = {"source": "hotline_12345", "external_id": "H-1", "matter_code": "SR001",
            "lon": 118.52, "lat": 28.90, "reported_at": (NOW - timedelta(hours=2)).isoformat()}
    body.update(kw)
    return body


# -- API ----------------------------------------------------------------------------------------


@pytest.fixture
def client(sqlite_url: str, changshan: District) -> Iterator[TestClient]:
    with open_store(sqlite_url) as s:
        s.save_district(changshan)
    with TestClient(create_app(sqlite_url)) as c:
        yield c


def test_shortlist_of_a_stored_ticket_is_the_dispatchers_decision_with_current_loads(
        client: TestClient, changshan: District, sqlite_url: str) -> None:
    first = client.post("/api/v1/incidents", json=incident(external_id="H-1")).json()["ticket"]
    second = client.post("/api/v1/incidents", json=incident(external_id="H-2", lon=118.515,
                                                            lat=28.905)).json()["ticket"]
    r = client.post(f"/api/v1/tickets/{first['id']}/transitions", json={
        "to_state": "assigned", "actor": "d1", "team_id": "CS01-zfd",
        "expected_version": first["version"]})
    assert r.status_code == 200

    got = client.get(f"/api/v1/tickets/{second['id']}/recommendation")
    assert got.status_code == 200
    body = got.json()
    with open_store(sqlite_url) as store:
        ticket = get_ticket(store, second["id"])
    want = Dispatcher.for_district(changshan).decide(
        incident_of(ticket), {"CS01-zfd": 1}, received_at=ticket.received_at).as_dict()
    assert body["recommendation"]["shortlist"] == want["recommendation"]["shortlist"]
    assert body["recommendation"]["excluded"] == want["recommendation"]["excluded"]
    assert body["competent_authority"] == want["competent_authority"]
    assert body["sla"] == want["sla"]
    # The street team now works on the first ticket: the shortlist says so.
    top = body["recommendation"]["shortlist"][0]
    assert top["team_id"] == "CS01-zfd" and top["load"] == 1
    assert {"code": "load.open_tickets", "zh": "在办工单1件", "en": "1 open ticket(s)",
            "source": "", "on": None} in top["reasons"]
    # ... and it comes with the version an assignment must quote.
    assert body["ticket"]["id"] == second["id"] and body["ticket"]["version"] == 1


def test_recommendation_of_unknown_or_unclassified_ticket_names_the_field(
        client: TestClient, sqlite_url: str) -> None:
    r = client.get("/api/v1/tickets/4242/recommendation")
    assert r.status_code == 404 and r.json()["detail"]["field"] == "ticket_id"
    with open_store(sqlite_url) as store:
        bare, _ = create_ticket(store, TicketDraft(source="patrol", district="changshan",
                                                   lon=118.52, lat=28.90, actor="p1"))
    r = client.get(f"/api/v1/tickets/{bare.id}/recommendation")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "matter_code"


def test_live_snapshot_puts_overdue_first_then_newest_and_counts_loads(
        client: TestClient, changshan: District, sqlite_url: str) -> None:
    older = client.post("/api/v1/incidents", json=incident(external_id="H-1")).json()["ticket"]
    newer = client.post("/api/v1/incidents", json=incident(external_id="H-2")).json()["ticket"]
    late = _overdue_ticket(sqlite_url, changshan)
    client.post(f"/api/v1/tickets/{older['id']}/transitions", json={
        "to_state": "assigned", "actor": "d1", "team_id": "CS01-zfd",
        "expected_version": older["version"]})
    at = (NOW - timedelta(minutes=3)).isoformat()
    client.post("/api/v1/teams/CS02-zfd/position", json={"lon": 118.54, "lat": 28.93, "at": at})

    live = client.get("/api/v1/console/live").json()
    assert [t["id"] for t in live["tickets"]] == [late, newer["id"], older["id"]]
    assert [t["overdue"] for t in live["tickets"]] == [True, False, False]
    assert live["counts"] | {"by_state": None} == {
        "open": 3, "overdue": 1, "awaiting_dispatch": 2, "by_state": None, "teams": 20,
        "teams_on_duty": sum(t.duty == "on_duty" for t in
                             Dispatcher.for_district(changshan).registry.teams)}
    row = live["tickets"][2]
    assert (row["state"], row["team_id"], row["team_name"]) == (
        "assigned", "CS01-zfd", "天马街道综合行政执法队")
    assert row["matter_name"] == "对在城市道路两侧和公共场地堆放物料的处罚"
    assert row["township_name"] == "天马街道"
    teams = {t["id"]: t for t in live["teams"]}
    assert teams["CS01-zfd"]["load"] == 1 and teams["CS02-zfd"]["load"] == 0
    assert teams["CS02-zfd"]["shown"] == {"lon": 118.54, "lat": 28.93, "source": "live"}
    assert teams["CS03-zfd"]["shown"]["source"] == "base"
    assert teams["CS03-zfd"]["position"] is None


def test_live_snapshot_draws_a_stale_position_at_the_base(client: TestClient) -> None:
    at = (NOW - timedelta(minutes=40)).isoformat()
    assert client.post("/api/v1/teams/CS02-zfd/position",
                       json={"lon": 118.54, "lat": 28.93, "at": at}).status_code == 200
    team = next(t for t in client.get("/api/v1/console/live").json()["teams"]
                if t["id"] == "CS02-zfd")
    assert team["shown"]["source"] == "base" and team["position"]["age_s"] >= 40 * 60
    assert (team["shown"]["lon"], team["shown"]["lat"]) == (team["base"]["lon"],
                                                            team["base"]["lat"])


def _overdue_ticket(url: str, changshan: District) -> int:
    """A digital city-management case received 12 days ago, stored through the ticket service
    (the deadline counts from receipt, which intake always sets to now)."""
    dispatcher = Dispatcher.for_district(changshan)
    p = changshan.township("CS05").geometry.representative_point()
    when = NOW - timedelta(days=12)
    from dispatch.incidents import parse_incident
    decision = dispatcher.decide(parse_incident(incident(
        source="digital_city", external_id="SZCG-0917", lon=p.x, lat=p.y,
        reported_at=when.isoformat())))
    with open_store(url) as store:
        t, _ = create_ticket(store, TicketDraft(
            source="digital_city", district="changshan", lon=p.x, lat=p.y, actor="feed:test",
            external_id="SZCG-0917", matter_code="SR001", township="CS05",
            zone=decision.location.zone, reported_at=when, received_at=when,
            description="店外堆放建材占道", facts={},
            authority=Authority.from_decision(decision.competence)), policy=dispatcher.sla)
    return t.id


# -- the page in a browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    return find_chromium()


def seed(base: str, url: str, changshan: District) -> dict[str, int]:
    """Made-up console data: two live team positions and four open tickets (one overdue, one
    major, one assigned), sent through the API like the feeds and the field devices do."""
    with httpx.Client(base_url=base, timeout=30) as http:
        for team, lon, lat, minutes in (("CS01-zfd", 118.518, 28.915, 5),
                                        ("city-scjg", 118.548, 28.928, 6)):
            at = (NOW - timedelta(minutes=minutes)).isoformat()
            r = http.post(f"/api/v1/teams/{team}/position",
                          json={"lon": lon, "lat": lat, "at": at})
            assert r.status_code == 200, r.text
        ids: dict[str, int] = {}
        he = changshan.township("CS10").geometry.representative_point()
        for key, body in (
            ("hub", incident(source="grid", external_id="WG-3318", matter_code="SR003",
                             lon=he.x, lat=he.y, description="村道旁焚烧垃圾",
                             reported_at=(NOW - timedelta(minutes=50)).isoformat())),
            ("street", incident(external_id="12345-20240611-0042", lon=118.523, lat=28.902,
                                description="人行道上堆放建筑材料，影响通行",
                                reported_at=(NOW - timedelta(minutes=4)).isoformat())),
            ("major", incident(source="grid", external_id="WG-3321", matter_code="GS003",
                               lon=118.552, lat=28.934, facts={"fine_yuan": 60000},
                               description="商场多家商户未明码标价，涉案金额较大",
                               reported_at=(NOW - timedelta(minutes=2)).isoformat())),
        ):
            r = http.post("/api/v1/incidents", json=body)
            assert r.status_code == 201, r.text
            ids[key] = r.json()["ticket"]["id"]
        hub = http.get(f"/api/v1/tickets/{ids['hub']}").json()
        r = http.post(f"/api/v1/tickets/{ids['hub']}/transitions", json={
            "to_state": "assigned", "actor": "dispatcher-01", "team_id": "CS04-zfd",
            "expected_version": hub["version"]})
        assert r.status_code == 200, r.text
    ids["overdue"] = _overdue_ticket(url, changshan)
    return ids


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory,
            changshan: District) -> Iterator[tuple[str, dict[str, int]]]:
    """(base URL, seeded ticket ids) of the app on a free loopback port."""
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'whistle.db'}"
    with open_store(url) as store:
        store.save_district(changshan)
    with serving(url) as base:
        yield base, seed(base, url, changshan)


def _run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
           "--virtual-time-budget=10000", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


class _Dom(HTMLParser):
    """Start tags with their attributes, and the text under each element with an id."""

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                      "meta", "source", "track", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, list[str]] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag not in self.VOID:
            self._open.append(a.get("id"))
            if a.get("id"):
                self.text.setdefault(a["id"], [])

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident:
                self.text[ident].append(data)

    def find(self, tag: str, cls: str | None = None, attr: str | None = None) -> list[dict]:
        return [a for t, a in self.tags if t == tag
                and (cls is None or cls in a.get("class", "").split())
                and (attr is None or attr in a)]

    def text_of(self, ident: str) -> str:
        return " ".join(" ".join(self.text.get(ident, [])).split())


def _dump_dom(chromium: str, tmp_path: Path, url: str) -> _Dom:
    proc = _run_chromium(chromium, tmp_path / "profile", "--dump-dom", url)
    dom = _Dom()
    dom.feed(proc.stdout)
    return dom


def _keep(png: Path, name: str) -> None:
    target = os.environ.get(SCREENSHOT_DIR)
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, Path(target) / name)


@pytest.mark.browser
def test_console_draws_open_tickets_teams_and_the_list(
        chromium: str, console: tuple[str, dict[str, int]], tmp_path: Path) -> None:
    base, ids = console
    live = httpx.get(f"{base}/api/v1/console/live").json()
    dom = _dump_dom(chromium, tmp_path, base + "/")
    body = dom.find("body")[0]
    assert body.get("data-map-ready") == "true" and body.get("data-console-ready") == "true"

    markers = dom.find("div", cls="ws-ticket-icon", attr="data-ticket-id")
    assert sorted(int(m["data-ticket-id"]) for m in markers) == sorted(
        t["id"] for t in live["tickets"])
    assert set(ids.values()) <= {int(m["data-ticket-id"]) for m in markers}
    assert body["data-tickets-drawn"] == str(len(live["tickets"]))
    by_id = {int(m["data-ticket-id"]): m for m in markers}
    assert by_id[ids["overdue"]]["data-overdue"] == "true"
    assert by_id[ids["hub"]]["data-state"] == "assigned"
    assert {by_id[ids[k]]["data-overdue"] for k in ("hub", "street", "major")} == {"false"}

    teams = dom.find("div", cls="ws-team-icon", attr="data-team-id")
    assert len(teams) == len(live["teams"]) == 20 and body["data-teams-drawn"] == "20"
    live_now = sorted(t["data-team-id"] for t in teams if t["data-position-source"] == "live")
    assert live_now == ["CS01-zfd", "city-scjg"]
    assert {t["data-team-id"]: t["data-load"] for t in teams}["CS04-zfd"] == "1"

    # The panel lists every open ticket, overdue first, then newest first.
    items = dom.find("li", cls="ws-item", attr="data-ticket-id")
    assert [int(i["data-ticket-id"]) for i in items] == [t["id"] for t in live["tickets"]]
    seeded = [int(i["data-ticket-id"]) for i in items if int(i["data-ticket-id"]) in
              ids.values()]
    assert seeded == [ids["overdue"], ids["major"], ids["street"], ids["hub"]]
    assert "ws-item-overdue" in items[0]["class"].split()
    counts = live["counts"]
    assert [dom.text_of(f"ws-count-{k}") for k in ("open", "waiting", "overdue", "on-duty")] \
        == [str(counts["open"]), str(counts["awaiting_dispatch"]), "1",
            f"{counts['teams_on_duty']}/20"]
    overlays = dom.find("input", cls="leaflet-control-layers-selector")
    assert len(overlays) == 8  # the district's six layers, teams and open tickets


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_deep_link_shows_authority_reasons_shortlist_and_exclusions(
        chromium: str, console: tuple[str, dict[str, int]], tmp_path: Path, lang: str) -> None:
    base, ids = console
    tid = ids["major"]
    rec = httpx.get(f"{base}/api/v1/tickets/{tid}/recommendation").json()
    dom = _dump_dom(chromium, tmp_path, f"{base}/?ticket={tid}&lang={lang}")
    body = dom.find("body")[0]
    assert body.get("data-ticket-selected") == str(tid) and body.get("data-detail") == "ready"
    selected = dom.find("div", cls="ws-ticket-icon", attr="data-ticket-id")
    assert [m["data-ticket-id"] for m in selected if m["data-selected"] == "true"] == [str(tid)]

    auth = rec["competent_authority"]
    assert auth["kind"] == "department" and "penalty.major" in [r["code"] for r in
                                                                 auth["reasons"]]
    detail = dom.text_of("ws-detail")
    assert (auth["summary_en"] if lang == "en" else auth["summary_zh"]) in detail
    for r in auth["reasons"]:
        assert r[lang] in detail
    rows = dom.find("div", cls="ws-cand", attr="data-team-id")
    shortlist = rec["recommendation"]["shortlist"]
    assert [r["data-team-id"] for r in rows] == [c["team_id"] for c in shortlist]
    assert len(shortlist) == 2  # the county squad and the city's coordinated team
    for c in shortlist:
        assert c["team_name"] in detail and f"{c['eta_min']:.0f} min" in detail
        for reason in c["reasons"]:
            assert reason[lang] in detail
    buttons = dom.find("button", cls="ws-assign", attr="data-team-id")
    assert [b["data-team-id"] for b in buttons] == [c["team_id"] for c in shortlist]
    assert not any("disabled" in b for b in buttons)  # received: open for assignment
    excluded = dom.find("li", attr="data-team-id")
    assert sorted(e["data-team-id"] for e in excluded) == sorted(
        e["team_id"] for e in rec["recommendation"]["excluded"])


@pytest.mark.browser
def test_screenshots_show_the_live_markers(
        chromium: str, console: tuple[str, dict[str, int]], tmp_path: Path) -> None:
    from PIL import Image

    base, ids = console
    shots = {"whistle_console.png": base + "/",
             "whistle_console_ticket.png": f"{base}/?ticket={ids['major']}"}
    for name, url in shots.items():
        png = tmp_path / name
        _run_chromium(chromium, tmp_path / "profile", f"--screenshot={png}", url)
        _keep(png, name)
        with Image.open(png) as im:
            assert im.size == WINDOW
            shot = np.asarray(im.convert("RGB"), dtype=int)
        assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 200

        def near(region: np.ndarray, hex_colour: str) -> int:
            rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
            return int((np.abs(region - rgb).max(axis=2) <= 6).sum())

        # On the map (right of the panel, below the header): pins of received tickets (two or
        # more in view), the assigned one, and the on-duty team badges.
        on_map = shot[60:, 410:]
        assert near(on_map, "#ea580c") > 250, name
        assert near(on_map, "#2563eb") > 100, name
        assert near(on_map, "#16a34a") > 1000, name
        # In the header: the overdue counter turned red.
        assert near(shot[:56], "#dc2626") > 2000, name


# -- driving the page: assign, and lose a race ----------------------------------------------------


class _Cdp:
    """A page driven over the DevTools protocol on ``--remote-debugging-pipe`` (fds 3 and 4)."""

    def __init__(self, chromium: str, profile: Path) -> None:
        # posix_spawn, not fork + preexec_fn: the test server runs in a thread of this process.
        # The child's ends are parked on fds >= 10 so the dup2 onto 3 and 4 cannot clobber
        # each other; every other fd of this process is non-inheritable and stays here.
        child_r, self._w = os.pipe()
        self._r, child_w = os.pipe()
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (child_r, child_w)]
        os.close(child_r)
        os.close(child_w)
        argv = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                "--remote-debugging-pipe", "about:blank"]
        try:
            self.pid = os.posix_spawn(chromium, argv, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_DUP2, ends[0], 3), (os.POSIX_SPAWN_DUP2, ends[1], 4),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
        finally:
            for fd in ends:
                os.close(fd)
        self._buf = b""
        self._next = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 30
        while True:
            while b"\0" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._r], [], [], left)[0]:
                    raise TimeoutError(f"no answer to {method}")
                chunk = os.read(self._r, 1 << 16)
                if not chunk:
                    raise RuntimeError("the browser closed the pipe")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def js(self, expression: str) -> Any:
        """Evaluate in the page (promises awaited) and return the value."""
        res = self.call("Runtime.evaluate", self.session, expression=expression,
                        awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res["result"].get("value")

    def wait(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"page never satisfied {expression}")

    def open(self, url: str) -> None:
        self.call("Page.navigate", self.session, url=url)
        self.wait("document.body && document.body.dataset.detail === 'ready'")

    def close(self) -> None:
        os.close(self._w)  # the browser exits when its pipe closes; make sure after a while
        deadline = time.monotonic() + 10
        while os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                break
            time.sleep(0.05)
        os.close(self._r)


@pytest.fixture
def page(chromium: str, tmp_path: Path) -> Iterator[_Cdp]:
    cdp = _Cdp(chromium, tmp_path / "profile")
    try:
        yield cdp
    finally:
        cdp.close()


def _events(base: str, tid: int) -> list[dict[str, Any]]:
    return httpx.get(f"{base}/api/v1/tickets/{tid}/events").json()["events"]


def _report(base: str, **kw: Any) -> int:
    """A new ticket of its own, so the seeded ones stay as the other tests read them."""
    r = httpx.post(f"{base}/api/v1/incidents",
                   json=incident(reported_at=(NOW - timedelta(minutes=1)).isoformat(), **kw))
    assert r.status_code == 201, r.text
    return r.json()["ticket"]["id"]


@pytest.mark.browser
def test_assign_from_the_panel_records_the_dispatcher(
        page: _Cdp, console: tuple[str, dict[str, int]]) -> None:
    base, _ = console
    tid = _report(base, external_id="12345-assign", lon=118.526, lat=28.899)
    page.open(f"{base}/?ticket={tid}")
    # Without a dispatcher id nothing is sent.
    page.js("document.getElementById('ws-actor').value = ''")
    page.js("document.querySelector('.ws-assign').click()")
    assert page.wait("document.querySelector('[data-flash=\"actor\"]') !== null")
    assert httpx.get(f"{base}/api/v1/tickets/{tid}").json()["state"] == "received"

    team = page.js("document.querySelector('.ws-assign').dataset.teamId")
    page.js("document.getElementById('ws-actor').value = 'dispatcher-07'")
    page.js("document.querySelector('.ws-assign').click()")
    assert page.wait("document.body.dataset.assignStatus") == "200"
    flash = page.wait("(document.querySelector('[data-flash=\"assigned\"]') || {}).textContent")
    assert "Assigned to" in flash
    ticket = httpx.get(f"{base}/api/v1/tickets/{tid}").json()
    assert (ticket["state"], ticket["team_id"]) == ("assigned", team)
    assert [(e["to_state"], e["actor"]) for e in _events(base, tid)] == [
        ("received", "feed:hotline_12345"), ("assigned", "dispatcher-07")]
    # The panel reloaded the ticket: it is no longer open for assignment.
    assert page.wait("Array.from(document.querySelectorAll('.ws-assign'))"
                     ".every(function (b) { return b.disabled; })")


@pytest.mark.browser
def test_losing_an_assign_race_shows_the_conflict_and_reloads(
        page: _Cdp, console: tuple[str, dict[str, int]]) -> None:
    base, _ = console
    tid = _report(base, source="grid", external_id="WG-race", matter_code="GS003",
                  lon=118.551, lat=28.935, facts={"fine_yuan": 80000})
    page.open(f"{base}/?ticket={tid}")
    read = page.js("WhistleConsole.state.rec.ticket.version")
    # Someone else assigns it after this page read the ticket.
    r = httpx.post(f"{base}/api/v1/tickets/{tid}/transitions", json={
        "to_state": "assigned", "actor": "dispatcher-02", "team_id": "city-scjg",
        "expected_version": read})
    assert r.status_code == 200
    page.js("document.getElementById('ws-actor').value = 'dispatcher-07'")
    page.js("document.querySelector('.ws-assign[data-team-id=\"dept-scjg\"]').click()")
    assert page.wait("document.body.dataset.assignStatus") == "409"
    flash = page.wait("(document.querySelector('[data-flash=\"conflict\"]') || {}).textContent")
    assert "Someone else assigned it first — reloaded" in flash
    # Reloaded: the panel now holds the new version and shows who has it.
    assert page.wait(f"WhistleConsole.state.rec.ticket.version > {read}")
    detail = page.js("document.getElementById('ws-detail').textContent")
    assert "衢州市市场监管综合执法支队驻常山组" in detail
    ticket = httpx.get(f"{base}/api/v1/tickets/{tid}").json()
    assert (ticket["state"], ticket["team_id"]) == ("assigned", "city-scjg")
    assert [e["actor"] for e in _events(base, tid)] == ["feed:grid", "dispatcher-02"]
