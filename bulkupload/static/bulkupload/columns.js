// The columns step: keep "still to choose" up to date while the user picks, announced politely.
// Without JavaScript the server says the same when the form is sent.
(function () {
  "use strict";
  var form = document.querySelector("form[data-required-columns]");
  var notice = document.getElementById("columns-missing");
  if (!form || !notice) return;
  var required = JSON.parse(form.getAttribute("data-required-columns"));
  var text = notice.querySelector(".names");
  function update() {
    var chosen = {};
    form.querySelectorAll("select").forEach(function (select) { chosen[select.value] = true; });
    var missing = Object.keys(required).filter(function (key) { return !chosen[key]; }).map(function (key) { return required[key]; });
    text.textContent = missing.join(", ");
    notice.hidden = missing.length === 0;
  }
  form.addEventListener("change", update);
  update();
})();
