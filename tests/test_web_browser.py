"""The live map as a browser draws it: headless Chromium against a real uvicorn server.

An HTTP 200 proves little about a map page; these tests read the DOM after Leaflet ran (the
township polygons, legend, layers, tooltips) and the pixels of a screenshot. External hosts
are unresolvable for the browser, as on the offline office machine.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from _live import find_chromium, serving_district  # tests/ is on sys.path under pytest

from geo.boundaries import District
from web.map import TOWNSHIP_FILL_OPACITY, zone_colours

pytestmark = pytest.mark.browser

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1400, 900)


@pytest.fixture(scope="module")
def chromium() -> str:
    return find_chromium()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, changshan: District) -> Iterator[str]:
    """Base URL of the app on a free loopback port, serving a store seeded with Changshan."""
    with serving_district(tmp_path_factory.mktemp('browser'), changshan) as base:
        yield base


def _run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=10000", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


class _Dom(HTMLParser):
    """Every start tag with its attributes and the text inside tooltips."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.tooltip_text: list[str] = []
        self._in_tooltip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if self._in_tooltip or "leaflet-tooltip" in a.get("class", "").split():
            self._in_tooltip += 1

    def handle_endtag(self, tag: str) -> None:
        if self._in_tooltip:
            self._in_tooltip -= 1

    def handle_data(self, data: str) -> None:
        if self._in_tooltip:
            self.tooltip_text.append(data)

    def find(self, tag: str, cls: str | None = None, attr: str | None = None) -> list[dict]:
        return [a for t, a in self.tags if t == tag
                and (cls is None or cls in a.get("class", "").split())
                and (attr is None or attr in a)]


def _dump_dom(chromium: str, tmp_path: Path, url: str) -> _Dom:
    proc = _run_chromium(chromium, tmp_path / "profile", "--dump-dom", url)
    dom = _Dom()
    dom.feed(proc.stdout)
    return dom


def test_map_draws_every_township_zone_cluster_and_the_outline(
        chromium: str, server: str, tmp_path: Path, changshan: District) -> None:
    dom = _dump_dom(chromium, tmp_path, server + "/")
    body = dom.find("body")[0]
    assert body.get("data-map-ready") == "true"

    townships = dom.find("path", cls="ws-township", attr="data-township")
    assert sorted(p["data-township"] for p in townships) == sorted(
        t.code for t in changshan.townships)
    assert all("leaflet-interactive" in p["class"].split() for p in townships)  # hover works
    assert all(p.get("d", "").startswith("M") for p in townships)  # really drawn
    colours = zone_colours(changshan)
    for p in townships:
        zone = changshan.area_of(p["data-township"], "zone")
        assert p["fill"] == colours[zone.code]

    assert len(dom.find("path", cls="ws-zone")) == len(changshan.zones) == 7
    assert len(dom.find("path", cls="ws-cluster")) == len(changshan.clusters) == 4
    assert len(dom.find("path", cls="ws-outline")) == 1
    hubs = dom.find("div", cls="ws-hub-icon")
    assert len(hubs) == 4
    assert sorted(h["data-hub"] for h in hubs) == sorted(
        c.hub for c in changshan.clusters if c.hub)
    assert len(dom.find("span", attr="data-township")) == 14  # name labels

    legend = dom.find("li", cls="ws-legend-zone")
    assert [li["data-zone"] for li in legend] == [z.code for z in changshan.zones]
    overlays = dom.find("input", cls="leaflet-control-layers-selector")
    # townships, zones, clusters, outline, names, hubs, and the console's teams and tickets
    assert len(overlays) == 8


def test_page_fetches_nothing_from_other_hosts(chromium: str, server: str,
                                               tmp_path: Path) -> None:
    dom = _dump_dom(chromium, tmp_path, server + "/")
    refs = [a.get("src") for t, a in dom.tags if t in ("script", "img") and a.get("src")]
    refs += [a["href"] for t, a in dom.tags if t == "link" and a.get("href")]
    assert refs, "the page should at least load Leaflet"
    external = [r for r in refs if r.startswith(("http:", "https:", "//"))
                and not r.startswith(server)]
    assert external == []


def test_deep_link_opens_the_township_tooltip(chromium: str, server: str,
                                              tmp_path: Path) -> None:
    dom = _dump_dom(chromium, tmp_path, server + "/?township=CS10")
    assert dom.find("body")[0].get("data-focus") == "CS10"
    text = " ".join(dom.tooltip_text)
    for expected in ("何家乡", "辉埠片区", "辉埠组团", "hub 辉埠镇", "CS10"):
        assert expected in text


def test_screenshot_shows_every_zone_colour(chromium: str, server: str, tmp_path: Path,
                                            changshan: District) -> None:
    from PIL import Image

    png = tmp_path / "map.png"
    _run_chromium(chromium, tmp_path / "profile", f"--screenshot={png}", server + "/")
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == WINDOW
        pixels = np.asarray(im.convert("RGB"), dtype=int).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 200  # a blank or error page has a handful
    # Township fills are translucent over an opaque white base: this exact blend per zone.
    a = TOWNSHIP_FILL_OPACITY
    for zone, hex_colour in zone_colours(changshan).items():
        rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
        want = np.round(a * np.array(rgb) + (1 - a) * 255)
        near = int((np.abs(pixels - want).max(axis=1) <= 3).sum())
        assert near > 1500, f"{zone}: fill {want} covers only {near} px"
