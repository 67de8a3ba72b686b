// The live parts of a page refresh every few seconds unless the operator
// pauses them with the Live switch, which is remembered across pages.
(function () {
  "use strict";
  var key = "beckett-live";
  function toggle() {
    return document.getElementById("live-toggle");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var live = toggle();
    if (!live) {
      return;
    }
    live.checked = window.localStorage.getItem(key) !== "paused";
    live.addEventListener("change", function () {
      window.localStorage.setItem(key, live.checked ? "live" : "paused");
    });
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var live = toggle();
    if (live && !live.checked && event.detail.elt.hasAttribute("data-live")) {
      event.preventDefault();
    }
  });
})();
