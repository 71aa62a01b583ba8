// The catalogue: filter by name, and a click puts the field in the first empty row (adding a
// row when none is left). Without JavaScript, type names in the rows (the datalist helps).
(function () {
  var search = document.getElementById("catalogue-search");
  var body = document.querySelector("#field-rows tbody");
  var total = document.getElementById("id_fields-TOTAL_FORMS");
  var template = document.getElementById("empty-row");
  if (!search || !body || !total || !template) { return; }
  search.addEventListener("input", function () {
    var q = search.value.trim().toLowerCase();
    document.querySelectorAll(".catalogue-group").forEach(function (group) {
      var shown = 0;
      group.querySelectorAll("li").forEach(function (li) {
        var match = !q || li.dataset.name.indexOf(q) !== -1;
        li.hidden = !match;
        if (match) { shown += 1; }
      });
      group.hidden = shown === 0;
      group.open = !!q && shown > 0;
    });
  });
  function emptyNameInput() {
    var inputs = body.querySelectorAll("input[name$='-name']");
    for (var i = 0; i < inputs.length; i++) { if (!inputs[i].value) { return inputs[i]; } }
    var index = parseInt(total.value, 10);
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    body.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    var row = body.lastElementChild;
    row.querySelector("input[name$='-interval_seconds']").value = "60";
    return row.querySelector("input[name$='-name']");
  }
  document.querySelectorAll(".catalogue-add").forEach(function (button) {
    button.addEventListener("click", function () {
      var name = button.dataset.field;
      var taken = Array.prototype.some.call(body.querySelectorAll("input[name$='-name']"), function (i) { return i.value === name; });
      if (!taken) { emptyNameInput().value = name; }
    });
  });
})();
