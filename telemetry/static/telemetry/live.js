// The owner's live page: ask for the car's latest values every few seconds and update the
// page in place (values, map link, charts, other fields). The server words every value; this
// script only puts the words where they belong. Without JavaScript the page shows the values
// of the moment it was loaded.
(function () {
  var root = document.getElementById("live");
  if (!root) { return; }
  var url = root.dataset.url;
  var every = (parseInt(root.dataset.pollSeconds, 10) || 5) * 1000;

  function one(scope, selector) { return scope.querySelector(selector); }
  function setText(scope, selector, text) {
    var node = one(scope, selector);
    if (node && node.textContent !== text) { node.textContent = text; }
  }
  function item(field) {
    return root.querySelector('[data-live-item="' + CSS.escape(field) + '"]');
  }

  function addOther(value) {
    var row = document.createElement("tr");
    row.dataset.liveItem = value.field;
    var name = document.createElement("td");
    var code = document.createElement("code");
    code.textContent = value.field;
    name.appendChild(code);
    var text = document.createElement("td");
    text.setAttribute("data-live-text", "");
    var when = document.createElement("td");
    var small = document.createElement("small");
    small.setAttribute("data-live-when", "");
    when.appendChild(small);
    row.appendChild(name);
    row.appendChild(text);
    row.appendChild(when);
    one(document, "#live-others tbody").appendChild(row);
    return row;
  }

  function showValue(value) {
    var node = item(value.field) || addOther(value);
    setText(node, "[data-live-text]", value.text);
    setText(node, "[data-live-when]", value.received_text);
    var map = one(node, "[data-live-map]");
    if (map) {
      map.hidden = !value.map_url;
      if (value.map_url) { map.href = value.map_url; }
    }
    node.hidden = false;
    var group = node.closest("[data-live-group]");
    if (group) { group.hidden = false; }
    if (!group) { one(document, "#live-others").hidden = false; }
  }

  function showChart(chart) {
    var box = one(document, "#live-charts");
    var figure = box.querySelector('[data-live-chart="' + CSS.escape(chart.field) + '"]');
    if (!figure) {
      var template = document.getElementById("live-chart-template");
      figure = template.content.firstElementChild.cloneNode(true);
      figure.dataset.liveChart = chart.field;
      one(box, ".live-charts").appendChild(figure);
    }
    setText(figure, "[data-chart-label]", chart.label);
    setText(figure, "[data-chart-low]", chart.low);
    setText(figure, "[data-chart-high]", chart.high);
    setText(figure, "[data-chart-start]", chart.start);
    setText(figure, "[data-chart-end]", chart.end);
    one(figure, "[data-chart-line]").setAttribute("points", chart.polyline);
    box.hidden = false;
  }

  function show(data) {
    data.values.forEach(showValue);
    data.charts.forEach(showChart);
    setText(root, '[data-live="last-seen"]', data.last_seen_text);
    setText(root, '[data-live="connection"]', data.connection);
    one(root, '[data-live="connection-box"]').hidden = !data.connection;
    one(root, '[data-live="empty"]').hidden = data.values.length > 0;
  }

  function poll() {
    if (document.hidden) { setTimeout(poll, every); return; }
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(function (data) { show(data); setTimeout(poll, every); })
      // Signed out, or the server away for a moment: try again, less often.
      .catch(function () { setTimeout(poll, every * 3); });
  }
  setTimeout(poll, every);
})();
