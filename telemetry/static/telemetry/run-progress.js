// Push progress: poll the run's status while it runs and update each vehicle's row in place.
// Without JavaScript the page refreshes itself (noscript meta refresh) while a run is active.
(function () {
  var box = document.getElementById("progress");
  if (!box || box.dataset.active !== "1") { return; }
  var bar = document.getElementById("run-progress");
  var summary = document.getElementById("run-summary");
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        bar.max = data.total || 1;
        bar.value = data.done;
        summary.textContent = data.label + " — " + data.done + " / " + data.total;
        data.vehicles.forEach(function (v) {
          var row = document.querySelector('tr[data-vin="' + v.vin + '"]');
          if (!row) { return; }
          row.querySelector(".vehicle-status").textContent = v.label + (v.reason ? " " + v.reason : "");
          if (v.error) { row.querySelector(".vehicle-problem").textContent = v.error; }
        });
        if (data.active) { setTimeout(poll, 1500); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 500);
})();
