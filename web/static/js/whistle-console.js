/* Whistle dispatch console: live tickets and teams on the map, and the dispatcher's panel.
 *
 * Polls GET api/v1/console/live; a selected ticket shows GET api/v1/tickets/{id}/recommendation
 * (competent authority with its reasons, the shortlist, the teams left out) and assigns with
 * POST api/v1/tickets/{id}/transitions quoting the version it read, so a ticket someone else
 * changed meanwhile is refused (409) instead of overwritten.
 * Text from the data is always inserted with textContent, never as HTML. */
(function () {
  "use strict";

  var LANG_KEY = "whistle.console.lang";
  var ACTOR_KEY = "whistle.console.actor";
  var TEAM_GLYPH = {township: "镇", hub: "中", department: "部", city: "市"};
  var KIND_ZH = {township: "乡镇（街道）", hub_team: "中心镇队伍", department: "部门",
    platform_office: "平台裁定"};
  var KIND_EN = {township: "township", hub_team: "hub team", department: "department",
    platform_office: "platform office"};
  var SPREAD_PX = 24;  // team badges closer than this on screen are fanned out

  var C = {
    map: null, opts: null, data: null, skewMs: 0, tz: "Asia/Shanghai",
    tickets: {}, teams: {}, selected: null, rec: null, selection: null,
    lang: "zh", first: true, busy: false, flash: null, pollSeq: 0
  };

  // -- small DOM helpers -----------------------------------------------------------------------

  var el = window.WhistleDom.el, add = window.WhistleDom.add;  // whistle-dom.js
  var byId = window.WhistleDom.byId, clear = window.WhistleDom.clear;
  var api = window.WhistleDom.api, errorText = window.WhistleDom.errorText;

  function row(table, label, value, cls) {
    var tr = add(table, "tr", cls);
    add(tr, "th", null, label);
    add(tr, "td", null, value);
    return tr;
  }

  // -- time --------------------------------------------------------------------------------

  function now() { return Date.now() + C.skewMs; }  // the server's clock, as of the last poll

  function fmt(iso, withDate) {
    if (!iso) { return "—"; }
    var o = {timeZone: C.tz, hour: "2-digit", minute: "2-digit", hour12: false};
    if (withDate) { o.month = "2-digit"; o.day = "2-digit"; }
    try {
      return new Intl.DateTimeFormat("zh-CN", o).format(new Date(iso));
    } catch (e) {
      return iso.slice(5, 16).replace("T", " ");
    }
  }

  function span(ms) {
    var m = Math.abs(ms) / 60000;
    if (m < 1) { return "<1 min"; }
    if (m < 90) { return Math.round(m) + " min"; }
    if (m < 48 * 60) { return (m / 60).toFixed(m < 600 ? 1 : 0) + " h"; }
    return Math.round(m / 1440) + " d";
  }

  function dueText(t) {
    if (!t.sla_due_at) { return "no deadline"; }
    var left = new Date(t.sla_due_at).getTime() - now();
    return left < 0 ? "overdue " + span(left) : "due in " + span(left);
  }

  function ago(iso) { return iso ? span(now() - new Date(iso).getTime()) + " ago" : ""; }

  // -- markers -----------------------------------------------------------------------------

  function ticketIcon(t) {
    var root = el("div", "ws-ticket ws-state-" + t.state);
    add(root, "span", "ws-ticket-pin");
    if (t.overdue) { add(root, "span", "ws-ticket-alert", "!"); }
    return L.divIcon({html: root, className: "ws-ticket-icon", iconSize: [26, 32],
      iconAnchor: [13, 31], tooltipAnchor: [0, -30]});
  }

  function ticketTooltip(t) {
    var box = el("div", "ws-tt ws-tt-ticket");
    var head = add(box, "div", "ws-tt-name", "#" + t.id);
    add(head, "span", "ws-tt-kind ws-chip-" + t.state, t.state_zh + " · " + t.state);
    if (t.overdue) { add(head, "span", "ws-tt-kind ws-chip-overdue", "超期 overdue"); }
    add(box, "div", "ws-tt-matter", (t.matter_code || "") + " " + (t.matter_name || "unclassified"));
    var table = add(box, "table");
    row(table, "Township 乡镇", (t.township_name || t.township || "—") +
      (t.zone_name ? " · " + t.zone_name : ""));
    row(table, "Source 来源", t.source_zh + (t.external_id ? " " + t.external_id : ""));
    row(table, "Reported 上报", fmt(t.reported_at || t.received_at, true));
    row(table, "Due 时限", t.sla_due_at ? fmt(t.sla_due_at, true) + " (" + dueText(t) + ")" : "—",
      t.overdue ? "ws-tt-overdue" : null);
    row(table, "Team 队伍", t.team_name || "not assigned 未派单");
    return box;
  }

  function teamIcon(team) {
    var root = el("div", "ws-team ws-duty-" + team.duty + " ws-pos-" + team.shown.source);
    add(root, "span", "ws-team-glyph", TEAM_GLYPH[team.kind] || "队");
    if (team.load > 0) { add(root, "span", "ws-team-load", team.load); }
    return L.divIcon({html: root, className: "ws-team-icon", iconSize: [22, 22],
      iconAnchor: [11, 11], tooltipAnchor: [0, -12]});
  }

  function teamTooltip(team) {
    var box = el("div", "ws-tt ws-tt-team");
    var head = add(box, "div", "ws-tt-name", team.name);
    add(head, "span", "ws-tt-kind", team.kind_zh + " · " + team.kind_en);
    var table = add(box, "table");
    row(table, "Duty 值班", team.duty_zh + " · " + team.duty_en, "ws-tt-duty-" + team.duty);
    row(table, "Load 在办", team.load + " ticket(s) 件");
    var p = team.position;
    var where;
    if (team.shown.source === "live") {
      where = "live 实时 · " + fmt(p.at, true) + " (" + ago(p.at) + ")";
    } else if (p) {
      where = "base 驻地 · last fix " + fmt(p.at, true) + " (" + ago(p.at) + ", stale)";
    } else {
      where = "base 驻地 · no position reported";
    }
    row(table, "Position 位置", where);
    return box;
  }

  function tag(marker, attrs) {
    var node = marker.getElement();
    if (!node) { return; }
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
  }

  /* Overdue tickets above the others, the selected one above all. */
  function ticketZ(t) { return (C.selected === t.id ? 3000 : 0) + (t.overdue ? 1000 : 0) + 500; }

  function ticketAttrs(t) {
    return {"data-ticket-id": String(t.id), "data-state": t.state,
      "data-overdue": t.overdue ? "true" : "false",
      "data-selected": C.selected === t.id ? "true" : "false"};
  }

  function teamAttrs(team) {
    return {"data-team-id": team.id, "data-duty": team.duty,
      "data-position-source": team.shown.source, "data-load": String(team.load)};
  }

  /* Create, move or restyle a marker per record (by its id); drop the ones no longer listed.
   * ``k`` holds the layer's functions: latlng, icon, tooltip, attrs, z and click. */
  function sync(store, layer, records, k) {
    var seen = {};
    records.forEach(function (rec) {
      var id = rec.id;
      var ll = k.latlng(rec);
      seen[id] = true;
      var m = store[id];
      var sig = JSON.stringify(rec) + (C.selected === id);
      if (!m) {
        m = L.marker(ll, {icon: k.icon(rec), keyboard: false, riseOnHover: true,
          zIndexOffset: k.z(rec)});
        m.on("add", function () { tag(m, k.attrs(m.record)); });
        if (k.click) { m.on("click", function () { k.click(m.record.id); }); }
        m.bindTooltip(function () { return k.tooltip(m.record); },
          {direction: "top", className: "ws-tooltip"});
        m.record = rec;
        m.sig = sig;
        store[id] = m;
        m.addTo(layer);
      } else if (m.sig !== sig) {
        m.record = rec;
        m.sig = sig;
        m.setLatLng(ll);
        m.setIcon(k.icon(rec));
        m.setZIndexOffset(k.z(rec));
        tag(m, k.attrs(rec));
      }
    });
    Object.keys(store).forEach(function (id) {
      if (!seen[id]) { layer.removeLayer(store[id]); delete store[id]; }
    });
  }

  /* Fan out team markers that sit on top of each other (the county's departments share a
   * compound). Markers closer than SPREAD_PX on screen form a group whose badges are drawn on
   * a ring around the group's centre; groups whose rings would touch are merged until none
   * do. Each marker keeps its true position (its tooltip and the recommendation lines point
   * there); only the drawn badge moves. */
  function ring(g, pts) {
    var n = g.length, cx = 0, cy = 0;
    g.forEach(function (k) { cx += pts[k].x / n; cy += pts[k].y / n; });
    return {x: cx, y: cy, r: n > 1 ? Math.max(16, n * 25 / (2 * Math.PI)) : 0};
  }

  function spreadTeams() {
    var map = C.map;
    // The selected ticket's shortlisted teams stay where they are, on top: the lines to the
    // ticket start there.
    var picked = {};
    if (C.rec && C.selected === C.rec.ticket.id) {
      C.rec.recommendation.shortlist.forEach(function (c) { picked[c.team_id] = c.rank; });
    }
    Object.keys(C.teams).forEach(function (id) {
      var m = C.teams[id];
      var node = m.getElement();
      m.setZIndexOffset(picked[id] ? 2000 : 0);
      if (!node) { return; }
      node.classList.toggle("ws-team-picked", Boolean(picked[id]));
      if (picked[id] && node.firstChild) {
        node.firstChild.style.transform = "";
        node.classList.remove("ws-team-fanned");
      }
    });
    var ids = Object.keys(C.teams).filter(function (id) { return !picked[id]; }).sort();
    var pts = ids.map(function (id) { return map.latLngToLayerPoint(C.teams[id].getLatLng()); });
    var groups = ids.map(function (_, k) { return [k]; });
    var merged = true;
    while (merged) {
      merged = false;
      var rings = groups.map(function (g) { return ring(g, pts); });
      for (var i = 0; i < groups.length && !merged; i++) {
        for (var j = i + 1; j < groups.length && !merged; j++) {
          var a = rings[i], b = rings[j];
          var gap = Math.sqrt((a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y));
          if (gap < a.r + b.r + SPREAD_PX) {
            groups[i] = groups[i].concat(groups[j]);
            groups.splice(j, 1);
            merged = true;
          }
        }
      }
    }
    groups.forEach(function (g) {
      var c = ring(g, pts);
      var n = g.length;
      g.sort(function (p, q) { return p - q; }).forEach(function (k, q) {
        var node = C.teams[ids[k]].getElement();
        var badge = node && node.firstChild;
        if (!badge) { return; }
        var a = 2 * Math.PI * q / n - Math.PI / 2;
        var dx = c.x + c.r * Math.cos(a) - pts[k].x;
        var dy = c.y + c.r * Math.sin(a) - pts[k].y;
        badge.style.transform = n > 1 ? "translate(" + dx.toFixed(1) + "px," + dy.toFixed(1) + "px)" : "";
        node.classList.toggle("ws-team-fanned", n > 1);
      });
    });
  }

  // -- header and list ---------------------------------------------------------------------

  function setText(id, value) { var n = byId(id); if (n) { n.textContent = String(value); } }

  function renderCounters(d) {
    setText("ws-count-open", d.counts.open);
    setText("ws-count-waiting", d.counts.awaiting_dispatch);
    setText("ws-count-overdue", d.counts.overdue);
    setText("ws-count-on-duty", d.counts.teams_on_duty + "/" + d.counts.teams);
    var od = document.querySelector('[data-counter="overdue"]');
    if (od) { od.classList.toggle("ws-counter-hot", d.counts.overdue > 0); }
    setText("ws-list-count", d.counts.open);
    var live = byId("ws-live");
    live.setAttribute("data-state", "live");
    setText("ws-live-text", "Live · " + fmt(d.now) + " 更新");
  }

  function renderList(d) {
    var list = byId("ws-ticket-list");
    var scroll = list.scrollTop;  // a poll must not throw the dispatcher back to the top
    clear(list);
    d.tickets.forEach(function (t) {
      var li = add(list, "li", "ws-item" + (t.overdue ? " ws-item-overdue" : ""));
      li.setAttribute("data-ticket-id", String(t.id));
      li.setAttribute("data-state", t.state);
      li.setAttribute("tabindex", "0");
      li.setAttribute("role", "button");
      if (C.selected === t.id) { li.classList.add("ws-item-selected"); }
      var top = add(li, "div", "ws-item-top");
      add(top, "span", "ws-item-id", "#" + t.id);
      add(top, "span", "ws-chip ws-chip-" + t.state, t.state_zh);
      if (t.major) { add(top, "span", "ws-chip ws-chip-major", "重大 major"); }
      add(top, "span", "ws-item-due" + (t.overdue ? " ws-due-over" : ""), dueText(t));
      add(li, "div", "ws-item-matter", t.matter_name || t.matter_code || "unclassified 未分类");
      var meta = add(li, "div", "ws-item-meta");
      add(meta, "span", null, t.township_name || t.township || "—");
      add(meta, "span", null, t.source_zh);
      add(meta, "span", null, fmt(t.received_at, true));
      add(meta, "span", "ws-item-team", t.team_name ? "→ " + t.team_name : "未派单");
      li.addEventListener("click", function () { select(t.id, true); });
      li.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(t.id, true); }
      });
    });
    list.scrollTop = scroll;
    byId("ws-list-empty").hidden = d.tickets.length > 0;
  }

  // -- polling -----------------------------------------------------------------------------

  function poll() {
    var q = "console/live" + (C.opts.district ? "?district=" + encodeURIComponent(C.opts.district) : "");
    var seq = ++C.pollSeq;
    return api(q).then(function (res) {
      if (!res.ok) { throw new Error(errorText(res)); }
      if (seq === C.pollSeq) { render(res.body); }  // an older answer arriving late is dropped
    }).catch(function (err) {
      byId("ws-live").setAttribute("data-state", "error");
      setText("ws-live-text", "Offline · retrying 连接中断 (" + err.message + ")");
    });
  }

  function render(d) {
    C.data = d;
    C.tz = d.time_zone || C.tz;
    C.skewMs = new Date(d.now).getTime() - Date.now();
    renderCounters(d);
    renderList(d);
    sync(C.tickets, C.opts.tickets, d.tickets, {
      latlng: function (t) { return [t.lat, t.lon]; }, icon: ticketIcon, tooltip: ticketTooltip,
      attrs: ticketAttrs, z: ticketZ, click: function (id) { select(id, false); }});
    sync(C.teams, C.opts.teams, d.teams, {
      latlng: function (t) { return [t.shown.lat, t.shown.lon]; }, icon: teamIcon,
      tooltip: teamTooltip, attrs: teamAttrs, z: function () { return 0; }, click: null});
    spreadTeams();
    var body = document.body;
    body.setAttribute("data-tickets-drawn",
      String(document.querySelectorAll(".ws-ticket-icon[data-ticket-id]").length));
    body.setAttribute("data-teams-drawn",
      String(document.querySelectorAll(".ws-team-icon[data-team-id]").length));
    if (C.first) {
      C.first = false;
      var want = parseInt(new URLSearchParams(window.location.search).get("ticket") || "", 10);
      body.setAttribute("data-console-ready", "true");
      if (want) { select(want, true); }
    } else if (C.selected !== null && !C.busy) {
      var t = current();
      if (t && C.rec && t.version !== C.rec.ticket.version) { loadDetail(false); }
    }
  }

  function current() {
    if (!C.data) { return null; }
    for (var i = 0; i < C.data.tickets.length; i++) {
      if (C.data.tickets[i].id === C.selected) { return C.data.tickets[i]; }
    }
    return null;
  }

  // -- selection and details ---------------------------------------------------------------

  function select(id, pan) {
    C.selected = id;
    C.flash = null;
    document.querySelectorAll(".ws-item").forEach(function (li) {
      li.classList.toggle("ws-item-selected", li.getAttribute("data-ticket-id") === String(id));
    });
    var li = document.querySelector('.ws-item[data-ticket-id="' + id + '"]');
    if (li && li.scrollIntoView) { li.scrollIntoView({block: "nearest"}); }
    Object.keys(C.tickets).forEach(function (k) {
      var m = C.tickets[k];
      m.setZIndexOffset(ticketZ(m.record));
      tag(m, {"data-selected": m.record.id === id ? "true" : "false"});
    });
    if (C.selection) { C.selection.clearLayers(); }
    var t = current();
    if (t && pan) {
      C.map.setView([t.lat, t.lon], Math.max(C.map.getZoom(), 12), {animate: false});
    }
    document.body.setAttribute("data-ticket-selected", String(id));
    return loadDetail(pan);
  }

  function loadDetail(fit) {
    var id = C.selected;
    var detail = byId("ws-detail");
    detail.hidden = false;
    document.body.classList.add("ws-has-detail");
    if (!C.rec || C.rec.ticket.id !== id) {
      clear(detail);
      add(detail, "p", "ws-loading", "Loading ticket #" + id + "… 加载中");
    }
    document.body.setAttribute("data-detail", "loading");
    function failed(text) {
      C.rec = null;
      clear(detail);
      detailHead(detail, id, null);
      add(detail, "p", "ws-msg ws-msg-error", text);
      document.body.setAttribute("data-detail", "error");
    }
    return api("tickets/" + id + "/recommendation").then(function (res) {
      if (C.selected !== id) { return; }
      if (!res.ok) { failed(errorText(res)); return; }
      C.rec = res.body;
      renderDetail(detail, res.body);
      drawSelection(res.body, fit);
      document.body.setAttribute("data-detail", "ready");
    }).catch(function (err) {
      if (C.selected === id) { failed("Could not load ticket #" + id + ": " + err.message); }
    });
  }

  function detailHead(detail, id, t) {
    var head = add(detail, "div", "ws-detail-head");
    var close = add(head, "button", "ws-close", "×");
    close.type = "button";
    close.title = "Close 关闭";
    close.addEventListener("click", deselect);
    var h = add(head, "h3", null, "#" + id + " ");
    if (t) {
      add(h, "span", "ws-chip ws-chip-" + t.state, t.state_zh || t.state);
      if (t.overdue) { add(h, "span", "ws-chip ws-chip-overdue", "超期 overdue"); }
      if (t.major) { add(h, "span", "ws-chip ws-chip-major", "重大 major"); }
    }
    return head;
  }

  function deselect() {
    C.selected = null;
    C.rec = null;
    byId("ws-detail").hidden = true;
    document.body.classList.remove("ws-has-detail");
    document.body.removeAttribute("data-ticket-selected");
    if (C.selection) { C.selection.clearLayers(); }
    if (C.data) { render(C.data); }
    spreadTeams();
  }

  function say(r) { return C.lang === "en" ? (r.en || r.zh) : (r.zh || r.en); }

  function reasonList(parent, reasons, cls) {
    var ol = add(parent, "ol", "ws-reasons" + (cls ? " " + cls : ""));
    reasons.forEach(function (r) {
      var li = add(ol, "li");
      li.setAttribute("data-code", r.code);
      add(li, "span", "ws-reason-text", say(r));
      if (r.source) { add(li, "span", "ws-reason-src", r.source); }
    });
    return ol;
  }

  function fact(grid, label, value, cls) {
    var cell = add(grid, "div", "ws-fact" + (cls ? " " + cls : ""));
    add(cell, "span", "ws-fact-label", label);
    add(cell, "span", "ws-fact-value", value);
    return cell;
  }

  function renderDetail(detail, rec) {
    var t = rec.ticket;
    var live = current() || {};
    var loc = rec.location;
    var scroll = detail.scrollTop;
    clear(detail);
    detailHead(detail, t.id, {state: t.state, state_zh: live.state_zh, overdue: live.overdue,
      major: t.major});
    var matter = add(detail, "div", "ws-detail-matter");
    add(matter, "span", "ws-code", t.matter_code || "");
    add(matter, "span", null, live.matter_name || "");
    if (t.description) { add(detail, "p", "ws-description", t.description); }

    var facts = add(detail, "div", "ws-facts");
    fact(facts, "Place 地点", loc.township_name + (loc.zone_name ? " · " + loc.zone_name : ""));
    fact(facts, "Source 来源", (live.source_zh || t.source) + (t.external_id ? " " + t.external_id : ""));
    fact(facts, "Reported 上报", fmt(t.reported_at || t.received_at, true));
    fact(facts, "Due 时限", t.sla_due_at ? fmt(t.sla_due_at, true) + " · " + dueText(t) : "—",
      live.overdue ? "ws-fact-overdue" : null).title = t.sla_rule || "";
    if (loc.near_boundary) {
      fact(facts, "Near boundary 邻界", loc.candidates.join("、"), "ws-fact-wide");
    }

    // Who is competent, in one line; the reason chain follows the shortlist.
    var auth = rec.competent_authority;
    var line = add(detail, "div", "ws-authority-line");
    add(line, "span", "ws-kind ws-kind-" + auth.kind,
      (C.lang === "en" ? KIND_EN : KIND_ZH)[auth.kind] || auth.kind);
    add(line, "span", "ws-summary", C.lang === "en" ? auth.summary_en : auth.summary_zh);
    if (auth.transfer) { add(line, "span", "ws-chip ws-chip-major", "移送 transfer"); }
    if (auth.dispute) { add(line, "span", "ws-chip ws-chip-major", "争议 dispute"); }

    // Shortlist.
    var r = rec.recommendation;
    var sl = add(detail, "section", "ws-block ws-shortlist");
    var h2 = add(sl, "h4", null, "Recommended teams 推荐队伍");
    if (r.eta_source) {
      add(h2, "span", "ws-kind", r.eta_source === "road" ? "road network 路网" : "estimate 估算");
    }
    if (C.flash) {
      add(sl, "p", "ws-msg ws-msg-" + C.flash.kind, C.flash.text)
        .setAttribute("data-flash", C.flash.code);
    }
    (r.notes || []).forEach(function (n) { add(sl, "p", "ws-msg ws-msg-warn", say(n)); });
    var canAssign = t.state === "received";
    if (!canAssign) {
      add(sl, "p", "ws-msg ws-msg-info", t.team_id
        ? "Assigned to 已派单: " + (live.team_name || t.team_id) + " (" + t.state + ")"
        : "State " + t.state + ": not open for assignment 当前状态不可派单");
    }
    r.shortlist.forEach(function (c) {
      var card = add(sl, "div", "ws-cand" + (c.rank === 1 ? " ws-cand-first" : ""));
      card.setAttribute("data-team-id", c.team_id);
      var top = add(card, "div", "ws-cand-top");
      add(top, "span", "ws-rank", c.rank);
      add(top, "span", "ws-cand-name", c.team_name);
      var btn = add(top, "button", "ws-assign", "Assign 派单");
      btn.type = "button";
      btn.disabled = !canAssign;
      btn.setAttribute("data-team-id", c.team_id);
      btn.addEventListener("click", function () { assign(c, btn); });
      var figs = add(card, "div", "ws-cand-figs");
      add(figs, "b", null, c.eta_min.toFixed(0) + " min");
      add(figs, "span", null, (c.metres / 1000).toFixed(1) + " km");
      add(figs, "span", null, c.eta_source === "road" ? "road 路网" : "estimate 估算");
      add(figs, "span", null, "from " + (c.position.source === "live" ? "live 实时" : "base 驻地"));
      add(figs, "span", null, "load 在办 " + c.load);
      var why = add(card, "details", "ws-why");
      add(why, "summary", null, "Reasons 理由 (" + c.reasons.length + ")");
      reasonList(why, c.reasons, "ws-reasons-small");
    });

    // The reason chain of the competence decision.
    var why = add(detail, "section", "ws-block ws-authority");
    add(why, "h4", null, "Competent authority 管辖依据");
    reasonList(why, auth.reasons || []);
    add(why, "p", "ws-version", "Catalogue 清单 " + auth.catalogue_version + " @ " +
      auth.catalogue_date);

    // Teams left out and why.
    if (r.excluded.length) {
      var ex = add(detail, "details", "ws-block ws-excluded");
      add(ex, "summary", null, "Excluded teams 未入选队伍 (" + r.excluded.length + ")");
      var ul = add(ex, "ul");
      r.excluded.forEach(function (e) {
        var li = add(ul, "li");
        li.setAttribute("data-team-id", e.team_id);
        add(li, "b", null, e.team_name);
        add(li, "span", null, " — " + e.reasons.map(say).join("；"));
      });
      // Open when nothing is on the shortlist: then the exclusions are the answer.
      ex.open = r.shortlist.length === 0;
    }
    detail.scrollTop = scroll;
  }

  function drawSelection(rec, fit) {
    if (!C.selection) { C.selection = L.layerGroup().addTo(C.map); }
    C.selection.clearLayers();
    var to = [rec.location.lat, rec.location.lon];
    var pts = [to];
    rec.recommendation.shortlist.forEach(function (c) {
      var from = [c.position.lat, c.position.lon];
      pts.push(from);
      L.polyline([from, to], {color: c.rank === 1 ? "#0f172a" : "#475569",
        weight: c.rank === 1 ? 3 : 2, dashArray: c.rank === 1 ? null : "5 6", opacity: 0.85,
        interactive: false, className: "ws-route ws-route-" + c.rank}).addTo(C.selection);
      var badge = el("span", "ws-rank-badge", c.rank);
      L.marker(from, {icon: L.divIcon({html: badge, className: "ws-rank-icon",
        iconSize: [18, 18], iconAnchor: [-6, 22]}), interactive: false, keyboard: false,
        zIndexOffset: 4000}).addTo(C.selection);
    });
    L.circleMarker(to, {radius: 18, color: "#0f172a", weight: 2, fill: false,
      interactive: false, className: "ws-target"}).addTo(C.selection);
    if (fit && pts.length > 1) {
      C.map.fitBounds(L.latLngBounds(pts.slice(0, 4)), {maxZoom: 12, animate: false,
        paddingTopLeft: [70, 90], paddingBottomRight: [230, 60]});
    }
    spreadTeams();
  }

  // -- assigning ---------------------------------------------------------------------------

  function assign(c, btn) {
    var actorInput = byId("ws-actor");
    var actor = actorInput.value.trim();
    var rec = C.rec;
    if (!actor) {
      C.flash = {kind: "error", code: "actor", text: "Enter your dispatcher ID below first " +
        "请先在下方填写调度员编号"};
      renderDetail(byId("ws-detail"), rec);
      actorInput.focus();
      return;
    }
    try { window.localStorage.setItem(ACTOR_KEY, actor); } catch (e) { /* private mode */ }
    C.busy = true;
    btn.disabled = true;
    btn.textContent = "Assigning… 派单中";
    var id = rec.ticket.id;
    api("tickets/" + id + "/transitions", {to_state: "assigned", actor: actor,
      team_id: c.team_id, expected_version: rec.ticket.version,
      reason: "assigned from the dispatch console: rank " + c.rank + " of the shortlist"
    }).then(function (res) {
      if (res.ok) {
        C.flash = {kind: "ok", code: "assigned", text: "Assigned to " + c.team_name +
          " 已派单"};
      } else if (res.status === 409) {
        C.flash = {kind: "error", code: "conflict", text: "Someone else assigned it first — " +
          "reloaded. 该工单已被他人抢先处理，已刷新。 (" + errorText(res) + ")"};
      } else {
        C.flash = {kind: "error", code: "error", text: errorText(res)};
      }
      document.body.setAttribute("data-assign-status", String(res.status));
      return poll().then(function () { return loadDetail(false); });
    }).catch(function (err) {
      C.flash = {kind: "error", code: "error", text: "No answer from the service: check the " +
        "ticket before assigning again. 服务无响应，请确认工单状态后再派单。(" + err.message + ")"};
      renderDetail(byId("ws-detail"), rec);
    }).then(function () { C.busy = false; });
  }

  // -- start -------------------------------------------------------------------------------

  function setLang(lang) {
    C.lang = lang === "en" ? "en" : "zh";
    try { window.localStorage.setItem(LANG_KEY, C.lang); } catch (e) { /* private mode */ }
    document.querySelectorAll(".ws-lang button").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-lang") === C.lang ? "true" : "false");
    });
    if (C.rec) { renderDetail(byId("ws-detail"), C.rec); }
  }

  var WhistleConsole = {
    start: function (map, opts) {
      C.map = map;
      C.opts = opts;
      var stored = null;
      try {
        stored = window.localStorage.getItem(LANG_KEY);
        byId("ws-actor").value = window.localStorage.getItem(ACTOR_KEY) || "";
      } catch (e) { /* private mode */ }
      var q = new URLSearchParams(window.location.search).get("lang");
      setLang(q || stored || "zh");
      document.querySelectorAll(".ws-lang button").forEach(function (b) {
        b.addEventListener("click", function () { setLang(b.getAttribute("data-lang")); });
      });
      map.on("zoomend", spreadTeams);
      opts.teams.on("add", spreadTeams);
      poll();
      window.setInterval(function () { if (!document.hidden) { poll(); } }, opts.pollMs || 10000);
    },
    poll: poll,
    select: select,
    state: C
  };

  window.WhistleConsole = WhistleConsole;
}());
