/* Small DOM and API helpers shared by the map's tooltips, the console and the planning view.
 * Text is always set with textContent, never as HTML, so data from the API cannot inject
 * markup. Loaded before the scripts that use it. */
(function () {
  "use strict";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function add(parent, tag, cls, text) {
    var node = el(tag, cls, text);
    parent.appendChild(node);
    return node;
  }

  function byId(id) { return document.getElementById(id); }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  var API = "api/v1/";  // relative to the page, so the service may sit under a path prefix

  // GET (no body) or POST JSON; resolves to {status, ok, body} whatever the status, so callers
  // can show the API's field-named error.
  function api(path, body) {
    var init = {headers: {"Accept": "application/json"}, cache: "no-store"};
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        return {status: r.status, ok: r.ok, body: j};
      });
    });
  }

  // "field: message" from an error detail ({field, message}), else its text, else the status.
  function detailText(d, status) {
    if (d && typeof d === "object") {
      return (d.field ? d.field + ": " : "") + (d.message || JSON.stringify(d));
    }
    return d ? String(d) : "HTTP " + status;
  }

  function errorText(res) { return detailText(res.body && res.body.detail, res.status); }

  window.WhistleDom = {el: el, add: add, byId: byId, clear: clear, API: API, api: api,
    detailText: detailText, errorText: errorText};
})();
