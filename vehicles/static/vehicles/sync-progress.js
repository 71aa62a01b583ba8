// Progress for "Sync now": poll the status endpoint while a sync runs, reload when it ends.
// Without JavaScript the page still works: the button posts and the page shows the status.
(function () {
  var box = document.getElementById("sync");
  if (!box || box.dataset.active !== "1") { return; }
  var list = document.getElementById("sync-runs");
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        list.innerHTML = "";
        data.runs.forEach(function (run) {
          var li = document.createElement("li");
          // The server renders (and escapes) the same line the page shows: account, outcome, time.
          li.innerHTML = run.html;
          list.appendChild(li);
        });
        if (data.active) { setTimeout(poll, 2000); } else { window.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
