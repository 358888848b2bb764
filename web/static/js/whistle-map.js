/* Whistle live map: tooltips and DOM hooks for the layers drawn by web/map.py.
 * Text from the data is always inserted with textContent, never as HTML. */
(function () {
  "use strict";

  var el = window.WhistleDom.el;  // whistle-dom.js, loaded first

  function row(table, label, value) {
    var tr = el("tr");
    tr.appendChild(el("th", null, label));
    tr.appendChild(el("td", null, value));
    table.appendChild(tr);
  }

  function clusterText(p) {
    if (!p.cluster) { return "— stands alone"; }
    if (p.is_hub) { return p.cluster + " · hub"; }
    return p.cluster + (p.hub ? " · hub " + p.hub : "");
  }

  function townshipTooltip(p) {
    var box = el("div", "ws-tt");
    var head = el("div", "ws-tt-name", p.name);
    head.appendChild(el("span", "ws-tt-kind", p.kind + " · " + (p.kind_en || "")));
    box.appendChild(head);
    var table = el("table");
    row(table, "Zone 片区", p.zone || "—");
    row(table, "Cluster 组团", clusterText(p));
    row(table, "Code", p.code);
    box.appendChild(table);
    return box;
  }

  function hubTooltip(p) {
    var box = el("div", "ws-tt");
    var head = el("div", "ws-tt-name", p.name);
    head.appendChild(el("span", "ws-tt-kind", "hub town 中心镇"));
    box.appendChild(head);
    var table = el("table");
    row(table, "Cluster 组团", p.cluster + (p.derived ? " (derived)" : ""));
    row(table, "Also covers", p.covers && p.covers.length ? p.covers.join("、") : "—");
    box.appendChild(table);
    return box;
  }

  function tagOnAdd(layer, attrs) {
    layer.on("add", function (e) {
      var node = e.target.getElement ? e.target.getElement() : null;
      if (!node) { return; }
      Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    });
  }

  var WhistleMap = {
    bindTownship: function (feature, layer) {
      var p = feature.properties;
      layer.bindTooltip(function () { return townshipTooltip(p); },
        {sticky: true, direction: "top", offset: [0, -10], className: "ws-tooltip"});
      tagOnAdd(layer, {"data-township": p.code, "data-zone": p.zone_code || ""});
    },

    bindHub: function (feature, layer) {
      var p = feature.properties;
      layer.bindTooltip(function () { return hubTooltip(p); },
        {direction: "top", offset: [0, -30], className: "ws-tooltip"});
      tagOnAdd(layer, {"data-hub": p.code});
    },

    /* Centre on a township and show its details: links like /?township=CS04 from a ticket. */
    focus: function (map, code) {
      var target = null;
      map.eachLayer(function (layer) {
        if (layer.feature && layer.getBounds && layer.feature.properties.code === code) {
          target = layer;
        }
      });
      if (!target) { return false; }
      map.fitBounds(target.getBounds(), {maxZoom: 12, paddingTopLeft: [20, 20],
        paddingBottomRight: [300, 20], animate: false});
      target.setStyle({weight: 3, color: "#111827", fillOpacity: 0.82});
      target.openTooltip(target.getCenter());
      return true;
    },

    /* Called once the map and all its layers exist; marks the page as drawn. */
    ready: function (map) {
      WhistleMap.map = map;
      var focus = new URLSearchParams(window.location.search).get("township");
      if (focus) {
        document.body.setAttribute("data-focus", WhistleMap.focus(map, focus) ? focus : "");
      }
      var drawn = document.querySelectorAll("path[data-township]").length;
      document.body.setAttribute("data-townships-drawn", String(drawn));
      document.body.setAttribute("data-map-ready", "true");
    }
  };

  window.WhistleMap = WhistleMap;
}());
