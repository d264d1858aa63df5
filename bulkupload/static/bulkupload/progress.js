// The progress page: poll the status and move on when the work ends. Without this script the page refreshes itself.
(function () {
  "use strict";
  var box = document.getElementById("bulkupload-progress");
  if (!box || box.dataset.state !== "working") return;
  var bar = box.querySelector("progress");
  var label = box.querySelector("[data-progress-label]");
  var percent = box.querySelector("[data-progress-percent]");
  var text = box.querySelector("[data-progress-text]");

  function show(status) {
    label.textContent = status.label;
    text.textContent = status.text;
    if (status.percent === null) {
      bar.removeAttribute("value");
      percent.textContent = "";
    } else {
      bar.value = status.percent;
      percent.textContent = status.percent + "% · ";
    }
  }

  function poll() {
    fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (status) {
        if (status.state === "done") { window.location.assign(status.next); return; }
        if (status.state === "failed") { window.location.reload(); return; }
        show(status);
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
