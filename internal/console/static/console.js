// crmsync console: reloads the part of the page marked data-live every
// data-refresh seconds while the tab is visible, and pauses while the
// pointer holds a selection or a form field has focus. No inline script:
// the Content-Security-Policy forbids it.
(function () {
  "use strict";
  var secs = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  var live = document.getElementById("live");
  var state = document.getElementById("refresh-state");
  if (!secs || !live) { return; }
  var busy = false;
  function idle() {
    var a = document.activeElement;
    if (a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA")) { return false; }
    var sel = window.getSelection && window.getSelection();
    return !(sel && sel.toString());
  }
  function tick() {
    if (busy || document.visibilityState !== "visible" || !idle()) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Console-Live": "1" } })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); throw new Error("logged out"); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        if (fresh) { live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes)); }
        if (state) { state.textContent = "live, updated " + new Date().toLocaleTimeString(); }
        document.body.setAttribute("data-updated", String(Date.now()));
      })
      .catch(function () { if (state) { state.textContent = "live: update failed, retrying"; } })
      .then(function () { busy = false; });
  }
  window.setInterval(tick, secs * 1000);
})();
