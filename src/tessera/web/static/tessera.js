// Tessera's review pages: countdowns, the preview's reveal, and the case page's keyboard.
// Served from the node itself (CSP script-src 'self'); no library, no inline script.
"use strict";

(function () {
  // The server's clock, from the page: countdowns count against it, not the browser's.
  var serverNow = Date.parse(document.body.getAttribute("data-now") || "");
  var skew = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function left(ms) {
    var overdue = ms < 0;
    var s = Math.floor(Math.abs(ms) / 1000);
    var text = Math.floor(s / 3600) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
    return { text: (overdue ? "overdue " : "") + text, overdue: overdue };
  }

  function tick() {
    var now = Date.now() + skew;
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var deadline = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(deadline)) { return; }
      var t = left(deadline - now);
      el.textContent = t.text;
      el.classList.toggle("overdue", t.overdue);
    });
  }

  function toggleReveal() {
    var frame = document.getElementById("preview-frame");
    var button = document.getElementById("reveal");
    if (!frame) { return; }
    var concealed = frame.classList.toggle("concealed");
    if (button) {
      button.setAttribute("aria-pressed", concealed ? "false" : "true");
      button.firstChild.textContent = concealed ? "Reveal " : "Hide ";
    }
  }

  function hint(text) {
    var el = document.getElementById("key-hint");
    if (!el) { return; }
    el.textContent = text;
    el.hidden = !text;
  }

  function submitWith(form, button) {
    if (form.getAttribute("data-sent")) { return; } // one decision per page
    form.setAttribute("data-sent", "1");
    if (form.requestSubmit) { form.requestSubmit(button); } else { button.click(); }
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var key = event.key.toLowerCase();
    var target = event.target;
    var tag = target && target.tagName ? target.tagName.toLowerCase() : "";
    var typing = tag === "textarea" || tag === "input" || target.isContentEditable;
    var inExemption = target && target.id === "exemption";
    if (typing || (tag === "select" && !(inExemption && key === "x"))) { return; }
    if (key === "r") { toggleReveal(); event.preventDefault(); return; }
    var form = document.getElementById("decide");
    if (!form) { return; }
    if (key === "w") {
      var box = document.getElementById("withhold");
      if (box) { box.checked = !box.checked; event.preventDefault(); }
      return;
    }
    var button = form.querySelector('button[data-key="' + key + '"]');
    if (!button) { return; }
    event.preventDefault();
    if (key === "x") {
      var select = document.getElementById("exemption");
      if (select && !select.value) {
        hint("Choose the exemption, then press x again.");
        select.focus();
        return;
      }
    }
    hint("");
    submitWith(form, button);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    if (document.querySelector("[data-deadline]")) { window.setInterval(tick, 1000); }
    var reveal = document.getElementById("reveal");
    if (reveal) { reveal.addEventListener("click", toggleReveal); }
    var form = document.getElementById("decide");
    if (form) {
      form.addEventListener("submit", function () { form.setAttribute("data-sent", "1"); });
    }
    document.addEventListener("keydown", onKey);
  });
})();
