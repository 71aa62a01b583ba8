// Push progress: poll the run's status while it runs and update each vehicle's row in place.
// Without JavaScript the page refreshes itself (noscript meta refresh) while a run is active.
(function () {
  var box = document.getElementById("progress");
  if (!box || box.dataset.active !== "1") { return; }
  var bar = document.getElementById("run-progress");
  var summary = document.getElementById("run-summary");
  var outcome = document.getElementById("run-outcome");
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        bar.max = data.total || 1;
        bar.value = data.done;
        // Counts by outcome, never "done / total": a run whose cars were all skipped is not
        // a success.
        summary.textContent = data.summary;
        if (outcome) { outcome.textContent = data.outcome_text; }
        data.vehicles.forEach(function (v) {
          var row = document.querySelector('tr[data-vin="' + v.vin + '"]');
          if (!row) { return; }
          row.querySelector(".vehicle-status").textContent =
            v.label + (v.reason_label ? " — " + v.reason_label : "");
          if (v.error) {
            row.querySelector(".vehicle-problem").textContent = v.error;
          } else if (v.fix) {
            row.querySelector(".vehicle-problem").textContent = v.reason_label + ". " + v.fix;
          }
        });
        if (data.active) { setTimeout(poll, 1500); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 500);
})();
