// The user page: the score, its 90-day history as an SVG chart, and why it moved over a window.
// It holds no data: it reads /v1/scores/... with the API key kept in localStorage (X-API-Key).
(function () {
  "use strict";
  var KEY_ITEM = "clout-scores-key";
  var apiKey = window.localStorage.getItem(KEY_ITEM);
  var user = decodeURIComponent(window.location.pathname.replace(/^.*\/u\//, ""));
  var base = "/v1/scores/" + encodeURIComponent(user);
  function $(id) { return document.getElementById(id); }
  function fixed(x, digits) { return x === null ? "–" : x.toFixed(digits); }
  function signed(x, digits) { return (x > 0 ? "+" : "") + x.toFixed(digits); }

  function ask(reason) {
    window.localStorage.removeItem(KEY_ITEM);
    $("content").hidden = true;
    $("login").hidden = false;
    $("login-error").hidden = !reason;
    $("login-error").textContent = reason || "";
  }

  function get(path) {
    var headers = apiKey ? { "X-API-Key": apiKey } : {};
    return fetch(path, { headers: headers }).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        return response.json().then(function (body) { ask(body.detail); throw new Error("key"); });
      }
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(body.detail || response.statusText); }
        return body;
      });
    });
  }

  function cell(row, text, cls) {
    var td = row.insertCell();
    td.textContent = text;
    if (cls) { td.className = cls; }
  }

  function chart(days, fromDay) {
    var svg = $("chart"), ns = "http://www.w3.org/2000/svg";
    var width = 900, height = 240, left = 36, right = 10, top = 10, bottom = 24;
    svg.textContent = "";
    var today = new Date(), first = new Date(today.getTime() - 89 * 86400000);
    function x(day) {
      var t = Date.parse(day + "T00:00:00Z") - Date.parse(first.toISOString().slice(0, 10) + "T00:00:00Z");
      return left + (width - left - right) * (t / 86400000) / 89;
    }
    function y(score) { return top + (height - top - bottom) * (1 - score / 100); }
    function add(name, attrs, text) {
      var el = document.createElementNS(ns, name);
      Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
      if (text !== undefined) { el.textContent = text; }
      svg.appendChild(el);
      return el;
    }
    [0, 25, 50, 75, 100].forEach(function (s) {
      add("line", { x1: left, x2: width - right, y1: y(s), y2: y(s), "class": "grid" });
      add("text", { x: 4, y: y(s) + 4 }, String(s));
    });
    add("text", { x: left, y: height - 6 }, first.toISOString().slice(0, 10));
    add("text", { x: width - right - 70, y: height - 6 }, today.toISOString().slice(0, 10));
    if (days.length > 1) {
      add("polyline", {
        "class": "line",
        points: days.map(function (d) { return x(d.day) + "," + y(d.score); }).join(" "),
      });
    }
    days.forEach(function (d) {
      var dot = add("circle", { cx: x(d.day), cy: y(d.score), r: 4, "data-day": d.day, "data-score": d.score });
      if (d.day === fromDay) { dot.setAttribute("class", "from"); }
      dot.appendChild(document.createElementNS(ns, "title")).textContent = d.day + ": " + d.score.toFixed(1);
      dot.addEventListener("click", function () { explain(d.day); });
    });
  }

  var history = [];

  function explain(since) {
    Array.prototype.forEach.call(document.querySelectorAll(".windows button"), function (b) {
      b.classList.toggle("on", b.dataset.since === since);
    });
    return get(base + "/changes?since=" + encodeURIComponent(since)).then(function (c) {
      $("window").textContent = "since " + since + ": from " + c.from_day;
      $("movement").textContent = "Score " + c.score_then.toFixed(1) + " → " + c.score_now.toFixed(1) +
        " (" + signed(c.movement_points, 1) + " from raw influence, " + signed(c.refit_points, 1) +
        " from curve refits). Raw " + c.raw_then.toFixed(4) + " → " + c.raw_now.toFixed(4) + ": " +
        signed(c.new_engagement, 4) + " new engagement, " + signed(c.decay, 4) + " decay.";
      $("driver").textContent = c.driver;
      var body = $("attribution").tBodies[0];
      body.textContent = "";
      c.cells.forEach(function (x) {
        var row = body.insertRow();
        row.dataset.kind = x.kind;
        row.dataset.network = x.network;
        cell(row, x.kind);
        cell(row, x.network === "*" ? "other networks" : x.network);
        cell(row, fixed(x.then, 4));
        cell(row, fixed(x.now, 4));
        cell(row, signed(x["new"], 4), x["new"] > 0 ? "up" : "");
        cell(row, signed(x.decay, 4), x.decay < 0 ? "down" : "");
        cell(row, signed(x.now - x.then, 4), x.now >= x.then ? "up" : "down");
      });
      var movers = $("movers").tBodies[0];
      movers.textContent = "";
      c.movers.forEach(function (m) {
        var row = movers.insertRow();
        cell(row, m.actor_id);
        cell(row, m.then === null ? "gained" : m.now === null ? "lost" : "");
        cell(row, fixed(m.then, 4));
        cell(row, fixed(m.now, 4));
        cell(row, signed(m.change, 4), m.change >= 0 ? "up" : "down");
      });
      chart(history, c.from_day);
    }).catch(function (err) {
      if (err.message !== "key") {
        $("window").textContent = "since " + since + ": " + err.message;
        $("driver").textContent = "";
        $("attribution").tBodies[0].textContent = "";
        $("movers").tBodies[0].textContent = "";
      }
    });
  }

  function load() {
    $("login").hidden = true;
    Promise.all([get(base), get(base + "/history?days=90")]).then(function (r) {
      var score = r[0];
      history = r[1].history;
      $("user").textContent = score.user_id;
      $("score").textContent = score.score.toFixed(1);
      $("style").textContent = score.style;
      $("rank").textContent = score.rank === null ? "–" : score.rank + " of " + score.ranked;
      var topics = score.influential_about || [];
      $("topics-box").hidden = topics.length === 0;
      $("topics").textContent = "";
      topics.forEach(function (t) {
        var chip = document.createElement("span");
        chip.className = "chip";
        chip.textContent = t.topic;
        $("topics").appendChild(chip);
      });
      $("content").hidden = false;
      chart(history, null);
      return explain("7d");
    }).catch(function (err) {
      if (err.message !== "key") { $("problem").hidden = false; $("problem").textContent = err.message; }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll(".windows button"), function (b) {
    b.addEventListener("click", function () { explain(b.dataset.since); });
  });
  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    apiKey = $("api-key").value.trim();
    window.localStorage.setItem(KEY_ITEM, apiKey);
    load();
  });
  load(); // without a stored key the first answer is a 401 (unless auth is off): then ask
})();
