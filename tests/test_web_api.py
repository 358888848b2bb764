"""The web service: boundaries and locate API, health check, map page, served from the store."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from shapely.ops import polylabel

from geo.boundaries import District
from geo.crs import wgs84_to_gcj02
from geo.store import open_store
from web.app import create_app
from web.map import ZONE_COLOURS, attribution, render_map, zone_colours


@pytest.fixture(scope="module")
def loaded_url(tmp_path_factory: pytest.TempPathFactory, changshan: District) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'whistle.db'}"
    with open_store(url) as store:
        store.save_district(changshan)
    return url


@pytest.fixture(scope="module")
def client(loaded_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(loaded_url)) as c:
        yield c


def _inner_point(geom: shapely.Geometry) -> shapely.Point:
    """A point well inside a township (pole of inaccessibility of its largest part)."""
    parts = list(getattr(geom, "geoms", [geom]))
    return polylabel(max(parts, key=lambda p: p.area), tolerance=1e-4)


class _Assets(HTMLParser):
    """URLs a page makes the browser fetch: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = a.get("src") if tag in ("script", "img") else a.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


# -- boundaries --------------------------------------------------------------------------

def test_townships_layer_has_every_township_with_its_zone_and_cluster(
        client: TestClient, changshan: District) -> None:
    r = client.get("/api/v1/boundaries/townships")
    assert r.status_code == 200
    doc = r.json()
    assert doc["type"] == "FeatureCollection" and doc["district"] == "changshan"
    props = {f["properties"]["code"]: f["properties"] for f in doc["features"]}
    assert sorted(props) == [f"CS{i:02d}" for i in range(1, 15)]
    for t in changshan.townships:
        zone = changshan.area_of(t.code, "zone")
        cluster = changshan.area_of(t.code, "cluster")
        assert props[t.code]["name"] == t.name
        assert props[t.code]["zone"] == (zone.name if zone else None)
        assert props[t.code]["is_hub"] == bool(cluster and cluster.hub == t.code)
    hubs = sorted(p["name"] for p in props.values() if p["is_hub"])
    assert hubs == sorted(["辉埠镇", "球川镇", "青石镇", "芳村镇"])


def test_zones_layer_dissolves_member_townships(client: TestClient, changshan: District) -> None:
    feats = client.get("/api/v1/boundaries/zones").json()["features"]
    assert len(feats) == 7
    by_name = {f["properties"]["name"]: f for f in feats}
    fangcun = by_name["芳村片区"]
    assert sorted(fangcun["properties"]["members"]) == sorted(["芳村镇", "东案乡", "新昌乡"])
    members = shapely.union_all([changshan.township(m).geometry
                                 for m in ("CS07", "CS13", "CS14")])
    got = shape(fangcun["geometry"])
    assert got.symmetric_difference(members).area / members.area < 1e-9


def test_clusters_layer_names_each_hub(client: TestClient) -> None:
    feats = client.get("/api/v1/boundaries/clusters").json()["features"]
    assert sorted(f["properties"]["hub"] for f in feats) == sorted(
        ["辉埠镇", "球川镇", "青石镇", "芳村镇"])


def test_unknown_layer_is_404_naming_layer_and_allowed_values(client: TestClient) -> None:
    r = client.get("/api/v1/boundaries/roads")
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert detail["field"] == "layer"
    assert "'roads'" in detail["message"]
    assert detail["allowed"] == ["townships", "zones", "clusters"]


def test_district_not_in_store_is_404_listing_stored_ones(client: TestClient) -> None:
    r = client.get("/api/v1/boundaries/zones", params={"district": "huli"})
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert detail["field"] == "district" and detail["stored"] == ["changshan"]
    assert "whistle boundaries load data/boundaries/huli" in detail["message"]


def test_malformed_district_code_is_422(client: TestClient) -> None:
    r = client.get("/api/v1/boundaries/zones", params={"district": "../etc"})
    assert r.status_code == 422
    assert r.json()["detail"]["field"] == "district"
    assert r.json()["detail"]["errors"][0]["loc"] == ["query", "district"]


# -- locate ------------------------------------------------------------------------------

def test_locate_puts_a_point_inside_each_township_in_that_township(
        client: TestClient, changshan: District) -> None:
    for t in changshan.townships:
        pt = _inner_point(t.geometry)
        r = client.get("/api/v1/locate", params={"lon": pt.x, "lat": pt.y})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["township_code"] == t.code, t.name
        zone = changshan.area_of(t.code, "zone")
        assert body["zone"] == (zone.name if zone else None)


def test_locate_hub_member_reports_its_hub(client: TestClient, changshan: District) -> None:
    pt = _inner_point(changshan.township("何家乡").geometry)
    body = client.get("/api/v1/locate", params={"lon": pt.x, "lat": pt.y}).json()
    assert body["zone"] == "辉埠片区"
    assert body["cluster"] == "辉埠镇"


def test_locate_converts_gcj02_input(client: TestClient, changshan: District) -> None:
    pt = _inner_point(changshan.township("CS01").geometry)
    glon, glat = wgs84_to_gcj02([pt.x], [pt.y])
    # The offset is hundreds of metres: reading GCJ-02 as WGS84 would land elsewhere.
    body = client.get("/api/v1/locate",
                      params={"lon": glon[0], "lat": glat[0], "crs": "gcj02"}).json()
    assert body["township_code"] == "CS01"
    assert body["input_crs"] == "gcj02"
    assert np.allclose([body["lon"], body["lat"]], [pt.x, pt.y], atol=1e-6)


def test_locate_outside_the_county_says_why(client: TestClient) -> None:
    body = client.get("/api/v1/locate", params={"lon": 120.2, "lat": 30.3}).json()
    assert body["township"] is None
    assert "outside" in body["reason"]


@pytest.mark.parametrize(("params", "field"), [
    ({"lat": 28.9}, "lon"),
    ({"lon": 118.5}, "lat"),
    ({"lon": "east", "lat": 28.9}, "lon"),
    ({"lon": 118.5, "lat": 95}, "lat"),
    ({"lon": 181, "lat": 28.9}, "lon"),
    ({"lon": 118.5, "lat": "nan"}, "lat"),
    ({"lon": 118.5, "lat": 28.9, "crs": "bd09"}, "crs"),
])
def test_bad_locate_input_is_422_naming_the_field(
        client: TestClient, params: dict, field: str) -> None:
    r = client.get("/api/v1/locate", params=params)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["field"] == field and detail["message"]
    assert [e["loc"] for e in detail["errors"]] == [["query", field]]


# -- health and availability --------------------------------------------------------------

def test_healthz_reports_store_and_loaded_district(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["store_reachable"] is True
    assert body["store"] == "sqlite" and body["stored_districts"] == ["changshan"]


def test_empty_store_answers_503_with_the_load_command(sqlite_url: str) -> None:
    hint = "whistle boundaries load data/boundaries/changshan"
    with TestClient(create_app(sqlite_url)) as c:
        health = c.get("/healthz")
        assert health.status_code == 503 and hint in health.json()["message"]
        for path in ("/api/v1/boundaries/townships", "/api/v1/locate?lon=118.5&lat=28.9"):
            r = c.get(path)
            assert r.status_code == 503, path
            assert r.json()["detail"]["hint"] == hint
        page = c.get("/")
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert hint in page.text


def test_district_loaded_after_start_is_served_without_restart(
        sqlite_url: str, changshan: District) -> None:
    with TestClient(create_app(sqlite_url)) as c:
        assert c.get("/api/v1/boundaries/zones").status_code == 503
        with open_store(sqlite_url) as store:
            store.save_district(changshan)
        assert c.get("/healthz").status_code == 200
        assert len(c.get("/api/v1/boundaries/zones").json()["features"]) == 7


def test_unreachable_store_is_503_not_a_crash(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'whistle.db'}"
    with TestClient(create_app(url)) as c:
        health = c.get("/healthz").json()
        assert health["store_reachable"] is False and health["status"] == "unavailable"
        assert c.get("/api/v1/boundaries/zones").status_code == 503
        assert c.get("/").status_code == 503


def test_api_serves_from_postgis(postgis_url: str, changshan: District) -> None:
    with open_store(postgis_url) as store:
        store.save_district(changshan)
    with TestClient(create_app(postgis_url)) as c:
        assert c.get("/healthz").json()["store"] == "postgresql"
        assert len(c.get("/api/v1/boundaries/townships").json()["features"]) == 14
        pt = _inner_point(changshan.township("CS05").geometry)
        assert c.get("/api/v1/locate", params={"lon": pt.x, "lat": pt.y}).json()[
            "township"] == "球川镇"


# -- the map page -------------------------------------------------------------------------

def test_map_page_loads_only_assets_the_app_serves(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    parser = _Assets()
    parser.feed(r.text)
    assert any(u.endswith("/vendor/leaflet/leaflet.js") for u in parser.urls)
    for url in parser.urls:
        assert url.startswith("/static/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".css"):  # nothing fetched from elsewhere through CSS either
            refs = re.findall(r"url\(([^)]*)\)", asset.text)
            assert not [u for u in refs if re.match(r"['\"]?(https?:)?//", u)], url
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", r.text)


def test_map_page_has_legend_of_every_zone_and_layer_control(
        client: TestClient, changshan: District) -> None:
    page = client.get("/").text
    legend = re.findall(r'class="ws-legend-zone" data-zone="([^"]+)"', page)
    assert legend == [z.code for z in changshan.zones]
    for z in changshan.zones:
        assert z.name in page
    assert "L.control.layers" in page


def test_map_building_leaves_folium_defaults_alone(changshan: District) -> None:
    import folium

    before = list(folium.Map.default_js)
    html = render_map(changshan, static_url="/assets")
    assert folium.Map.default_js == before  # the CDN override is per map, not global
    assert "/assets/vendor/leaflet/leaflet.js" in html
    assert "cdn.jsdelivr" not in html and "jquery" not in html.lower()


def test_every_zone_gets_its_own_colour(changshan: District) -> None:
    colours = zone_colours(changshan)
    assert len(set(colours.values())) == len(changshan.zones) == 7
    assert set(colours.values()) <= set(ZONE_COLOURS)


def test_attribution_names_the_recorded_source(changshan: District) -> None:
    sourced = dataclasses.replace(
        changshan, meta={**changshan.meta, "source": {"name": "Example survey", "licence": "X"}})
    assert "Example survey" in attribution(sourced)
    bare = dataclasses.replace(changshan, meta={})
    assert "not recorded" in attribution(bare)
