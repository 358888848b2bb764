/* Small DOM helpers shared by the console and the planning view. Text is always set with
 * textContent, never as HTML, so data from the API cannot inject markup. */
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

  window.WhistleDom = {el: el, add: add, byId: byId, clear: clear};
})();
