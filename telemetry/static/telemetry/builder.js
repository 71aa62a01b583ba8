// The builder's catalogue, presets and signals estimate. Without JavaScript the page still
// works: type names in the rows (the datalist helps), "Apply preset" posts the form and the
// server answers with the preset's rows, and the estimate is the server's for the rows shown.
(function () {
  var search = document.getElementById("catalogue-search");
  var body = document.querySelector("#field-rows tbody");
  var total = document.getElementById("id_fields-TOTAL_FORMS");
  var template = document.getElementById("empty-row");
  if (!search || !body || !total || !template) { return; }
  var details = readJson("catalogue-details");
  var presets = readJson("catalogue-presets");

  function readJson(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }
  function input(row, field) { return row.querySelector("input[name$='-" + field + "']"); }
  function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr.field-row")); }

  // --- the catalogue: filter by name; a click puts the field in the first empty row ---
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
  function addRow() {
    var index = parseInt(total.value, 10);
    var html = template.innerHTML.replace(/__prefix__/g, String(index))
      .replace(/__row__/g, String(rows().length + 1));
    body.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    var row = body.lastElementChild;
    input(row, "interval_seconds").value = "60";
    return row;
  }
  function emptyRow() {
    var free = rows().filter(function (row) { return !input(row, "name").value && !input(row, "id").value; });
    return free.length ? free[0] : addRow();
  }
  document.querySelectorAll(".catalogue-add").forEach(function (button) {
    button.addEventListener("click", function () {
      var name = button.dataset.field;
      var taken = rows().some(function (row) { return input(row, "name").value === name; });
      if (!taken) {
        var row = emptyRow();
        input(row, "name").value = name;
        if (!input(row, "interval_seconds").value) { input(row, "interval_seconds").value = "60"; }
        describe(row);
        estimate();
      }
    });
  });

  // --- each row says what its field is ---
  function describe(row) {
    var info = details[input(row, "name").value.trim()];
    var out = row.querySelector(".field-info");
    if (!out) { return; }
    out.textContent = info ? info[0] + " · " + out.dataset.unit + " " + info[1] + " · " + out.dataset.firmware + " " + info[2] : "";
  }

  // --- the estimate: mirrors telemetry.catalogue.signals_per_day; change both together ---
  function signalsPerDay(periods, hours) {
    var seconds = Math.round(hours * 3600);
    return periods.reduce(function (sum, p) { return sum + Math.ceil(seconds / p); }, 0);
  }
  function periods() {
    var out = [];
    rows().forEach(function (row) {
      var remove = input(row, "DELETE");
      if (!input(row, "name").value.trim() || (remove && remove.checked)) { return; }
      var interval = parseInt(input(row, "interval_seconds").value, 10);
      if (!(interval >= 1)) { return; }
      var resend = parseInt(input(row, "resend_interval_seconds").value, 10);
      out.push(resend >= 1 ? Math.min(interval, resend) : interval);
    });
    return out;
  }
  function estimate() {
    var p = periods();
    var lang = document.documentElement.lang || undefined;
    ["estimate-ceiling", "estimate-example"].forEach(function (id) {
      var node = document.getElementById(id);
      if (!node) { return; }
      var perDay = signalsPerDay(p, Number(node.dataset.hours));
      node.textContent = perDay.toLocaleString(lang);
      // 30 days at the usage page's signal rate: mirrors telemetry.forms.signals_cost.
      var cost = document.querySelector(".estimate-cost[data-of='" + id + "']");
      if (cost) {
        var cents = Math.round(perDay * 30 * Number(cost.dataset.rate) * 100 + 1e-9);
        cost.textContent = (cents / 100).toLocaleString(lang, {
          minimumFractionDigits: 2, maximumFractionDigits: 2
        });
      }
    });
  }
  body.addEventListener("input", function (event) {
    var row = event.target.closest("tr.field-row");
    if (row && event.target.name && /-name$/.test(event.target.name)) { describe(row); }
    estimate();
  });
  body.addEventListener("change", estimate);

  // --- presets: fill the rows here instead of posting the page ---
  var apply = document.getElementById("apply-preset");
  var choice = document.getElementById("id_preset");
  if (apply && choice) {
    apply.addEventListener("click", function (event) {
      var chosen = presets[choice.value];
      if (!chosen) { return; }
      event.preventDefault();
      var wanted = {};
      chosen.forEach(function (r) { wanted[r[0]] = r; });
      // Same rule as forms.preset_field_data: saved rows the preset names take its
      // interval, other saved rows are marked for removal, unsaved rows are cleared.
      rows().forEach(function (row) {
        var name = input(row, "name").value.trim();
        var remove = input(row, "DELETE");
        if (input(row, "id").value) {
          if (wanted[name]) {
            fill(row, wanted[name]);
            delete wanted[name];
            if (remove) { remove.checked = false; }
          } else if (remove) {
            remove.checked = true;
          }
        } else {
          // An untouched extra row keeps the default interval, or the server calls it edited.
          ["name", "minimum_delta", "resend_interval_seconds"].forEach(function (f) { input(row, f).value = ""; });
          input(row, "interval_seconds").value = "60";
          input(row, "keep_history").checked = false;
          if (remove) { remove.checked = false; }
        }
      });
      chosen.forEach(function (r) { if (wanted[r[0]]) { fill(emptyRow(), r); } });
      rows().forEach(describe);
      estimate();
    });
  }
  function fill(row, r) {
    input(row, "name").value = r[0];
    input(row, "interval_seconds").value = String(r[1]);
    input(row, "keep_history").checked = !!r[2];
  }
})();
