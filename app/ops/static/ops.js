// The ops page: loads /ops/lag once (with the hour of chart points), then follows /ops/stream
// (one SSE event per poll). If the stream goes quiet for longer than a poll plus 2 s, it falls
// back to fetching /ops/lag, so the page is never more than about 2 s behind the server.
// Both need an API key with the ops:read scope: the page asks for it once, keeps it in
// localStorage and sends it as X-API-Key. EventSource cannot send headers, so the stream is read
// with fetch and parsed here (the key never goes into a URL, where logs would see it).
(function () {
  "use strict";
  var HOUR_MS = 3600 * 1000;
  var KEY_ITEM = "clout.ops.apiKey";
  var apiKey = window.localStorage.getItem(KEY_ITEM);
  var stream = null; // the AbortController of the open stream
  var locked = false; // the key was refused (or none was given): the login form is showing
  var history = []; // [ts_ms, total_lag, max_lag_seconds, consume_rate, produce_rate, dead_letters_per_min]
  var lastDoc = null;
  var lastUpdate = 0;
  var fetching = false;

  function $(id) { return document.getElementById(id); }
  function setText(id, text) { var node = $(id); if (node.textContent !== text) node.textContent = text; }
  // Words (not numbers) in a summary card are set smaller so they fit.
  function setCard(id, text) { setText(id, text); $(id).classList.toggle("words", !/^[-–≥~\d]/.test(text)); }

  function fmtInt(n) { return n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"); }
  function fmtRate(n) {
    if (n === null || n === undefined) return "–";
    if (n >= 100) return Math.round(n).toLocaleString("en-US");
    return n.toFixed(n >= 10 ? 1 : 2);
  }
  function fmtDuration(s) {
    if (s === null || s === undefined) return "–";
    if (s < 10) return s.toFixed(1) + " s";
    if (s < 60) return Math.round(s) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }
  function fmtBytes(n) {
    if (n === null || n === undefined) return "";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + " " + units[i] + " used";
  }
  function fmtLagSeconds(row) {
    if (row.lag_seconds === null) return "–";
    var prefix = row.lag_seconds_method === "lower_bound" ? "≥ " : row.lag_seconds_method === "extrapolated" ? "~ " : "";
    return prefix + fmtDuration(row.lag_seconds);
  }
  // The server words it (app/ops/status.py, catch_up_outlook); only an ETA is formatted here.
  function fmtCatchUp(figures) {
    return figures.catch_up !== null && figures.catch_up !== undefined
      ? figures.catch_up
      : fmtDuration(figures.eta_s);
  }

  function statusBadge(status) {
    var span = document.createElement("span");
    span.className = "status";
    span.setAttribute("data-status", status);
    span.textContent = status;
    return span;
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function renderSummary(doc) {
    var s = doc.summary, p = doc.pipeline;
    var badge = $("group-status");
    badge.textContent = doc.status;
    badge.setAttribute("data-status", doc.status);
    setText("group-name", doc.group);
    setText("group-state", doc.group_state || "unknown");
    setText("member-count", String(doc.members.length));
    setText("total-lag", fmtInt(s.total_lag));
    setText("max-lag-seconds", fmtDuration(s.max_lag_seconds));
    setCard("eta", fmtCatchUp(s));
    setText("events-per-s", fmtRate(p.events_per_s));
    setText("produce-rate", fmtRate(s.produce_rate));
    setText("dead-letters", fmtRate(p.dead_letters_per_min));
    var redis = p.redis;
    if (!redis) {
      setText("redis", "–"); setText("redis-memory", ""); setText("last-write", "–");
    } else {
      setText("redis", redis.reachable ? "up" : "DOWN");
      $("redis").setAttribute("data-status", redis.reachable ? "OK" : "ERR");
      setText("redis-memory", redis.reachable ? fmtBytes(redis.used_memory_bytes) : (redis.error || ""));
      setCard("last-write", redis.last_write_age_s === null ? "none yet" : fmtDuration(redis.last_write_age_s));
    }
    var topics = redis && redis.reachable ? redis.live_topics : null;
    setText("live-topics", fmtInt(topics));
    setText("topic-memory", topics === null || topics === undefined ? ""
      : (redis.topic_memory_estimated ? "≈ " : "") + fmtBytes(redis.topic_memory_bytes) + " by topic keys");
    var refit = redis && redis.last_refit;
    setText("curve-version", refit ? "v" + refit.version : "default");
    setText("curve-refit", refit
      ? "refit " + new Date(refit.fitted_at_ms).toLocaleTimeString() + (refit.full ? ", in full" : ", bounded")
        + ", " + fmtInt(refit.population) + " active users"
      : "no refit yet");
    setText("partition-count", String(s.partitions));
    var counts = [];
    for (var key in s.status_counts) if (s.status_counts[key]) counts.push(s.status_counts[key] + " " + key);
    setText("status-counts", counts.join(" · ") || "none");
    setText("window-s", String(doc.poll.window_s));
    var banner = $("banner");
    if (doc.poll.error) {
      var since = doc.poll.last_success_ms ? " — figures below are from " + new Date(doc.poll.last_success_ms).toLocaleTimeString() : "";
      banner.textContent = "Kafka could not be read: " + doc.poll.error + since;
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  }

  function renderTopics(doc) {
    var body = document.createElement("tbody");
    doc.topics.forEach(function (t) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-row-status", t.status);
      cell(tr, t.topic);
      cell(tr, statusBadge(t.status));
      cell(tr, String(t.partitions), "num");
      cell(tr, fmtInt(t.lag), "num topic-lag");
      cell(tr, fmtDuration(t.max_lag_seconds), "num");
      cell(tr, fmtRate(t.consume_rate), "num");
      cell(tr, fmtRate(t.produce_rate), "num");
      body.appendChild(tr);
    });
    var table = $("topics");
    table.replaceChild(body, table.tBodies[0]);
  }

  // The score feed's topics and the lag of each group that reads them (none: "no consumer").
  function renderFeed(doc) {
    var body = document.createElement("tbody");
    (doc.feed || []).forEach(function (f) {
      var tr = document.createElement("tr");
      cell(tr, f.topic);
      cell(tr, f.group === null ? "no consumer" : f.group, f.group === null ? "muted" : "");
      cell(tr, String(f.partitions), "num");
      cell(tr, fmtInt(f.end), "num");
      cell(tr, fmtInt(f.lag), "num feed-lag");
      body.appendChild(tr);
    });
    var table = $("feed");
    table.replaceChild(body, table.tBodies[0]);
  }

  function renderPartitions(doc) {
    var body = document.createElement("tbody");
    doc.partitions.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-topic", r.topic);
      tr.setAttribute("data-partition", String(r.partition));
      tr.setAttribute("data-row-status", r.status);
      if (r.error) tr.className = "has-error";
      cell(tr, r.topic);
      cell(tr, r.partition < 0 ? "–" : String(r.partition), "num");
      cell(tr, statusBadge(r.status));
      cell(tr, fmtInt(r.lag), "num lag");
      cell(tr, fmtLagSeconds(r), "num lag-seconds");
      cell(tr, fmtInt(r.end), "num");
      cell(tr, r.committed === null ? "none" : fmtInt(r.committed), "num");
      cell(tr, fmtInt(r.log_start), "num");
      cell(tr, fmtRate(r.consume_rate), "num");
      cell(tr, fmtRate(r.produce_rate), "num");
      cell(tr, r.error ? "–" : fmtCatchUp(r), "num");
      var owner = cell(tr, r.owner || "unassigned", "owner");
      if (r.owner) owner.title = r.owner;
      cell(tr, r.error ? r.error : r.warming_up ? "warming up (window not yet full)" : "", "note");
      body.appendChild(tr);
    });
    var table = $("partitions");
    table.replaceChild(body, table.tBodies[0]);
  }

  function renderCharts() {
    var now = history.length ? history[history.length - 1][0] : Date.now();
    function column(i) { return history.map(function (p) { return [p[0], p[i]]; }); }
    var lagSeries = [{ label: "total lag (messages)", color: "#2563eb", points: column(1) }];
    var lagSecondsSeries = [{ label: "max lag (seconds)", color: "#c0262d", points: column(2) }];
    var rateSeries = [
      { label: "consumed/s", color: "#1a7f37", points: column(3) },
      { label: "produced/s", color: "#2563eb", points: column(4) },
      { label: "dead letters/min", color: "#b35900", points: column(5) },
    ];
    // the last hour; a younger history is drawn over at least five minutes so it is not a speck
    var age = history.length ? now - history[0][0] : 0;
    var span = { now: now, spanMs: Math.min(HOUR_MS, Math.max(5 * 60 * 1000, age)) };
    OpsChart.draw($("chart-lag"), lagSeries, Object.assign({ format: fmtInt }, span));
    OpsChart.draw($("chart-lag-seconds"), lagSecondsSeries, Object.assign({ format: function (v) { return fmtDuration(v); } }, span));
    OpsChart.draw($("chart-rates"), rateSeries, Object.assign({ format: fmtRate }, span));
    OpsChart.legend($("legend-lag"), lagSeries);
    OpsChart.legend($("legend-lag-seconds"), lagSecondsSeries);
    OpsChart.legend($("legend-rates"), rateSeries);
  }

  function apply(doc) {
    if (doc.history) {
      history = doc.history;
    } else if (doc.point && (!history.length || doc.point[0] > history[history.length - 1][0])) {
      history.push(doc.point);
    }
    if (history.length) {
      var cutoff = history[history.length - 1][0] - HOUR_MS;
      while (history.length && history[0][0] < cutoff) history.shift();
    }
    lastDoc = doc;
    lastUpdate = Date.now();
    renderSummary(doc);
    renderTopics(doc);
    renderFeed(doc);
    renderPartitions(doc);
    renderCharts();
    document.body.setAttribute("data-polls", String(doc.poll.polls));
  }

  function setLive(state, text) {
    var node = $("live");
    node.setAttribute("data-live", state);
    node.textContent = text;
  }

  function askForKey(reason) {
    locked = true;
    apiKey = null;
    window.localStorage.removeItem(KEY_ITEM);
    if (stream) { stream.abort(); stream = null; }
    $("login").hidden = false;
    $("forget-key").hidden = true;
    $("login-error").hidden = !reason;
    $("login-error").textContent = reason || "";
    setLive("down", "needs an API key");
    $("api-key").focus();
  }

  // A 401/403 means the key is missing, wrong, revoked or lacks ops:read: ask again.
  function checked(response) {
    if (response.status === 401 || response.status === 403) {
      var hadKey = Boolean(apiKey); // a first visit without a key is not an error
      return response.json().then(function (body) { askForKey(hadKey ? body.detail : ""); throw new Error("key refused"); });
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response;
  }

  function authorized(path, extra) {
    var headers = apiKey ? { "X-API-Key": apiKey } : {}; // none: the server may run without auth
    var init = Object.assign({ cache: "no-store", headers: headers }, extra || {});
    return fetch(path, init).then(checked);
  }

  function fetchDoc(full) {
    if (fetching || locked) return Promise.resolve();
    fetching = true;
    return authorized(full ? "ops/lag" : "ops/lag?history=false")
      .then(function (response) { return response.json(); })
      .then(apply)
      .catch(function (err) { if (!locked) setLive("down", "server unreachable"); console.warn("ops: fetch failed", err); })
      .then(function () { fetching = false; });
  }

  // One Server-Sent Event block ("event: ...", "data: ..." lines).
  function onEvent(block) {
    var name = "message", data = [];
    block.split(/\r?\n/).forEach(function (line) {
      if (line.indexOf("event:") === 0) name = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
    });
    if (name === "snapshot" && data.length) {
      apply(JSON.parse(data.join("\n")));
      setLive("live", "live");
    }
  }

  function connect() {
    if (locked || stream) return;
    var controller = new AbortController();
    stream = controller;
    authorized("ops/stream", { signal: controller.signal })
      .then(function (response) {
        var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) throw new Error("stream ended");
            buffer += decoder.decode(chunk.value, { stream: true });
            var blocks = buffer.split(/\r?\n\r?\n/);
            buffer = blocks.pop();
            blocks.forEach(onEvent);
            return pump();
          });
        }
        return pump();
      })
      .catch(function () {
        if (stream !== controller) return; // aborted on purpose
        stream = null;
        if (locked) return;
        setLive("down", "reconnecting…");
        setTimeout(connect, 1000);
      });
  }

  function start() {
    locked = false;
    $("login").hidden = true;
    $("forget-key").hidden = !apiKey;
    setLive("connecting", "connecting…");
    fetchDoc(true).then(connect);
  }

  function tick() {
    if (lastDoc && lastDoc.ts_ms) {
      var age = Math.max(0, (Date.now() - lastDoc.ts_ms) / 1000);
      setText("updated", age < 1 ? "just now" : fmtDuration(age) + " ago");
    }
    var interval = lastDoc ? lastDoc.poll.interval_s * 1000 : 2000;
    if (!locked && Date.now() - lastUpdate > interval + 2000) fetchDoc(false);
  }

  $("login").addEventListener("submit", function (event) {
    event.preventDefault();
    apiKey = $("api-key").value.trim();
    $("api-key").value = "";
    window.localStorage.setItem(KEY_ITEM, apiKey);
    start();
  });
  $("forget-key").addEventListener("click", function () { askForKey(""); });
  start(); // without a stored key the first answer is a 401 (unless auth is off): then ask
  setInterval(tick, 500);
  window.addEventListener("resize", function () { if (lastDoc) renderCharts(); });
})();
