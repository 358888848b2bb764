/* Whistle patrol planning: the zone leader's tab beside the dispatch console.
 *
 * A zone, a date and either a sample of objects or a finished calendar job go to
 * POST api/v1/plans/routes; the job is polled (GET api/v1/plans/jobs/{id}, its progress lines
 * shown) and its result drawn: one line per crew, numbered stops, the crews' bases and the
 * visits left out with their reasons, and the crews listed in the panel. An urgent inspection
 * is inserted into the plan on screen with POST api/v1/plans/insert. /?plan=JOBID opens a
 * routes or insert job. Text from the data is always inserted with textContent, never as HTML. */
(function () {
  "use strict";

  var POLL_MS = 400;
  var HEX = /^#[0-9a-fA-F]{6}$/;
  // Fallback only: crew colours come from the job's GeoJSON (planner/geometry.py), so the map
  // and a downloaded file agree.
  var PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#9a6324", "#469990", "#800000", "#808000", "#000075"];
  var LEFT_KIND = {
    opening_hours: "opening hours 营业时间不符", outside_shift: "outside the shift 班次外",
    no_certified_crew: "no certified crew 无持证人员", no_crew_capacity: "no crew free 车组不足",
    no_time: "no time left 时间不足", displaced: "displaced 被调出",
    night_duty: "night duty 夜查班次", day_duty: "day duty 日间班次"
  };
  var MOVE_WHY = {crew: "other crew 换车组", order: "order changed 顺序变化",
    time: "time shifted 时间变化", dropped: "dropped 移出计划"};
  var STATE_TEXT = {queued: "Queued 排队中", running: "Running 计算中", done: "Done 完成",
    failed: "Failed 失败"};
  var METHOD = {"insertion": "inserted into a route, other stops kept 直接插入",
    "re-solve": "the rest of the day re-solved 重新求解"};
  var WEEKDAY = ["周日", "周一", "周二", "周三", "周四", "周五", "周六"];

  var P = {
    map: null, opts: null, mode: "dispatch", zones: [], calendars: [], seq: 0,
    job: null, plan: null, geo: null, insert: null, colours: {}, units: {}, crews: {},
    visits: {}, moved: {}, marks: [], layer: null, zoneLayer: null, drawn: {}, focus: null,
    hiddenLive: [], sub: null, ui: {}
  };

  // -- small DOM helpers (whistle-dom.js) --------------------------------------------------------

  var el = window.WhistleDom.el, add = window.WhistleDom.add, clear = window.WhistleDom.clear;
  var API = window.WhistleDom.API, api = window.WhistleDom.api;
  var detailText = window.WhistleDom.detailText, errorText = window.WhistleDom.errorText;

  function row(table, label, value, cls) {
    var tr = add(table, "tr", cls);
    add(tr, "th", null, label);
    add(tr, "td", null, value);
    return tr;
  }

  function attrs(node, map) {
    if (!node) { return; }
    Object.keys(map).forEach(function (k) { node.setAttribute(k, String(map[k])); });
  }

  function setBody(name, value) {
    if (value === null || value === undefined) {
      document.body.removeAttribute("data-plan-" + name);
    } else {
      document.body.setAttribute("data-plan-" + name, String(value));
    }
  }

  function labelled(parent, text, control, cls) {
    var label = add(parent, "label", "ws-plan-field" + (cls ? " " + cls : ""));
    add(label, "span", "ws-plan-label", text);
    label.appendChild(control);
    return label;
  }

  function input(type, id, value) {
    var node = el("input");
    node.type = type;
    node.id = id;
    node.name = id.replace(/^ws-plan-/, "");
    if (value !== undefined) { node.value = String(value); }
    return node;
  }

  function colour(c) { return HEX.test(c || "") ? c : "#475569"; }

  // -- clock and date --------------------------------------------------------------------------

  function today() {
    try {
      return new Intl.DateTimeFormat("en-CA", {timeZone: "Asia/Shanghai", year: "numeric",
        month: "2-digit", day: "2-digit"}).format(new Date());
    } catch (e) {
      return new Date().toISOString().slice(0, 10);
    }
  }

  function dayText(iso) {
    var d = new Date(iso + "T00:00:00");
    return isNaN(d.getTime()) ? iso : iso + " " + WEEKDAY[d.getDay()];
  }

  function km(metres) { return (metres / 1000).toFixed(1) + " km"; }

  // -- the form --------------------------------------------------------------------------------

  function build(pane) {
    var ui = P.ui;
    var head = add(pane, "div", "ws-plan-head");
    add(head, "h2", null, "Patrol plan ");
    head.firstChild.appendChild(el("span", null, "巡查计划"));

    var form = add(pane, "form", "ws-plan-form");
    form.id = "ws-plan-form";
    form.noValidate = true;
    var grid = add(form, "div", "ws-plan-grid");
    ui.zone = el("select");
    ui.zone.id = "ws-plan-zone";
    ui.zone.name = "zone";
    labelled(grid, "Zone 片区", ui.zone);
    ui.date = input("date", "ws-plan-date", today());
    ui.date.required = true;
    labelled(grid, "Date 日期", ui.date);
    ui.duty = el("select");
    ui.duty.id = "ws-plan-duty";
    ui.duty.name = "duty";
    [["day", "Day crews 日间 08:30–17:30"], ["night", "Night duty 夜查 19:00–01:00"]]
      .forEach(function (o) {
        var opt = add(ui.duty, "option", null, o[1]);
        opt.value = o[0];
      });
    labelled(grid, "Duty 班次", ui.duty, "ws-plan-wide");

    var src = add(form, "fieldset", "ws-plan-source");
    add(src, "legend", null, "Visits 检查对象");
    var s1 = add(src, "label", "ws-plan-choice");
    ui.useSample = input("radio", "ws-plan-use-sample", "sample");
    ui.useSample.name = "source";
    ui.useSample.checked = true;
    s1.appendChild(ui.useSample);
    add(s1, "span", null, "Sample 抽取");
    ui.sample = input("number", "ws-plan-sample", 30);
    ui.sample.min = "1";
    ui.sample.max = "500";
    ui.sample.step = "1";
    s1.appendChild(ui.sample);
    add(s1, "span", null, "objects with checks due 个对象");
    var s2 = add(src, "label", "ws-plan-choice");
    ui.useCalendar = input("radio", "ws-plan-use-calendar", "calendar");
    ui.useCalendar.name = "source";
    s2.appendChild(ui.useCalendar);
    add(s2, "span", null, "Calendar job 日历任务");
    ui.calendar = el("select");
    ui.calendar.id = "ws-plan-calendar";
    s2.appendChild(ui.calendar);
    form.appendChild(buildCalendar());

    var act = actions(form, "ws-plan-time", 10, 300, "ws-plan-run", "Plan routes 规划路线",
      "submit");
    ui.time = act.time;
    ui.run = act.run;

    ui.msg = add(pane, "p", "ws-msg ws-msg-error ws-plan-msg");
    ui.msg.id = "ws-plan-msg";
    ui.msg.hidden = true;
    ui.status = add(pane, "div", "ws-plan-status");
    ui.status.id = "ws-plan-status";
    ui.status.hidden = true;
    ui.result = add(pane, "div", "ws-plan-result");
    ui.result.id = "ws-plan-result";
    ui.insert = buildInsert();

    form.addEventListener("submit", function (e) { e.preventDefault(); submit(); });
    ui.zone.addEventListener("change", function () { zoneChanged(true); });
    ui.date.addEventListener("change", calendarOptions);
    ui.calendar.addEventListener("change", function () {
      ui.useCalendar.checked = true;
      var job = calendarJob(ui.calendar.value);
      if (job && !inPeriod(job, ui.date.value)) { ui.date.value = job.params.start; }
    });
    ui.sample.addEventListener("focus", function () { ui.useSample.checked = true; });
  }

  /* A row with a search budget (seconds) and the button that starts the solve. */
  function actions(parent, timeId, seconds, max, runId, text, type) {
    var row = add(parent, "div", "ws-plan-actions");
    var time = input("number", timeId, seconds);
    time.min = "1";
    time.max = String(max);
    time.step = "1";
    var tl = labelled(row, "Search 求解", time, "ws-plan-inline");
    add(tl, "span", "ws-plan-unit-s", "s");
    var run = add(row, "button", "ws-plan-run", text);
    run.type = type;
    run.id = runId;
    return {time: time, run: run};
  }

  /* A new inspection calendar of the zone (综合查一次), one month or a quarter from a month:
   * POST api/v1/plans/calendar, polled like a routes job; when done it is the calendar the
   * routes are taken from. */
  function buildCalendar() {
    var ui = P.ui;
    var box = el("details", "ws-plan-calbox");
    box.id = "ws-plan-calbox";
    add(box, "summary", null, "New calendar 新建检查日历");
    var grid = add(box, "div", "ws-plan-grid");
    ui.calFrom = input("month", "ws-plan-cal-from", today().slice(0, 7));
    labelled(grid, "From month 起始月份", ui.calFrom);
    ui.calSpan = el("select");
    ui.calSpan.id = "ws-plan-cal-span";
    [["1", "1 month 一个月"], ["3", "3 months 一个季度"]].forEach(function (o) {
      add(ui.calSpan, "option", null, o[1]).value = o[0];
    });
    labelled(grid, "Span 范围", ui.calSpan);
    var act = actions(box, "ws-plan-cal-time", 20, 600, "ws-plan-cal-run",
      "Plan calendar 生成日历", "button");
    ui.calTime = act.time;
    ui.calRun = act.run;
    ui.calOut = add(box, "div", "ws-plan-calout");
    ui.calOut.id = "ws-plan-cal-out";
    ui.calRun.addEventListener("click", planCalendar);
    return box;
  }

  function monthStart(ym, add_) {
    var y = Number(ym.slice(0, 4)), m = Number(ym.slice(5, 7)) - 1 + add_;
    y += Math.floor(m / 12);
    m = ((m % 12) + 12) % 12;
    return y + "-" + String(m + 1).padStart(2, "0") + "-01";
  }

  function planCalendar() {
    var ui = P.ui;
    clear(ui.calOut);
    var note = add(ui.calOut, "p", "ws-plan-note");
    var ym = ui.calFrom.value;
    var secs = Number(ui.calTime.value);
    if (!ui.zone.value) { note.textContent = "zone: choose a zone 请选择片区"; return; }
    if (!/^\d{4}-\d{2}$/.test(ym)) { note.textContent = "start: choose a month 请选择月份"; return; }
    if (!(secs > 0 && secs <= 600)) {
      note.textContent = "time_limit_s: between 1 and 600 seconds";
      return;
    }
    var body = {zone: ui.zone.value, start: monthStart(ym, 0),
      end: monthStart(ym, Number(ui.calSpan.value)), time_limit_s: secs};
    ui.calRun.disabled = true;
    setBody("calendar", "running");
    note.textContent = "Planning 规划中 " + body.start + " → " + body.end + "…";
    function stop(text) {
      ui.calRun.disabled = false;
      setBody("calendar", "error");
      note.className = "ws-msg ws-msg-error";
      note.textContent = text;
    }
    api("plans/calendar", body).then(function (res) {
      if (res.status !== 202) { stop(errorText(res)); return; }
      watch(res.body.id, function (st) {
        note.textContent = "Planning 规划中 " + body.start + " → " + body.end + " · " +
          (st.elapsed_s || 0).toFixed(0) + " s";
      }, function () { return true; }).then(function (done) {
        calendarDone(done[0], done[1]);
      }).catch(function (err) { stop(err.message); });
    }).catch(function (err) { stop("No answer from the service 服务无响应: " + err.message); });
  }

  function calendarDone(st, plan) {
    var ui = P.ui;
    var m = plan.metrics, s = plan.summary;
    clear(ui.calOut);
    ui.calRun.disabled = false;
    var box = add(ui.calOut, "div", "ws-facts ws-plan-facts");
    box.id = "ws-plan-cal-facts";
    attrs(box, {"data-job": st.id, "data-visits": m.visits.whistle,
      "data-baseline": m.visits.baseline, "data-night": s.night_visits,
      "data-unplaced": s.checks_unplaced});
    fact(box, "Visits 检查次数", m.visits.whistle + " (alone 各自 " + m.visits.baseline + ")");
    fact(box, "Fewer 减少", (100 * m.reduction).toFixed(1) + " %");
    fact(box, "Joint 联合", s.joint_visits + " visits");
    fact(box, "Night duty 夜查", s.night_visits + " visits");
    fact(box, "Not placed 未安排", s.checks_unplaced + " checks",
      s.checks_unplaced ? "ws-plan-fact-left" : null);
    fact(box, "Solver 求解", plan.solver.status + ", gap " +
      (100 * (plan.solver.gap || 0)).toFixed(2) + " %");
    if (plan.unplaced && plan.unplaced.length) {
      var why = add(ui.calOut, "details", "ws-plan-log");
      add(why, "summary", null, "Why not placed 未安排原因 (" + plan.unplaced.length + ")");
      var count = {};
      plan.unplaced.forEach(function (u) { count[u.reason] = (count[u.reason] || 0) + 1; });
      var ul = add(why, "ul", "ws-plan-cal-why");
      ul.id = "ws-plan-cal-why";
      Object.keys(count).sort(function (x, y) { return count[y] - count[x]; }).slice(0, 8)
        .forEach(function (r) { add(ul, "li", null, "× " + count[r] + ": " + r); });
    }
    var links = add(ui.calOut, "p", "ws-plan-note");
    [["export.csv", "CSV"], ["export.xlsx", "XLSX"]].forEach(function (x) {
      var a = add(links, "a", "ws-plan-dl", "Public plan 公开计划 " + x[1]);
      a.href = API + "plans/jobs/" + encodeURIComponent(st.id) + "/" + x[0];
      a.setAttribute("download", "");
      links.appendChild(document.createTextNode(" "));
    });
    loadCalendars().then(function () {
      if (calendarJob(st.id)) {
        ui.calendar.value = st.id;
        ui.useCalendar.checked = true;
        if (!inPeriod(calendarJob(st.id), ui.date.value)) { ui.date.value = plan.start; }
        calendarOptions();
        ui.calendar.value = st.id;
      }
      setBody("calendar", "done");
    });
  }

  function buildInsert() {
    var ui = P.ui;
    var box = el("section", "ws-plan-block ws-plan-insert");
    box.id = "ws-plan-insert";
    add(box, "h4", null, "Urgent insert 插入紧急检查");
    add(box, "p", "ws-plan-note", "An object with no stop today; stops already started stay " +
      "where they are. 已开始的停靠点保持不变。");
    var grid = add(box, "div", "ws-plan-grid ws-plan-grid-4");
    ui.object = input("text", "ws-plan-object");
    ui.object.placeholder = "object id, e.g. CS02-0010";
    ui.object.autocomplete = "off";
    ui.object.maxLength = 64;
    labelled(grid, "Object 对象编号", ui.object, "ws-plan-wide");
    ui.at = input("time", "ws-plan-at", "10:00");
    ui.at.step = "60";
    labelled(grid, "At 时刻", ui.at);
    ui.minutes = input("number", "ws-plan-minutes", 30);
    ui.minutes.min = "1";
    ui.minutes.max = "480";
    labelled(grid, "Minutes 时长", ui.minutes);
    ui.unit = el("select");
    ui.unit.id = "ws-plan-unit";
    labelled(grid, "Unit 检查单位", ui.unit, "ws-plan-wide");
    ui.unitHint = add(box, "p", "ws-plan-note ws-plan-unit-hint");
    ui.unitHint.id = "ws-plan-unit-hint";
    ui.insertBtn = add(box, "button", "ws-plan-run ws-plan-insert-run",
      "Insert 插入");
    ui.insertBtn.type = "button";
    ui.insertBtn.id = "ws-plan-insert-run";
    ui.insertMsg = add(box, "p", "ws-msg ws-msg-error");
    ui.insertMsg.hidden = true;
    ui.insertBtn.addEventListener("click", insert);
    ui.object.addEventListener("input", unitHint);
    ui.unit.addEventListener("change", unitHint);
    return box;
  }

  function zoneOf(value) {
    for (var i = 0; i < P.zones.length; i++) {
      var p = P.zones[i].properties;
      if (p.name === value || p.code === value) { return P.zones[i]; }
    }
    return null;
  }

  function loadZones() {
    var q = "boundaries/zones" + (P.opts.district ?
      "?district=" + encodeURIComponent(P.opts.district) : "");
    return api(q).then(function (res) {
      if (!res.ok) { throw new Error(errorText(res)); }
      P.zones = res.body.features || [];
      clear(P.ui.zone);
      P.zones.forEach(function (f) {
        var o = add(P.ui.zone, "option", null, f.properties.name);
        o.value = f.properties.name;
        o.setAttribute("data-code", f.properties.code);
      });
      var want = new URLSearchParams(window.location.search).get("zone");
      if (want && zoneOf(want)) { P.ui.zone.value = zoneOf(want).properties.name; }
    });
  }

  function inPeriod(job, day) {
    return !day || (job.params.start <= day && day < job.params.end);
  }

  function calendarJob(id) {
    for (var i = 0; i < P.calendars.length; i++) {
      if (P.calendars[i].id === id) { return P.calendars[i]; }
    }
    return null;
  }

  function loadCalendars() {
    return api("plans/jobs").then(function (res) {
      if (!res.ok) { return; }
      P.calendars = (res.body.jobs || []).filter(function (j) {
        return j.kind === "calendar" && j.state === "done";
      });
      calendarOptions();
    }).catch(function () { /* the sample still works */ });
  }

  /* Finished calendar jobs of the chosen zone; without one the choice is disabled. */
  function calendarOptions() {
    var ui = P.ui;
    var zone = zoneOf(ui.zone.value);
    var keep = ui.calendar.value;
    clear(ui.calendar);
    var mine = P.calendars.filter(function (j) {
      return zone && (j.params.zone === zone.properties.name ||
        j.params.zone === zone.properties.code);
    });
    mine.forEach(function (j) {
      var o = add(ui.calendar, "option", null, j.params.start + " → " + j.params.end +
        (inPeriod(j, ui.date.value) ? "" : " (other dates)"));
      o.value = j.id;
      o.title = "calendar job " + j.id;
    });
    if (!mine.length) {
      add(ui.calendar, "option", null, "none for this zone 暂无").value = "";
      if (ui.useCalendar.checked) { ui.useSample.checked = true; }
    } else if (calendarJob(keep)) {
      ui.calendar.value = keep;
    }
    ui.calendar.disabled = !mine.length;
    ui.useCalendar.disabled = !mine.length;
  }

  function zoneChanged(fit) {
    calendarOptions();
    var f = zoneOf(P.ui.zone.value);
    if (!f) { return; }
    var code = f.properties.code;
    document.querySelectorAll("path.ws-township[data-zone]").forEach(function (p) {
      p.classList.toggle("ws-plan-outside", p.getAttribute("data-zone") !== code);
    });
    P.zoneLayer.clearLayers();
    var outline = L.geoJSON(f, {pane: "ws-plan-zone", interactive: false, style: function () {
      return {color: "#0f172a", weight: 3.5, opacity: 0.9, fill: false,
        className: "ws-plan-zone-line"};
    }}).addTo(P.zoneLayer);
    var drawnHere = P.plan && zoneOf(P.plan.zone) === f;
    if (fit && !drawnHere) {
      P.map.fitBounds(outline.getBounds(), {paddingTopLeft: [60, 70],
        paddingBottomRight: [260, 40], maxZoom: 13, animate: false});
    }
  }

  // -- mode ------------------------------------------------------------------------------------

  function setMode(mode) {
    var plan = mode === "plan";
    if (plan === (P.mode === "plan")) { return; }
    P.mode = plan ? "plan" : "dispatch";
    document.querySelectorAll(".ws-tabs [role=tab]").forEach(function (b) {
      b.setAttribute("aria-selected", b.getAttribute("data-tab") === P.mode ? "true" : "false");
    });
    document.body.classList.toggle("ws-mode-plan", plan);
    document.getElementById("ws-plan").hidden = !plan;
    var key = document.getElementById("ws-plan-key");
    if (key) { key.hidden = !plan; }
    var sub = document.querySelector(".ws-title .ws-sub");
    if (sub) {
      if (P.sub === null) { P.sub = sub.textContent; }
      sub.textContent = plan ? "Patrol planning 巡查计划" : P.sub;
    }
    // The live layers make way for the routes, and come back as they were.
    var live = [P.opts.tickets, P.opts.teams];
    var sel = window.WhistleConsole && WhistleConsole.state && WhistleConsole.state.selection;
    if (sel) { live.push(sel); }
    if (plan) {
      P.hiddenLive = live.filter(function (l) { return l && P.map.hasLayer(l); });
      P.hiddenLive.forEach(function (l) { P.map.removeLayer(l); });
      P.zoneLayer.addTo(P.map);
      P.layer.addTo(P.map);
      loadCalendars();
      zoneChanged(!P.plan);
      spread();
    } else {
      P.map.removeLayer(P.layer);
      P.map.removeLayer(P.zoneLayer);
      document.querySelectorAll("path.ws-plan-outside").forEach(function (p) {
        p.classList.remove("ws-plan-outside");
      });
      P.hiddenLive.forEach(function (l) { l.addTo(P.map); });
      P.hiddenLive = [];
    }
    setBody("mode", P.mode);
  }

  // -- submitting and polling ------------------------------------------------------------------

  function say(text) {
    P.ui.msg.hidden = !text;
    P.ui.msg.textContent = text || "";
  }

  function submit() {
    var ui = P.ui;
    say(null);
    var body = {zone: ui.zone.value, date: ui.date.value, duty: ui.duty.value,
      time_limit_s: Number(ui.time.value)};
    if (!body.zone) { say("zone: choose a zone 请选择片区"); return; }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(body.date)) { say("date: choose a date 请选择日期"); return; }
    if (!(body.time_limit_s > 0 && body.time_limit_s <= 300)) {
      say("time_limit_s: between 1 and 300 seconds");
      return;
    }
    if (ui.useCalendar.checked) {
      if (!ui.calendar.value) { say("calendar_job_id: no finished calendar job chosen"); return; }
      body.calendar_job_id = ui.calendar.value;
    } else {
      var n = Number(ui.sample.value);
      if (!(n >= 1 && n <= 500 && Math.floor(n) === n)) {
        say("sample_objects: a whole number from 1 to 500");
        return;
      }
      body.sample_objects = n;
    }
    ui.run.disabled = true;
    setBody("state", "submitting");
    api("plans/routes", body).then(function (res) {
      if (res.status !== 202) {
        ui.run.disabled = false;
        setBody("state", "error");
        say(errorText(res));
        return;
      }
      follow(res.body, "plan");
    }).catch(function (err) {
      ui.run.disabled = false;
      setBody("state", "error");
      say("No answer from the service 服务无响应: " + err.message);
    });
  }

  /* Poll job ``id`` while ``live()``: ``tick(status)`` on every answer; resolves with
   * [status, result] when it is done, rejects with its error when it failed. */
  function watch(id, tick, live) {
    var url = "plans/jobs/" + encodeURIComponent(id);
    return new Promise(function (resolve, reject) {
      function step() {
        if (!live()) { return; }
        api(url).then(function (res) {
          if (!live()) { return; }
          if (!res.ok) { throw new Error(errorText(res)); }
          var st = res.body;
          tick(st);
          if (st.state === "done") {
            return api(url + "/result").then(function (r) {
              if (!r.ok) { throw new Error(errorText(r)); }
              resolve([st, r.body]);
            });
          }
          if (st.state === "failed") { throw new Error(detailText(st.error, 422)); }
          window.setTimeout(step, POLL_MS);
        }).catch(reject);
      }
      step();
    });
  }

  /* Poll a job until it finishes, showing its progress; then show its result. ``why`` is
   * "plan" (a new plan, a deep link) or "insert" (an urgent insertion). */
  function follow(status, why) {
    var seq = ++P.seq;
    function live() { return seq === P.seq; }
    setBody(why === "insert" ? "insert" : "state", "running");
    progress(status);
    watch(status.id, progress, live).then(function (done) {
      if (live()) { show(done[0], done[1]); }
    }).catch(function (err) {
      if (live()) { failed(why, err.message); }
    });
  }

  function failed(why, text) {
    P.ui.run.disabled = false;
    P.ui.insertBtn.disabled = false;
    if (why === "insert") {
      P.ui.insertMsg.hidden = false;
      P.ui.insertMsg.textContent = text;
      setBody("insert", "error");
    } else {
      say(text);
      setBody("state", "error");
    }
  }

  function progress(st) {
    var box = P.ui.status;
    box.hidden = false;
    clear(box);
    box.setAttribute("data-state", st.state);
    var line = add(box, "div", "ws-plan-state");
    add(line, "span", "ws-plan-dot");
    add(line, "b", null, (STATE_TEXT[st.state] || st.state));
    add(line, "span", null, (st.kind === "insert" ? "urgent insert" : st.kind) + " job " + st.id);
    add(line, "span", "ws-plan-elapsed", (st.elapsed_s || 0).toFixed(1) + " s");
    var lines = st.progress || [];
    if (!lines.length) { return; }
    var log = add(box, "details", "ws-plan-log");
    log.open = st.state !== "done";
    add(log, "summary", null, "Solver log 求解过程 (" + lines.length + ")");
    var ol = add(log, "ol");
    ol.id = "ws-plan-log";
    lines.forEach(function (p) {
      var li = add(ol, "li");
      add(li, "span", "ws-plan-t", Number(p.t).toFixed(1) + " s");
      add(li, "span", null, String(p.message).trim());
    });
    ol.scrollTop = ol.scrollHeight;
  }

  /* Open a job by id (deep link): a routes or insert job is drawn when it finishes. */
  function open(id) {
    setBody("state", "loading");
    api("plans/jobs/" + encodeURIComponent(id)).then(function (res) {
      if (!res.ok) {
        throw new Error(res.status === 404 ? "No job " + id + " on this server 无此任务 " +
          "(jobs are kept in memory: a restarted server has none)" : errorText(res));
      }
      if (res.body.kind !== "routes" && res.body.kind !== "insert") {
        throw new Error("job " + id + " is a " + res.body.kind + " job; only routes and " +
          "insert jobs have routes to draw");
      }
      follow(res.body, "plan");
    }).catch(function (err) { failed("plan", err.message); });
  }

  // -- showing a plan --------------------------------------------------------------------------

  function show(status, result) {
    var plan = status.kind === "insert" ? result.plan : result;
    P.job = status;
    P.plan = plan;
    P.geo = result.geojson || {features: []};
    P.insert = status.kind === "insert" ? result : null;
    P.focus = null;
    P.ui.run.disabled = false;
    P.ui.insertBtn.disabled = false;
    if (zoneOf(plan.zone)) { P.ui.zone.value = zoneOf(plan.zone).properties.name; }
    P.ui.date.value = plan.date;
    if (plan.options && plan.options.duty) { P.ui.duty.value = plan.options.duty; }
    if (status.kind === "routes" && status.params.sample_objects) {
      P.ui.sample.value = status.params.sample_objects;
      P.ui.useSample.checked = true;
    } else if (status.kind === "routes" && status.params.calendar_job_id) {
      P.ui.useCalendar.checked = true;
      P.ui.calendar.value = status.params.calendar_job_id;
    }
    prepare(plan);
    zoneChanged(false);
    draw(plan);
    render(plan);
    var url = new URL(window.location.href);
    url.searchParams.delete("ticket");
    url.searchParams.set("plan", status.id);
    window.history.replaceState(null, "", url.pathname + url.search);
    setBody("job", status.id);
    setBody("kind", status.kind);
    setBody("eta-source", plan.eta_source);
    setBody("state", "drawn");
    if (P.insert) { setBody("insert", "done"); }
  }

  /* Colours, unit names and lookups for one plan. */
  function prepare(plan) {
    var c = {};
    (P.geo.features || []).forEach(function (f) {
      var p = f.properties || {};
      if (p.kind === "route" && HEX.test(p.stroke || "")) { c[p.crew_id] = p.stroke; }
      if (p.kind === "base" && !c[p.crew_id] && HEX.test(p["marker-color"] || "")) {
        c[p.crew_id] = p["marker-color"];
      }
    });
    P.units = {};
    P.crews = {};
    plan.crews.forEach(function (crew, k) {
      if (!c[crew.id]) { c[crew.id] = PALETTE[k % PALETTE.length]; }
      P.crews[crew.id] = crew;
      // A crew's name joins its units' names with " + ", in the order of its units.
      var names = String(crew.name).split(" + ");
      if (names.length === crew.units.length) {
        crew.units.forEach(function (u, i) { P.units[u] = names[i]; });
      }
    });
    P.colours = c;
    P.visits = {};
    plan.visits.forEach(function (v) { P.visits[v.id] = v; });
    P.moved = {};
    if (P.insert) {
      (P.insert.moved_stops || []).forEach(function (m) { P.moved[m.visit_id] = m; });
    }
    unitOptions(plan);
  }

  function unitLabel(u) { return P.units[u] ? P.units[u] + " (" + u + ")" : u; }

  function deptLabel(code) {
    var u = "dept:" + code;
    return P.units[u] || code;
  }

  // -- the map ---------------------------------------------------------------------------------

  function tooltipBox(title, chip, chipColour) {
    var box = el("div", "ws-tt ws-tt-plan");
    var head = add(box, "div", "ws-tt-name", title);
    if (chip) {
      var c = add(head, "span", "ws-tt-kind ws-plan-tt-chip", chip);
      if (chipColour) { c.style.background = chipColour; c.style.color = "#fff"; }
    }
    return box;
  }

  function stopTooltip(route, s) {
    var v = P.visits[s.visit_id] || {};
    var box = tooltipBox(s.name, route.crew_id + " · #" + s.seq, colour(P.colours[route.crew_id]));
    var t = add(box, "table");
    row(t, "Object 对象", s.object_id + (s.visit_id !== s.object_id ? " (" + s.visit_id + ")" : ""));
    row(t, "Arrival 到达", s.arrival + (s.wait_min > 0 ? " · waits 等候 " +
      Math.round(s.wait_min) + " min" : ""));
    row(t, "Service 检查", s.start + "–" + s.end + (v.minutes ? " · " + v.minutes + " min" : ""));
    row(t, "Joint 联合检查", s.joint ? "yes 是 · " + s.units.length + " units 家单位" : "no 否",
      s.joint ? "ws-plan-tt-joint" : null);
    row(t, "Units 检查单位", s.units.map(function (u) { return P.units[u] || u; }).join("、"));
    if (v.departments && v.departments.length) {
      row(t, "Departments 部门", v.departments.map(deptLabel).join("、"));
    }
    if (v.priority > 1) { row(t, "Urgent 紧急", "inserted 紧急插入", "ws-plan-tt-urgent"); }
    var m = P.moved[s.visit_id];
    if (m) {
      row(t, "Moved 已调整", m.why.map(function (w) { return MOVE_WHY[w] || w; }).join("；") +
        " (was " + m.before.crew + " " + m.before.start + ")", "ws-plan-tt-moved");
    }
    return box;
  }

  function routeTooltip(route) {
    var crew = P.crews[route.crew_id];
    var box = tooltipBox(route.crew_id + " " + (route.departure || "") + "–" +
      (route.return || ""), route.stops.length + " stops 停靠", colour(P.colours[route.crew_id]));
    var t = add(box, "table");
    row(t, "Crew 车组", crew.name);
    row(t, "Distance 里程", km(route.distance_m) + " · " + Math.round(route.travel_s / 60) +
      " min driving 行驶");
    if (route.lunch) { row(t, "Lunch 午休", route.lunch.join("–")); }
    return box;
  }

  function baseTooltip(group) {
    var box = tooltipBox(group.name || "Base 驻地", "base 驻地");
    var t = add(box, "table");
    group.crews.forEach(function (id) {
      var r = routeOf(id);
      var tr = row(t, id, r && r.stops.length ? (r.departure + "–" + r["return"] + " · " +
        r.stops.length + " stops") : "no stops today 今日未出车");
      var dot = el("span", "ws-plan-dot-crew");
      dot.style.background = colour(P.colours[id]);
      tr.firstChild.insertBefore(dot, tr.firstChild.firstChild);
    });
    return box;
  }

  function leftTooltip(group) {
    var box = tooltipBox(group.name, "left out 未安排");
    var t = add(box, "table");
    row(t, "Object 对象", group.object_id);
    group.items.forEach(function (x) {
      var item = add(box, "div", "ws-plan-tt-left");
      item.setAttribute("data-visit-id", x.visit_id);
      var top = add(item, "div");
      add(top, "span", "ws-chip ws-plan-chip-left", LEFT_KIND[x.kind] || x.kind);
      add(top, "span", "ws-code", " " + x.visit_id);
      add(item, "div", "ws-plan-reason", x.reason);
    });
    return box;
  }

  function routeOf(crewId) {
    var rs = P.plan.routes;
    for (var i = 0; i < rs.length; i++) { if (rs[i].crew_id === crewId) { return rs[i]; } }
    return null;
  }

  function icon(node, cls, size) {
    return L.divIcon({html: node, className: cls, iconSize: size,
      iconAnchor: [size[0] / 2, size[1] / 2], tooltipAnchor: [size[0] / 2 + 2, 0]});
  }

  function before(a, b) {
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) { return a[i] < b[i] ? -1 : 1; }
    }
    return 0;
  }

  var CELL = 24;  // px per mark when marks are set side by side

  /* Marks that overlap on screen (several visits to one object, neighbouring objects) are
   * set side by side in a small grid around their centre, in crew and stop order, so every
   * number stays readable; each marker and its tooltip keep the true place, only the drawn
   * badge moves. Grids that would touch merge until none do; redone at every zoom. */
  function spread() {
    var marks = (P.marks || []).filter(function (k) { return k.marker.getElement(); });
    var pts = marks.map(function (k) { return P.map.latLngToLayerPoint(k.marker.getLatLng()); });
    var groups = marks.map(function (_, i) { return [i]; });
    function box(g) {
      var x = 0, y = 0, n = g.length;
      g.forEach(function (i) { x += pts[i].x / n; y += pts[i].y / n; });
      var cols = n < 4 ? n : Math.min(n, Math.ceil(Math.sqrt(2 * n)));
      var rows = Math.ceil(n / cols);
      return {x: x, y: y, cols: cols, w: cols * CELL - 2, h: rows * CELL - 2};
    }
    var merged = true;
    while (merged) {
      merged = false;
      var boxes = groups.map(box);
      for (var a = 0; a < groups.length && !merged; a++) {
        for (var b = a + 1; b < groups.length && !merged; b++) {
          var p = boxes[a], q = boxes[b];
          if (Math.abs(p.x - q.x) < (p.w + q.w) / 2 + 2 &&
              Math.abs(p.y - q.y) < (p.h + q.h) / 2 + 2) {
            groups[a] = groups[a].concat(groups[b]);
            groups.splice(b, 1);
            merged = true;
          }
        }
      }
    }
    groups.forEach(function (g) {
      var r = box(g);
      g.sort(function (i, j) { return before(marks[i].order, marks[j].order); });
      g.forEach(function (i, k) {
        var node = marks[i].marker.getElement();
        var cx = r.x - r.w / 2 + (k % r.cols) * CELL + (CELL - 2) / 2;
        var cy = r.y - r.h / 2 + Math.floor(k / r.cols) * CELL + (CELL - 2) / 2;
        var dx = cx - pts[i].x, dy = cy - pts[i].y;
        var moved = g.length > 1;
        if (node.firstChild) {
          node.firstChild.style.transform = moved ?
            "translate(" + dx.toFixed(1) + "px," + dy.toFixed(1) + "px)" : "";
        }
        var tip = marks[i].marker.getTooltip();
        if (tip) { tip.options.offset = moved ? [dx, dy] : [0, 0]; }
        node.classList.toggle("ws-plan-spread", g.length > 1);
      });
    });
  }

  function tagged(marker, map) {
    marker.on("add", function () { attrs(marker.getElement(), map); });
    return marker;
  }

  /* Arrows along a route: on each straight leg, or spaced along a road line. */
  function arrows(latlngs, n, c) {
    var out = [];
    var map = P.map;
    function at(a, b, f) {
      var pa = map.project(a, 12), pb = map.project(b, 12);
      var deg = Math.atan2(pb.y - pa.y, pb.x - pa.x) * 180 / Math.PI;
      var ll = L.latLng(a.lat + (b.lat - a.lat) * f, a.lng + (b.lng - a.lng) * f);
      var node = el("div", "ws-plan-arrow");
      node.style.transform = "rotate(" + deg.toFixed(1) + "deg)";
      node.style.borderLeftColor = c;
      out.push(L.marker(ll, {icon: icon(node, "ws-plan-arrow-icon", [12, 12]),
        interactive: false, keyboard: false, zIndexOffset: -500}));
    }
    var pts = latlngs.map(function (p) { return L.latLng(p); });
    var lens = [], total = 0;
    for (var i = 1; i < pts.length; i++) {
      var d = pts[i - 1].distanceTo(pts[i]);
      lens.push(d);
      total += d;
    }
    if (pts.length <= n + 2) {
      // Off-centre, so the two arrows of an out-and-back leg do not sit on each other.
      lens.forEach(function (d, k) { if (d > 600) { at(pts[k], pts[k + 1], 0.4); } });
      return out;
    }
    var spacing = Math.max(total / (n + 1), 600);
    var next = spacing / 2, run = 0;
    for (var j = 0; j < lens.length; j++) {
      while (lens[j] > 0 && run + lens[j] >= next) {
        at(pts[j], pts[j + 1], (next - run) / lens[j]);
        next += spacing;
      }
      run += lens[j];
    }
    return out;
  }

  function draw(plan) {
    var layer = P.layer;
    layer.clearLayers();
    P.drawn = {};
    var bounds = L.latLngBounds([]);
    (P.geo.features || []).forEach(function (f) {
      var p = f.properties || {};
      if (p.kind !== "route" || !f.geometry || f.geometry.type !== "LineString") { return; }
      var ll = f.geometry.coordinates.map(function (xy) { return [xy[1], xy[0]]; });
      var c = colour(P.colours[p.crew_id]);
      var route = routeOf(p.crew_id);
      var casing = L.polyline(ll, {pane: "ws-plan-lines", color: "#ffffff", weight: 8,
        opacity: 0.85, lineJoin: "round", lineCap: "round", interactive: false,
        className: "ws-plan-casing"});
      var line = L.polyline(ll, {pane: "ws-plan-lines", color: c, weight: 4, opacity: 1,
        lineJoin: "round", lineCap: "round", className: "ws-plan-route"});
      tagged(line, {"data-crew-id": p.crew_id, "data-stops": p.stops,
        "data-geometry": p.geometry || ""});
      if (route) {
        line.bindTooltip(function () { return routeTooltip(route); },
          {sticky: true, direction: "top", className: "ws-tooltip"});
      }
      line.on("click", function () { focusCrew(p.crew_id); });
      casing.addTo(layer);
      line.addTo(layer);
      var extra = arrows(ll, p.stops || 1, c);
      extra.forEach(function (m) { m.addTo(layer); });
      P.drawn[p.crew_id] = {line: line, casing: casing, markers: extra.slice()};
      bounds.extend(line.getBounds());
    });

    // Bases: one mark per place, with a dot per crew leaving from it.
    var bases = {};
    plan.crews.forEach(function (crew) {
      var key = crew.base.lat.toFixed(6) + "," + crew.base.lon.toFixed(6);
      if (!bases[key]) {
        bases[key] = {name: crew.base.name, lat: crew.base.lat, lon: crew.base.lon, crews: []};
      }
      bases[key].crews.push(crew.id);
    });
    Object.keys(bases).forEach(function (key) {
      var g = bases[key];
      var node = el("div", "ws-plan-base");
      add(node, "span", "ws-plan-base-glyph", "驻");
      var dots = add(node, "span", "ws-plan-base-dots");
      g.crews.forEach(function (id) {
        add(dots, "span", "ws-plan-dot-crew").style.background = colour(P.colours[id]);
      });
      var m = tagged(L.marker([g.lat, g.lon], {icon: icon(node, "ws-plan-base-icon", [26, 26]),
        keyboard: false, zIndexOffset: 2000}), {"data-crews": g.crews.join(" ")});
      m.bindTooltip(function () { return baseTooltip(g); },
        {direction: "auto", className: "ws-tooltip"});
      m.addTo(layer);
      bounds.extend([g.lat, g.lon]);
    });

    // Stops and visits left out (one mark per object: it may have several visits).
    var left = {};
    plan.left_out.forEach(function (x) {
      var v = P.visits[x.visit_id];
      if (!v) { return; }
      var key = v.object_id;
      if (!left[key]) {
        left[key] = {object_id: v.object_id, name: v.name, lat: v.lat, lon: v.lon, items: []};
      }
      left[key].items.push(x);
    });
    var marks = [];
    plan.routes.forEach(function (route) {
      route.stops.forEach(function (s) { marks.push({route: route, s: s}); });
    });
    P.marks = [];

    Object.keys(left).forEach(function (key) {
      var g = left[key];
      var node = el("div", "ws-plan-left", "×");
      if (g.items.length > 1) { add(node, "span", "ws-plan-count", g.items.length); }
      var m = tagged(L.marker([g.lat, g.lon], {icon: icon(node, "ws-plan-left-icon", [18, 18]),
        keyboard: false, zIndexOffset: 100}), {"data-object-id": g.object_id,
        "data-visit-ids": g.items.map(function (x) { return x.visit_id; }).join(" "),
        "data-reasons": g.items.map(function (x) { return x.kind; }).join(" ")});
      m.bindTooltip(function () { return leftTooltip(g); },
        {direction: "auto", className: "ws-tooltip"});
      m.addTo(layer);
      P.marks.push({marker: m, order: [2, g.object_id, 0]});
      bounds.extend([g.lat, g.lon]);
    });

    marks.forEach(function (mark) {
      var route = mark.route, s = mark.s;
      var c = colour(P.colours[route.crew_id]);
      var v = P.visits[s.visit_id] || {};
      var urgent = v.priority > 1;
      var node = el("div", "ws-plan-stop" + (s.joint ? " ws-plan-joint" : "") +
        (urgent ? " ws-plan-urgent" : "") + (P.moved[s.visit_id] ? " ws-plan-moved" : ""),
        s.seq);
      node.style.background = c;
      if (urgent) { add(node, "span", "ws-plan-flag", "!"); }
      var m = tagged(L.marker([s.lat, s.lon], {icon: icon(node, "ws-plan-stop-icon", [22, 22]),
        keyboard: false, riseOnHover: true, zIndexOffset: urgent ? 3000 : 1000}), {
        "data-crew-id": route.crew_id, "data-seq": s.seq, "data-visit-id": s.visit_id,
        "data-object-id": s.object_id, "data-joint": s.joint ? "true" : "false",
        "data-urgent": urgent ? "true" : "false",
        "data-moved": P.moved[s.visit_id] ? "true" : "false"});
      m.bindTooltip(function () { return stopTooltip(route, s); },
        {direction: "auto", className: "ws-tooltip"});
      m.on("click", function () { focusCrew(route.crew_id); });
      m.addTo(layer);
      P.marks.push({marker: m, order: [1, route.crew_id, s.seq]});
      if (P.drawn[route.crew_id]) { P.drawn[route.crew_id].markers.push(m); }
      bounds.extend([s.lat, s.lon]);
    });

    if (bounds.isValid()) {
      P.map.fitBounds(bounds, {paddingTopLeft: [60, 80], paddingBottomRight: [250, 50],
        maxZoom: 14, animate: false});
    }
    spread();
    var count = function (sel) { return String(document.querySelectorAll(sel).length); };
    setBody("routes-drawn", count("path.ws-plan-route[data-crew-id]"));
    setBody("stops-drawn", count(".ws-plan-stop-icon[data-visit-id]"));
    setBody("bases-drawn", count(".ws-plan-base-icon[data-crews]"));
    setBody("left-out-drawn", count(".ws-plan-left-icon[data-visit-ids]"));
    keyEta(plan);
  }

  /* Bring one crew forward (line, stops, card); the same crew again shows all. */
  function focusCrew(id) {
    P.focus = P.focus === id ? null : id;
    Object.keys(P.drawn).forEach(function (k) {
      var d = P.drawn[k];
      var on = P.focus === null || P.focus === k;
      d.line.setStyle({opacity: on ? 1 : 0.18, weight: P.focus === k ? 5.5 : 4});
      d.casing.setStyle({opacity: on ? 0.85 : 0});
      if (on) { d.casing.bringToFront(); d.line.bringToFront(); }
      d.markers.forEach(function (m) {
        var node = m.getElement();
        if (node) { node.classList.toggle("ws-plan-dim", !on); }
      });
    });
    document.querySelectorAll(".ws-plan-crew").forEach(function (li) {
      var on = li.getAttribute("data-crew-id") === P.focus;
      li.classList.toggle("ws-plan-crew-focus", on);
      if (on && li.scrollIntoView) { li.scrollIntoView({block: "nearest"}); }
    });
    setBody("focus", P.focus);
    if (P.focus && P.drawn[P.focus]) {
      P.map.fitBounds(P.drawn[P.focus].line.getBounds(), {paddingTopLeft: [60, 80],
        paddingBottomRight: [250, 50], maxZoom: 14, animate: false});
    }
  }

  // -- the panel -------------------------------------------------------------------------------

  function fact(grid, label, value, cls) {
    var cell = add(grid, "div", "ws-fact" + (cls ? " " + cls : ""));
    add(cell, "span", "ws-fact-label", label);
    add(cell, "span", "ws-fact-value", value);
    return cell;
  }

  function etaText(plan) {
    if (plan.eta_source === "estimate") {
      return {cls: "ws-msg-warn", head: "Estimated travel 估算行程",
        text: "No road network loaded: times are straight-line distance × a detour factor " +
          "at an average speed; lines are straight, not roads. 未导入路网：按直线距离估算，连线为直线。"};
    }
    var mixed = P.geo.whistle && P.geo.whistle.geometry === "mixed";
    return {cls: "ws-msg-info", head: "Road network 路网",
      text: "Travel times and lines follow the imported road network" +
        (mixed ? "; legs with no road route are drawn straight" : "") + ". 行驶时间按路网计算。"};
  }

  function render(plan) {
    var box = P.ui.result;
    clear(box);
    var s = plan.summary;
    var h3 = add(box, "h3", "ws-plan-title", plan.zone + " · " + dayText(plan.date));
    h3.id = "ws-plan-heading";
    var head = add(box, "div", "ws-plan-sub");
    var meta = add(head, "span", "ws-plan-meta", (plan.source || "—") +
      (plan.replanned_at ? " · re-planned at 重新规划 " + plan.replanned_at : ""));
    meta.id = "ws-plan-meta";
    meta.title = "Visits from 来源";
    var link = add(head, "a", "ws-plan-download", "Download GeoJSON 下载");
    link.id = "ws-plan-geojson";
    link.href = API + "plans/jobs/" + encodeURIComponent(P.job.id) + "/routes.geojson";
    link.setAttribute("download", "whistle-routes-" + plan.zone + "-" + plan.date + ".geojson");
    link.setAttribute("type", "application/geo+json");

    var eta = etaText(plan);
    var e = add(box, "div", "ws-msg ws-plan-eta " + eta.cls);
    e.id = "ws-plan-eta";
    e.setAttribute("data-eta-source", plan.eta_source);
    add(e, "b", null, eta.head + " · eta_source: " + plan.eta_source);
    add(e, "span", null, eta.text);

    var facts = add(box, "div", "ws-facts ws-plan-facts");
    var duty = (plan.options && plan.options.duty) || "day";
    fact(facts, "Duty 班次", (duty === "night" ? "night 夜查 " : "day 日间 ") +
      ((plan.options && plan.options.shift) || ""));
    fact(facts, "Routed 已安排", s.routed + " / " + s.visits + " visits");
    fact(facts, "Joint 联合检查", s.joint_routed + " visits");
    fact(facts, "Crews 车组", s.crews_used + " / " + s.crews + " out");
    fact(facts, "Distance 里程", s.distance_km.toFixed(1) + " km");
    fact(facts, "Driving 行驶", Math.round(s.travel_min) + " min");
    fact(facts, "Left out 未安排", s.left_out + " visits", s.left_out ? "ws-plan-fact-left" : null);
    var others = plan.other_duty || [];
    var otherDuty = duty === "night" ? "day" : "night";
    if (others.length) {
      fact(facts, otherDuty === "night" ? "Night duty 夜查" : "Day duty 日间",
        others.length + " visits");
    }

    if (P.insert) { renderOutcome(box, P.insert); }

    var crews = add(box, "section", "ws-plan-block");
    add(crews, "h4", null, "Crews 车组 (" + plan.crews.length + ")");
    var ol = add(crews, "ol", "ws-plan-crews");
    ol.id = "ws-plan-crews";
    plan.crews.forEach(function (crew) { crewCard(ol, crew, routeOf(crew.id)); });

    box.appendChild(P.ui.insert);
    unitHint();

    if (others.length) {
      var od = add(box, "p", "ws-plan-note ws-plan-other-duty");
      od.id = "ws-plan-other-duty";
      od.setAttribute("data-count", others.length);
      od.textContent = others.length + " visits of the " + otherDuty + " duty are not in this " +
        "plan: choose Duty " + otherDuty + " to route them. " +
        (otherDuty === "night" ? "另有夜查检查 " : "另有日间检查 ") + others.length +
        " 项，请选择对应班次规划。";
    }

    var lo = add(box, "section", "ws-plan-block");
    add(lo, "h4", null, "Left out 未安排 (" + plan.left_out.length + ")");
    if (!plan.left_out.length) {
      add(lo, "p", "ws-plan-note", "Every visit is routed. 所有检查均已安排。");
    }
    var ul = add(lo, "ul", "ws-plan-lefts");
    ul.id = "ws-plan-left-out";
    plan.left_out.forEach(function (x) {
      var v = P.visits[x.visit_id] || {};
      var li = add(ul, "li", "ws-plan-left-item");
      li.setAttribute("data-visit-id", x.visit_id);
      li.setAttribute("data-kind", x.kind);
      var top = add(li, "div", "ws-plan-left-top");
      add(top, "span", "ws-plan-left-mark", "×");
      add(top, "b", null, v.name || x.visit_id);
      add(top, "span", "ws-code", x.visit_id);
      add(top, "span", "ws-chip ws-plan-chip-left", LEFT_KIND[x.kind] || x.kind);
      add(li, "p", "ws-plan-reason", x.reason);
      li.addEventListener("click", function () {
        if (v.lat !== undefined) { P.map.setView([v.lat, v.lon], 14, {animate: false}); }
      });
    });
  }

  function crewCard(ol, crew, route) {
    var stops = route ? route.stops : [];
    var c = colour(P.colours[crew.id]);
    var li = add(ol, "li", "ws-plan-crew" + (stops.length ? "" : " ws-plan-crew-idle"));
    li.setAttribute("data-crew-id", crew.id);
    li.setAttribute("data-stops", String(stops.length));
    li.style.borderLeftColor = c;
    var top = add(li, "div", "ws-plan-crew-top");
    add(top, "span", "ws-plan-swatch").style.background = c;
    add(top, "b", "ws-plan-crew-id", crew.id);
    add(top, "span", "ws-plan-span", stops.length ? route.departure + "–" + route["return"] :
      "not out today 今日未出车");
    var figs = add(li, "div", "ws-plan-figs");
    add(figs, "span", null, stops.length + (stops.length === 1 ? " stop" : " stops") + " 停靠");
    add(figs, "span", null, route ? km(route.distance_m) : "0 km");
    add(figs, "span", null, crew.officers.length + " officers 执法人员");
    add(figs, "span", null, crew.units.length + " units 单位");
    if (route && route.lunch) { add(figs, "span", null, "lunch 午休 " + route.lunch.join("–")); }
    var units = add(li, "div", "ws-plan-units");
    crew.units.forEach(function (u) {
      var chip = add(units, "span", "ws-plan-unit" + (u.indexOf("dept:") === 0 ? " ws-plan-dept" :
        ""), P.units[u] || u);
      chip.title = u;
    });
    if (stops.length) {
      var d = add(li, "details", "ws-plan-stops");
      add(d, "summary", null, "Stops 停靠顺序");
      var list = add(d, "ol");
      stops.forEach(function (s) {
        var item = add(list, "li");
        item.setAttribute("data-visit-id", s.visit_id);
        add(item, "span", "ws-plan-seq", s.seq).style.background = c;
        add(item, "span", "ws-plan-when", s.start + "–" + s.end);
        add(item, "span", "ws-plan-what", s.name);
        if (s.joint) { add(item, "span", "ws-plan-tag", "联合"); }
        var v = P.visits[s.visit_id] || {};
        if (v.priority > 1) { add(item, "span", "ws-plan-tag ws-plan-tag-urgent", "紧急"); }
        if (P.moved[s.visit_id]) { add(item, "span", "ws-plan-tag ws-plan-tag-moved", "调整"); }
      });
      d.addEventListener("click", function (e) { e.stopPropagation(); });
    }
    li.addEventListener("click", function () { if (stops.length) { focusCrew(crew.id); } });
  }

  function renderOutcome(box, res) {
    var out = add(box, "section", "ws-plan-block ws-plan-outcome");
    out.id = "ws-plan-outcome";
    out.setAttribute("data-inserted", res.inserted ? "true" : "false");
    out.setAttribute("data-moved", String(res.moved));
    add(out, "h4", null, "Urgent insert 紧急插入 · " + (res.visit.name || res.visit.object_id));
    if (res.inserted) {
      add(out, "p", "ws-msg ws-msg-ok", "Inserted 已插入: " + res.visit.object_id + " on crew " +
        res.crew + (res.new_crew ? " (a new crew 新组车组)" : "") + ", starts " + res.start +
        " · " + (METHOD[res.method] || res.method));
    } else {
      add(out, "p", "ws-msg ws-msg-error", "Not inserted 未能插入 (" + res.kind + "): " +
        res.reason);
    }
    var moved = add(out, "p", "ws-plan-moved-line", "Moved " + res.moved + " stop" +
      (res.moved === 1 ? "" : "s") + " 调整 " + res.moved + " 个停靠点");
    moved.id = "ws-plan-moved";
    add(moved, "span", "ws-plan-note", " · " + res.frozen_stops + " started before " +
      (P.plan.replanned_at || "") + " stay 已开始的保持不变 · time shifts over " +
      res.moved_threshold_min + " min count");
    if (res.moved_stops && res.moved_stops.length) {
      var ul = add(out, "ul", "ws-plan-moves");
      res.moved_stops.forEach(function (m) {
        var li = add(ul, "li");
        li.setAttribute("data-visit-id", m.visit_id);
        var v = P.visits[m.visit_id] || {};
        add(li, "b", null, (v.name || m.visit_id) + " ");
        add(li, "span", "ws-code", m.visit_id);
        add(li, "span", "ws-plan-move-from", m.before.crew + " " + m.before.start + " → " +
          (m.after ? m.after.crew + " " + m.after.start : "left out 移出"));
        add(li, "span", "ws-plan-why", m.why.map(function (w) {
          return MOVE_WHY[w] || w;
        }).join("；"));
      });
    }
  }

  // -- urgent insert ---------------------------------------------------------------------------

  function unitOptions(plan) {
    var ui = P.ui;
    var keep = ui.unit.value;
    clear(ui.unit);
    add(ui.unit, "option", null, "Object's township team 对象所在乡镇队伍").value = "auto";
    var seen = {};
    plan.crews.forEach(function (crew) {
      crew.units.forEach(function (u) {
        if (seen[u]) { return; }
        seen[u] = true;
        add(ui.unit, "option", null, unitLabel(u)).value = u;
      });
    });
    ui.unit.value = seen[keep] ? keep : "auto";
  }

  /* The unit an urgent visit to ``objectId`` goes to with "auto": the township team the
   * plan's visits give the object's township, else the zone's one township team (a unit of
   * the plan that is not a department); null when that is ambiguous. */
  function autoUnit(objectId) {
    var plan = P.plan;
    var town = null;
    plan.visits.forEach(function (v) { if (v.object_id === objectId) { town = v.township; } });
    var teams = {};
    function note(units) {
      units.forEach(function (u) { if (u.indexOf("dept:") !== 0) { teams[u] = true; } });
    }
    plan.visits.forEach(function (v) {
      if (town === null || v.township === town) { note(v.units); }
    });
    if (town === null) { plan.crews.forEach(function (c) { note(c.units); }); }
    var ids = Object.keys(teams);
    if (ids.length !== 1) { return null; }
    return {unit: ids[0], why: town !== null ? "township team of " + town :
      "the zone's township team 片区乡镇队伍"};
  }

  function chosenUnit() {
    var ui = P.ui;
    if (ui.unit.value !== "auto") { return {unit: ui.unit.value, why: "chosen"}; }
    return autoUnit(ui.object.value.trim());
  }

  function unitHint() {
    if (!P.plan) { return; }
    var ui = P.ui;
    var id = ui.object.value.trim();
    if (ui.unit.value !== "auto") { ui.unitHint.textContent = ""; return; }
    var u = autoUnit(id);
    ui.unitHint.textContent = u ? "→ " + unitLabel(u.unit) + " · " + u.why :
      "Choose the unit: this zone has more than one township team. 请选择检查单位。";
  }

  function stopOf(objectId) {
    var hit = null;
    P.plan.routes.forEach(function (r) {
      r.stops.forEach(function (s) { if (s.object_id === objectId) { hit = [r.crew_id, s]; } });
    });
    return hit;
  }

  function insert() {
    var ui = P.ui;
    ui.insertMsg.hidden = true;
    function refuse(text) {
      ui.insertMsg.hidden = false;
      ui.insertMsg.textContent = text;
      setBody("insert", "refused");
    }
    if (!P.job || !P.plan) { refuse("plan_job_id: plan routes first 请先规划路线"); return; }
    var id = ui.object.value.trim();
    if (!id) { refuse("object_id: enter the object's id 请输入对象编号"); ui.object.focus(); return; }
    var hit = stopOf(id);
    if (hit) {
      refuse("object_id: " + id + " is already stop #" + hit[1].seq + " of crew " + hit[0] +
        " today 今日已安排");
      return;
    }
    var at = ui.at.value;
    if (!/^\d{2}:\d{2}$/.test(at)) { refuse("at: a clock time HH:MM 请填写时刻"); return; }
    var minutes = Number(ui.minutes.value);
    if (!(minutes >= 1 && minutes <= 480)) { refuse("minutes: from 1 to 480"); return; }
    var unit = chosenUnit();
    if (!unit) { refuse("units: choose the unit 请选择检查单位"); return; }
    ui.insertBtn.disabled = true;
    setBody("insert", "submitting");
    api("plans/insert", {plan_job_id: P.job.id, object_id: id, at: at, units: [unit.unit],
      minutes: minutes}).then(function (res) {
      if (res.status !== 202) {
        ui.insertBtn.disabled = false;
        refuse(errorText(res));
        return;
      }
      follow(res.body, "insert");
    }).catch(function (err) {
      ui.insertBtn.disabled = false;
      refuse("No answer from the service 服务无响应: " + err.message);
    });
  }

  // -- the map key -----------------------------------------------------------------------------

  function buildKey() {
    var key = el("div", "ws-plan-key");
    key.id = "ws-plan-key";
    key.hidden = true;
    key.setAttribute("aria-label", "Plan key");
    var ul = add(key, "ul");
    function item(sym, text) {
      var li = add(ul, "li");
      li.appendChild(sym);
      add(li, "span", null, text);
      return li;
    }
    var line = el("span", "ws-plan-key-line");
    item(line, "Crew route 车组路线");
    var stop = el("span", "ws-plan-stop ws-plan-key-stop", "1");
    item(stop, "Stop order 停靠顺序");
    item(el("span", "ws-plan-stop ws-plan-joint ws-plan-key-stop", "2"), "Joint 联合检查");
    var base = el("span", "ws-plan-base ws-plan-key-base");
    add(base, "span", "ws-plan-base-glyph", "驻");
    item(base, "Crew base 驻地");
    item(el("span", "ws-plan-left ws-plan-key-left", "×"), "Left out 未安排");
    var eta = add(key, "p", "ws-plan-key-eta");
    eta.id = "ws-plan-key-eta";
    eta.hidden = true;
    document.body.appendChild(key);
  }

  function keyEta(plan) {
    var eta = document.getElementById("ws-plan-key-eta");
    if (!eta) { return; }
    eta.hidden = false;
    eta.textContent = plan.eta_source === "estimate" ?
      "Straight lines · estimated travel 直线估算" : "Lines follow roads 路网路线";
    eta.setAttribute("data-eta-source", plan.eta_source);
  }

  // -- start -----------------------------------------------------------------------------------

  var WhistlePlan = {
    start: function (map, opts) {
      P.map = map;
      P.opts = opts || {};
      var pane = document.getElementById("ws-plan");
      if (!pane) { return; }
      map.createPane("ws-plan-zone").style.zIndex = 435;
      map.getPane("ws-plan-zone").style.pointerEvents = "none";
      map.createPane("ws-plan-lines").style.zIndex = 440;
      map.on("zoomend", function () { if (P.mode === "plan") { spread(); } });
      P.layer = L.layerGroup();
      P.zoneLayer = L.layerGroup();
      build(pane);
      buildKey();
      document.querySelectorAll(".ws-tabs [role=tab]").forEach(function (b) {
        b.addEventListener("click", function () { setMode(b.getAttribute("data-tab")); });
      });
      var q = new URLSearchParams(window.location.search);
      var job = q.get("plan");
      loadZones().catch(function (err) {
        say("Zones could not be loaded 片区加载失败: " + err.message);
      }).then(function () {
        if (job || q.get("tab") === "plan") { setMode("plan"); }
        if (job) { open(job); }
        setBody("ready", "true");
      });
    },
    mode: setMode,
    open: open,
    state: P
  };

  window.WhistlePlan = WhistlePlan;
}());
