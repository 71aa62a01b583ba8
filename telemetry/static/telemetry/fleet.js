// The fleet list's "every vehicle on this page": ticks or clears the page's row boxes, and
// shows itself ticked only while every row is.
(function () {
  "use strict";
  var form = document.getElementById("fleet-assign");
  var all = document.getElementById("select-page");
  if (!form || !all) return;
  var boxes = form.querySelectorAll("input[name=vehicle]");
  function sync() {
    var ticked = 0;
    boxes.forEach(function (box) { if (box.checked) ticked += 1; });
    all.checked = ticked === boxes.length && ticked > 0;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }
  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
  });
  boxes.forEach(function (box) { box.addEventListener("change", sync); });
  sync();
})();
