// Progressive enhancement only: every page works without this script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Quick filter of the incidents table (text only; never parsed as HTML).
  var quick = document.getElementById("quick");
  var table = document.getElementById("incidents");
  if (quick && table) {
    quick.addEventListener("input", function () {
      var needle = quick.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (row) {
        row.classList.toggle("hidden", needle !== "" && row.textContent.toLowerCase().indexOf(needle) < 0);
      });
    });
  }
  // Ask before expiring a silence.
  document.querySelectorAll("form.confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm") || "Sure?")) { event.preventDefault(); }
    });
  });
});
