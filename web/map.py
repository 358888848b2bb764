"""The dispatch console page: a district's townships, zones, "1+X" clusters and outline, with the
live teams and open tickets over them and the dispatcher's panel beside them.

:func:`build_map` turns a :class:`geo.boundaries.District` into a folium map; the page must work
on a machine with no internet, so every browser asset is served by Whistle itself under
``static_url`` (Leaflet is vendored in ``web/static/vendor/``, see its README) and there is no
tile layer: the boundaries are drawn on a plain background. folium's own CDN links (jQuery,
Bootstrap, Font Awesome, ...) are replaced, so only folium elements that need nothing but Leaflet
may be used here (no folium ``Popup``, which needs jQuery).

The page itself is static and cached per district: the live layers ("Open tickets", "Teams")
are empty folium groups that ``web/static/js/whistle-console.js`` fills by polling
``/api/v1/console/live``, and the panel's ticket details come from
``/api/v1/tickets/{id}/recommendation``. The panel's second tab, the zone leader's patrol
planning (``web/static/js/whistle-plan.js``), is an empty container here: the script builds
its form and draws the planned routes of ``/api/v1/plans`` jobs (``/?plan=JOBID``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import folium
import shapely
from branca.element import CssLink, Element, JavascriptLink, MacroElement
from folium.map import CustomPane
from folium.template import Template
from folium.utilities import JsCode
from shapely.geometry import mapping

from dispatch.teams.models import DUTY_ZH
from dispatch.tickets.transitions import OPEN_STATES, STATES
from geo.boundaries import District, areas_geojson, townships_geojson

# Tableau 10, a categorical palette: neighbouring zones stay distinguishable and the
# white township borders stay visible on every colour.
ZONE_COLOURS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)
NO_ZONE_COLOUR = "#c4ccd4"
TOWNSHIP_FILL_OPACITY = 0.7
CLUSTER_COLOUR = "#f59e0b"

LEAFLET_VERSION = "1.9.4"

# Layer names as they appear in the layer control (English first, the office's term after).
LAYER_TOWNSHIPS = "Townships 乡镇街道"
LAYER_ZONES = "Zone boundaries 片区"
LAYER_CLUSTERS = '"1+X" clusters 组团'
LAYER_HUBS = "Hub towns 中心镇"
LAYER_LABELS = "Township names"
LAYER_OUTLINE = "County outline 县界"
LAYER_TICKETS = "Open tickets 待办工单"
LAYER_TEAMS = "Teams 执法队伍"

# How often the console asks for fresh tickets and team positions (milliseconds).
POLL_MS = 10_000

KIND_EN = {"街道": "street", "镇": "town", "乡": "rural township"}


def zone_colours(district: District) -> dict[str, str]:
    """Fill colour per zone code, in the order the zones are listed in the district."""
    return {z.code: ZONE_COLOURS[i % len(ZONE_COLOURS)] for i, z in enumerate(district.zones)}


def attribution(district: District) -> str:
    """The line naming where the boundary data comes from (``source`` in ``district.json``).

    ``source`` may be a string or ``{"name": ..., "licence": ...}``; without one the page says
    the source is not recorded rather than inventing one.
    """
    source = district.meta.get("source")
    if isinstance(source, dict):
        parts = [str(source[k]) for k in ("name", "licence", "license") if source.get(k)]
        source = " · ".join(parts)
    if not source:
        source = "source not recorded in district.json"
    return f"Boundaries: {district.name} — {source}"


def _township_style(colours: dict[str, str]) -> Any:
    def style(feature: dict[str, Any]) -> dict[str, Any]:
        zone = feature["properties"].get("zone_code")
        return {
            "fillColor": colours.get(zone, NO_ZONE_COLOUR),
            "fillOpacity": TOWNSHIP_FILL_OPACITY,
            "color": "#ffffff",
            "weight": 1.2,
            "className": "ws-township",
        }
    return style


def _township_highlight(feature: dict[str, Any]) -> dict[str, Any]:
    return {"fillOpacity": 0.82, "color": "#111827", "weight": 2.5}


def _line_style(colour: str, weight: float, dash: str | None, class_name: str) -> Any:
    def style(feature: dict[str, Any]) -> dict[str, Any]:
        out = {"fill": False, "color": colour, "weight": weight, "opacity": 1.0,
               "lineJoin": "round", "className": class_name}
        if dash:
            out["dashArray"] = dash
        return out
    return style


@dataclass(frozen=True)
class _LiveLayers:
    """The two folium groups the console script fills with markers."""

    tickets: folium.FeatureGroup
    teams: folium.FeatureGroup


class _MapExtras(MacroElement):
    """Zoom limits, initial view, metric scale bar, data attribution and the page-script hook."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.setMinZoom({{ this.min_zoom|tojson }});
            {{ this._parent.get_name() }}.setMaxZoom({{ this.max_zoom|tojson }});
            // Not animated: an animation still running would swallow a later setView.
            {{ this._parent.get_name() }}.fitBounds({{ this.bounds|tojson }}, {
                paddingTopLeft: [20, 20], paddingBottomRight: [300, 20], animate: false});
            L.control.scale({imperial: false, position: "bottomleft"})
                .addTo({{ this._parent.get_name() }});
            {{ this._parent.get_name() }}.attributionControl
                .setPrefix({{ this.prefix|tojson }})
                .addAttribution({{ this.attribution|tojson }});
            if (window.WhistleMap) { WhistleMap.ready({{ this._parent.get_name() }}); }
            {% if this.live %}
            if (window.WhistleConsole) {
                WhistleConsole.start({{ this._parent.get_name() }}, {
                    district: {{ this.district|tojson }}, pollMs: {{ this.poll_ms|tojson }},
                    tickets: {{ this.live.tickets.get_name() }},
                    teams: {{ this.live.teams.get_name() }}});
            }
            if (window.WhistlePlan) {
                WhistlePlan.start({{ this._parent.get_name() }}, {
                    district: {{ this.district|tojson }},
                    tickets: {{ this.live.tickets.get_name() }},
                    teams: {{ this.live.teams.get_name() }}});
            }
            {% endif %}
        {% endmacro %}
    """)

    def __init__(self, bounds: list[list[float]], attribution: str, prefix: str,
                 min_zoom: float = 7, max_zoom: float = 16, district: str = "",
                 live: _LiveLayers | None = None, poll_ms: int = POLL_MS) -> None:
        super().__init__()
        self._name = "MapExtras"
        self.district = district
        self.live = live
        self.poll_ms = poll_ms
        self.bounds = bounds
        self.min_zoom = min_zoom
        self.max_zoom = max_zoom
        self.attribution = attribution
        self.prefix = prefix


def _points(items: list[tuple[Any, dict[str, Any]]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": mapping(pt)} for pt, props in items]}


def _header_html(district: District) -> str:
    name_en = district.meta.get("name_en")
    title = html.escape(district.name) + (
        f' <span class="ws-en">{html.escape(str(name_en))}</span>' if name_en else "")
    counters = "".join(
        f'<div class="ws-counter{extra}" data-counter="{key}"><b id="ws-count-{key}">–</b>'
        f'<span>{label}</span></div>'
        for key, label, extra in (("open", "Open tickets 待办", ""),
                                  ("waiting", "To dispatch 待派", ""),
                                  ("overdue", "Overdue 超期", " ws-counter-overdue"),
                                  ("on-duty", "Teams on duty 在岗队伍", "")))
    return f"""
<header class="ws-header">
  <div class="ws-brand"><span class="ws-logo" aria-hidden="true"></span>Whistle</div>
  <div class="ws-title">{title}<span class="ws-sub">Dispatch console 调度指挥台</span></div>
  <div class="ws-counters" aria-label="Live counters">{counters}</div>
  <div class="ws-live" id="ws-live" data-state="connecting"><span class="ws-live-dot"></span>
    <span id="ws-live-text">Connecting… 连接中</span></div>
</header>"""


def _legend_html(district: District, colours: dict[str, str]) -> str:
    rows = []
    for z in district.zones:
        members = "、".join(district.township(m).name for m in z.members)
        rows.append(
            f'<li class="ws-legend-zone" data-zone="{html.escape(z.code)}">'
            f'<span class="ws-swatch" style="background:{colours[z.code]}"></span>'
            f'<span class="ws-zone-name">{html.escape(z.name)}'
            + ('<span class="ws-derived">derived</span>' if z.derived else "") + "</span>"
            f'<span class="ws-members">{html.escape(members)}</span></li>')
    symbols = [
        '<li><span class="ws-sym ws-sym-hub">★</span>Hub town 中心镇</li>',
        '<li><span class="ws-sym ws-sym-zone"></span>Zone boundary 片区界</li>',
    ]
    if district.clusters:
        symbols.append('<li><span class="ws-sym ws-sym-cluster"></span>"1+X" cluster 组团</li>')
    if district.outline is not None:
        symbols.append('<li><span class="ws-sym ws-sym-outline"></span>County outline 县界</li>')
    notes = []
    if any(a.derived for a in district.iter_areas()):
        notes.append('<p class="ws-note"><span class="ws-derived">derived</span> members '
                     "assigned by Whistle from adjacency and distance; the planning document "
                     "names only the hub towns.</p>")
    hubs = sum(1 for c in district.clusters if c.hub)
    stats = [f"{len(district.townships)} townships", f"{len(district.zones)} zones"]
    if district.clusters:
        stats.append(f'{hubs} hub clusters "1+X"')
    return f"""
<aside class="ws-legend" id="ws-legend" aria-label="Legend">
  <h2>Enforcement zones <span>片区</span></h2>
  <p class="ws-legend-stats">{html.escape(" · ".join(stats))}</p>
  <ul class="ws-legend-zones">{"".join(rows)}</ul>
  <ul class="ws-legend-symbols">{"".join(symbols)}</ul>
  {"".join(notes)}
</aside>"""


def _live_legend_html() -> str:
    """Marker key of the live layers: ticket states, overdue, team duty and position."""
    states = "".join(
        f'<li><span class="ws-key-ticket ws-state-{s}"></span>{html.escape(STATES[s][0])}</li>'
        for s in STATES if s in OPEN_STATES)
    duty = "".join(
        f'<li><span class="ws-key-team ws-duty-{d}"></span>{html.escape(zh)}</li>'
        for d, zh in DUTY_ZH.items())
    return f"""
<div class="ws-live-legend" id="ws-live-legend" aria-label="Live layers key">
  <span class="ws-key-title">Tickets 工单</span><ul>{states}
    <li><span class="ws-key-ticket ws-key-overdue"></span>超期 overdue</li></ul>
  <span class="ws-key-title">Teams 队伍</span><ul>{duty}
    <li><span class="ws-key-team ws-key-live"></span>实时位置 live</li>
    <li><span class="ws-key-team ws-key-base"></span>驻地 base</li></ul>
</div>"""


def _console_html() -> str:
    """The side panel: the dispatcher's tab (the console script fills the list and the ticket
    details) and the zone leader's planning tab (an empty container for the plan script)."""
    return """
<aside class="ws-console" id="ws-console" aria-label="Dispatcher panel">
  <nav class="ws-tabs" role="tablist" aria-label="Panel">
    <button type="button" role="tab" id="ws-tab-dispatch" data-tab="dispatch"
      aria-controls="ws-console" aria-selected="true">Dispatch <span>调度</span></button>
    <button type="button" role="tab" id="ws-tab-plan" data-tab="plan" aria-controls="ws-plan"
      aria-selected="false">Plan <span>巡查计划</span></button>
  </nav>
  <div class="ws-console-head">
    <h2>Open tickets <span>待办工单</span></h2>
    <span class="ws-pill" id="ws-list-count">–</span>
    <div class="ws-lang" role="group" aria-label="Reason language">
      <button type="button" data-lang="zh" aria-pressed="true">中文</button><button
        type="button" data-lang="en" aria-pressed="false">EN</button>
    </div>
  </div>
  <ol class="ws-ticket-list" id="ws-ticket-list" aria-label="Open tickets"></ol>
  <p class="ws-empty" id="ws-list-empty" hidden>No open tickets 暂无待办工单</p>
  <p class="ws-hint" id="ws-hint">Select a ticket to see who is competent, why, and which
    teams can reach it first. 点击工单查看管辖依据与推荐队伍。</p>
  <section class="ws-detail" id="ws-detail" aria-live="polite" hidden></section>
  <footer class="ws-console-foot">
    <label for="ws-actor">Dispatcher 调度员</label>
    <input id="ws-actor" name="actor" autocomplete="username" maxlength="64"
      placeholder="your ID, recorded with each assignment">
  </footer>
  <section class="ws-plan" id="ws-plan" role="tabpanel" aria-labelledby="ws-tab-plan"
    hidden></section>
</aside>"""


def build_map(district: District, static_url: str = "/static") -> folium.Map:
    """Build the folium map of ``district``, referencing browser assets under ``static_url``.

    Parameters
    ----------
    district : District
        Boundaries, zones and clusters to draw (WGS84).
    static_url : str
        URL prefix where ``web/static`` is served; nothing is loaded from any other host.

    Returns
    -------
    folium.Map
        Render it with ``build_map(...).get_root().render()`` or :func:`render_map`.
    """
    static_url = static_url.rstrip("/")
    colours = zone_colours(district)
    minx, miny, maxx, maxy = district.bounds

    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        tiles=None,
        zoom_start=10,
        zoom_snap=0.25,
        zoom_delta=0.5,
        prefer_canvas=False,  # SVG: each township is a DOM element the page and tests can find
    )
    # Instance attributes, so folium's class-level CDN lists stay untouched for other maps.
    m.default_js = [("leaflet", f"{static_url}/vendor/leaflet/leaflet.js")]
    m.default_css = [("leaflet_css", f"{static_url}/vendor/leaflet/leaflet.css")]

    root = m.get_root()
    root.title = f"{district.name} · Whistle"
    root.header.add_child(Element(f'<link rel="icon" href="{static_url}/img/whistle.svg" '
                                  'type="image/svg+xml" />'), name="favicon")
    root.header.add_child(CssLink(f"{static_url}/css/whistle-map.css"), name="whistle_css")
    root.header.add_child(JavascriptLink(f"{static_url}/js/whistle-dom.js"), name="dom_js")
    root.header.add_child(JavascriptLink(f"{static_url}/js/whistle-map.js"), name="whistle_js")
    root.header.add_child(CssLink(f"{static_url}/css/whistle-console.css"), name="console_css")
    root.header.add_child(JavascriptLink(f"{static_url}/js/whistle-console.js"),
                          name="console_js")
    root.header.add_child(CssLink(f"{static_url}/css/whistle-plan.css"), name="plan_css")
    root.header.add_child(JavascriptLink(f"{static_url}/js/whistle-plan.js"), name="plan_js")
    root.html.add_child(Element(_header_html(district)), name="ws_header")
    root.html.add_child(Element(_console_html()), name="ws_console")
    root.html.add_child(Element(_legend_html(district, colours)), name="ws_legend")
    root.html.add_child(Element(_live_legend_html()), name="ws_live_legend")

    # Panes fix the drawing order whatever layers are toggled: fills, then lines, then marks.
    for name, z in (("ws-base", 350), ("ws-zones", 410), ("ws-clusters", 420),
                    ("ws-outline", 430)):
        CustomPane(name, z_index=z, pointer_events=False).add_to(m)

    # An opaque white base under the translucent township fills: colours read the same on
    # any background, and the base alone casts the shadow that lifts the county off the page.
    folium.GeoJson(
        {"type": "Feature", "properties": {},
         "geometry": mapping(shapely.union_all([t.geometry for t in district.townships]))},
        style_function=lambda f: {"fillColor": "#ffffff", "fillOpacity": 1.0, "stroke": False,
                                  "className": "ws-base"},
        interactive=False, pane="ws-base", control=False,
    ).add_to(m)

    towns = townships_geojson(district)
    for f in towns["features"]:
        p = f["properties"]
        p["kind_en"] = KIND_EN.get(p["kind"], p["kind"])
    folium.GeoJson(
        towns,
        name=LAYER_TOWNSHIPS,
        style_function=_township_style(colours),
        highlight_function=_township_highlight,
        on_each_feature=JsCode("function (feature, layer) { WhistleMap.bindTownship(feature, "
                               "layer); }"),
        smooth_factor=0.5,
    ).add_to(m)

    if district.zones:
        folium.GeoJson(
            areas_geojson(district, "zone"),
            name=LAYER_ZONES,
            style_function=_line_style("#263238", 2.4, None, "ws-zone"),
            interactive=False,
            pane="ws-zones",
        ).add_to(m)

    if district.clusters:
        folium.GeoJson(
            areas_geojson(district, "cluster"),
            name=LAYER_CLUSTERS,
            style_function=_line_style(CLUSTER_COLOUR, 3.0, "8 7", "ws-cluster"),
            interactive=False,
            pane="ws-clusters",
        ).add_to(m)

    if district.outline is not None:
        folium.GeoJson(
            {"type": "Feature", "properties": {"name": district.name},
             "geometry": mapping(district.outline)},
            name=LAYER_OUTLINE,
            style_function=_line_style("#0f172a", 2.2, None, "ws-outline"),
            interactive=False,
            pane="ws-outline",
        ).add_to(m)

    folium.GeoJson(
        _points([(t.geometry.representative_point(), {"code": t.code, "name": t.name})
                 for t in district.townships]),
        name=LAYER_LABELS,
        marker=folium.Marker(icon=folium.DivIcon(class_name="ws-label", icon_size=(0, 0)),
                             interactive=False, keyboard=False),
        # For DivIcon markers folium merges the per-feature "style" into the icon options.
        style_function=lambda f: {"html": '<span data-township="{}">{}</span>'.format(
            html.escape(f["properties"]["code"]), html.escape(f["properties"]["name"]))},
    ).add_to(m)

    hubs = []
    for c in district.clusters:
        if c.hub:
            hub = district.township(c.hub)
            hubs.append((hub.geometry.representative_point(), {
                "code": hub.code, "name": hub.name, "cluster": c.name, "derived": c.derived,
                "covers": [district.township(x).name for x in c.members if x != c.hub],
            }))
    if hubs:
        folium.GeoJson(
            _points(hubs),
            name=LAYER_HUBS,
            marker=folium.Marker(icon=folium.DivIcon(
                html='<span class="ws-hub">★</span>', class_name="ws-hub-icon",
                icon_size=(22, 22), icon_anchor=(11, 29)), keyboard=False),
            on_each_feature=JsCode("function (feature, layer) { WhistleMap.bindHub(feature, "
                                   "layer); }"),
        ).add_to(m)

    # Empty until the console script polls; stacking is set there (tickets over teams).
    live = _LiveLayers(tickets=folium.FeatureGroup(name=LAYER_TICKETS),
                       teams=folium.FeatureGroup(name=LAYER_TEAMS))
    live.teams.add_to(m)
    live.tickets.add_to(m)

    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    _MapExtras([[miny, minx], [maxy, maxx]], attribution(district),
               prefix=f"Leaflet {LEAFLET_VERSION} (BSD-2-Clause) · no base map",
               district=district.code, live=live).add_to(m)
    return m


def render_map(district: District, static_url: str = "/static") -> str:
    """The complete HTML page of :func:`build_map`."""
    return build_map(district, static_url).get_root().render()
