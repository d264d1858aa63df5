// The preview: each changed cell is saved and checked as the user leaves it, and its row redrawn in place.
// Without this script every button of the form saves the changed cells first, so nothing is lost either way.
(function () {
  "use strict";
  var form = document.getElementById("fix-form");
  if (!form || !form.dataset.cellUrl || !window.fetch) return;
  var live = document.getElementById("cell-status");
  var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  // Saves in flight, and a button pressed meanwhile: it is pressed again once they end, so the form's own
  // save never races the script's (and counts the cell the script saved).
  var pending = 0;
  var queued = null;
  Array.prototype.forEach.call(form.querySelectorAll("[data-js-only]"), function (el) { el.hidden = false; });

  function announce(text) {
    // Emptied first, so that the same message twice is read out twice.
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  function redraw(tr, row, counts, replaceValues) {
    tr.className = tr.className.replace(/\bstatus-\S+/, "status-" + row.status);
    var badge = tr.querySelector("[data-role=badge]");
    badge.className = "badge " + row.status;
    badge.textContent = row.status_label;
    var rowErrors = tr.querySelector("[data-role=row-errors]");
    rowErrors.textContent = "";
    row.row_errors.forEach(function (message) {
      var p = document.createElement("p");
      p.className = "cell-error";
      p.textContent = message;
      rowErrors.appendChild(p);
    });
    var version = tr.querySelector("[data-role=version]");
    if (version) {
      version.value = row.version;
      if (!replaceValues && !tr.querySelector("[data-role=autosaved]")) {
        // Tells the form's next save that this row was saved here, so its message counts it.
        var mark = document.createElement("input");
        mark.type = "hidden";
        mark.name = version.name.replace(/-version$/, "-autosaved");
        mark.value = "1";
        mark.dataset.role = "autosaved";
        version.after(mark);
      }
    }
    Array.prototype.forEach.call(tr.querySelectorAll("input.cell-input"), function (input) {
      var key = input.dataset.key;
      var errors = row.errors[key] || [];
      var cell = input.closest("td");
      // What is stored now is what later saves compare with (a stale row also shows it in its boxes).
      cell.querySelector("[data-role=seen]").value = row.values[key];
      if (replaceValues) input.value = row.values[key];
      document.getElementById(input.id + "_errors").textContent = errors.join(" ");
      cell.classList.toggle("has-error", errors.length > 0);
      if (errors.length) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    });
    Object.keys(counts).forEach(function (name) {
      var el = document.querySelector('[data-count="' + name + '"]');
      if (el) el.textContent = counts[name];
    });
  }

  function save(input) {
    var tr = input.closest("tr");
    var version = tr.querySelector("[data-role=version]");
    var seen = input.closest("td").querySelector("[data-role=seen]");
    if (!version || !seen || input.value.trim() === seen.value.trim()) return;
    var body = new FormData();
    body.append("csrfmiddlewaretoken", token);
    body.append("row", tr.dataset.row);
    body.append("version", version.value);
    body.append("key", input.dataset.key);
    body.append("value", input.value);
    body.append("seen", seen.value);
    tr.setAttribute("aria-busy", "true");
    pending += 1;
    fetch(form.dataset.cellUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      keepalive: true,
      headers: { Accept: "application/json", "X-CSRFToken": token },
    })
      .then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      })
      .then(function (result) {
        tr.removeAttribute("aria-busy");
        var data = result.data;
        if (data.row && data.state !== "unchanged") redraw(tr, data.row, data.counts, data.state === "stale");
        announce(data.message || "");
      })
      .catch(function () {
        tr.removeAttribute("aria-busy");
        announce(form.dataset.failed || "");
      })
      .then(function () {
        pending -= 1;
        if (pending === 0 && queued) {
          var press = queued;
          queued = null;
          form.requestSubmit(press.submitter || undefined);
        }
      });
  }

  form.addEventListener("submit", function (event) {
    if (pending > 0) {
      event.preventDefault();
      queued = { submitter: event.submitter };
    }
  });

  form.addEventListener("change", function (event) {
    if (event.target.matches("input.cell-input")) save(event.target);
  });
})();
