// hookline admin screens: small enhancements only. Every form works without
// this file; with it, rows are added in place, placeholders are inserted at
// the cursor and the schema preview follows the typing.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // "+ Add header" (and later "+ Add condition"): copy the last row, empty.
  document.querySelectorAll("[data-add-row]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var rows = document.getElementById(button.getAttribute("data-add-row"));
      if (!rows) return;
      var last = rows.querySelector(".row:last-of-type");
      if (!last) return;
      var copy = last.cloneNode(true);
      copy.querySelectorAll("input").forEach(function (input) {
        input.value = "";
        if (input.id) input.id = input.id.replace(/\d+$/, function (n) { return String(Number(n) + 1); });
      });
      copy.querySelectorAll("label").forEach(function (label) {
        var f = label.getAttribute("for");
        if (f) label.setAttribute("for", f.replace(/\d+$/, function (n) { return String(Number(n) + 1); }));
      });
      rows.appendChild(copy);
      var first = copy.querySelector("input");
      if (first) first.focus();
    });
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
