// hookline admin screens: small enhancements only. Every form works without
// this file; with it, rows are added in place, placeholders are inserted at
// the cursor and the schema preview follows the typing.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // "+ Add header", "+ Add condition", "+ Add Webhook": copy the last row,
  // emptied, in place. Without script these buttons post the form and the
  // server adds the row.
  var renumber = function (text) {
    return text.replace(/\d+$/, function (n) { return String(Number(n) + 1); });
  };
  document.querySelectorAll("[data-add-row]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function (event) {
      var rows = document.getElementById(button.getAttribute("data-add-row"));
      var all = rows ? rows.querySelectorAll(".row") : [];
      var last = all[all.length - 1];
      if (!last) return;
      event.preventDefault();
      var copy = last.cloneNode(true);
      copy.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      copy.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
      copy.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
      copy.querySelectorAll(".invalid").forEach(function (e) { e.classList.remove("invalid"); });
      copy.querySelectorAll("[id]").forEach(function (e) { e.id = renumber(e.id); });
      copy.querySelectorAll("label[for]").forEach(function (l) { l.setAttribute("for", renumber(l.getAttribute("for"))); });
      copy.querySelectorAll("[aria-describedby]").forEach(function (e) { e.removeAttribute("aria-describedby"); });
      rows.appendChild(copy);
      var first = copy.querySelector("input, select");
      if (first) first.focus();
    });
  });

  // "X Remove": take the row away in place (the last one is emptied instead).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-remove-row]") : null;
    if (!button) return;
    var row = button.closest(".row");
    var rows = row && row.parentElement;
    if (!rows) return;
    event.preventDefault();
    if (rows.querySelectorAll(".row").length > 1) {
      row.remove();
    } else {
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      row.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
    }
    var next = rows.querySelector("input, select");
    if (next) next.focus();
  });

  // A condition on event.type offers the event types seen as values.
  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field.name || field.name !== "cond_field") return;
    var value = field.closest(".row") && field.closest(".row").querySelector("[name=cond_value]");
    if (!value) return;
    if (field.value.trim() === "event.type") value.setAttribute("list", "event-types");
    else value.removeAttribute("list");
  });

  // Placeholder list: insert {{model:attribute}} at the cursor.
  var content = document.getElementById("content");
  document.querySelectorAll("[data-insert]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!content) return;
      var text = button.getAttribute("data-insert");
      var start = content.selectionStart, end = content.selectionEnd;
      content.value = content.value.slice(0, start) + text + content.value.slice(end);
      content.selectionStart = content.selectionEnd = start + text.length;
      content.focus();
      content.dispatchEvent(new Event("input"));
    });
  });

  // The delivery log refreshes itself every 5 s while the box is ticked
  // (without script: the Refresh link).
  var auto = document.getElementById("auto-refresh");
  var table = document.getElementById("deliveries-table");
  if (auto && table) {
    auto.parentElement.hidden = false;
    setInterval(function () {
      if (!auto.checked || document.hidden) return;
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("deliveries-table");
          if (fresh) table.replaceChildren.apply(table, Array.from(fresh.childNodes));
        })
        .catch(function () {});
    }, 5000);
  }

  // Live preview of a schema, debounced; the Preview button stays for
  // browsers without script.
  var form = document.querySelector("form[data-preview]");
  var target = document.getElementById("preview");
  if (form && target) {
    var timer = null, serial = 0;
    var refresh = function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++serial;
        var data = new URLSearchParams(new FormData(form));
        data.set("action", "preview");
        fetch(form.getAttribute("data-preview"), {
          method: "POST", body: data, credentials: "same-origin",
          headers: { "Content-Type": "application/x-www-form-urlencoded" }
        }).then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html !== null && mine === serial) target.innerHTML = html; })
          .catch(function () {});
      }, 350);
    };
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
  }
});
