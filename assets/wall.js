// The multiview wall: tiles built from `wall` events on /events?wall.
// Thumbnails are JPEGs, reloaded only when the engine reports a new one.
(function () {
  "use strict";
  const FLOOR = -60, HOT = -9, CLIP = -0.1, STALE_MS = 6000;
  const WORDS = { silent: "SILENT", black: "BLACK", frozen: "FROZEN" };
  const wall = document.getElementById("wall");
  const status = document.getElementById("wall-status");
  const summary = document.getElementById("wall-summary");
  const tiles = new Map();
  // Engine clock minus this page's clock, from the latest event.
  let skew = 0;
  let latest = null;

  function el(tag, cls, parent) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (parent) parent.appendChild(node);
    return node;
  }

  function duration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    if (m < 60) return m + "m" + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m";
  }

  function encode(name) {
    return name.split("/").map(encodeURIComponent).join("/");
  }

  function tileFor(name) {
    let t = tiles.get(name);
    if (t) return t;
    const root = el("div", "tile");
    root.dataset.stream = name;
    const picture = el("div", "picture", root);
    const img = el("img", "", picture);
    img.alt = name;
    img.hidden = true;
    const none = el("div", "none", picture);
    const age = el("div", "age", picture);
    age.hidden = true;
    const flags = el("div", "flags", picture);
    const meters = el("div", "meters", picture);
    const info = el("div", "info", root);
    el("span", "name", info).textContent = name;
    const state = el("span", "state", info);
    const db = el("span", "db", info);
    t = { root, img, none, age, flags, meters, state, db, shownAt: null, loading: null, flagKeys: "" };
    tiles.set(name, t);
    wall.appendChild(root);
    return t;
  }

  function showThumbnail(t, tile) {
    if (!tile.thumbnail_at) {
      t.img.hidden = true;
      t.none.hidden = false;
      t.none.textContent = tile.analysis ? "no picture yet" : "analysis is off";
      return;
    }
    if (t.shownAt === tile.thumbnail_at || t.loading === tile.thumbnail_at) return;
    // Load beside the shown picture and swap when ready: no flicker.
    const at = tile.thumbnail_at;
    const next = new Image();
    t.loading = at;
    next.onload = function () {
      if (t.loading !== at) return;
      t.img.src = next.src;
      t.img.hidden = false;
      t.img.dataset.thumbnailAt = String(at);
      t.none.hidden = true;
      t.shownAt = at;
      t.loading = null;
    };
    next.onerror = function () { if (t.loading === at) t.loading = null; };
    next.src = "/wall/thumbnail/" + encode(tile.name) + "?t=" + at;
  }

  function showMeters(t, tile) {
    const channels = tile.audio ? tile.audio.channels : [];
    while (t.meters.children.length > channels.length) t.meters.lastChild.remove();
    while (t.meters.children.length < channels.length) {
      el("div", "level", el("div", "meter", t.meters));
    }
    let loudest = null;
    channels.forEach(function (c, i) {
      const level = t.meters.children[i].firstChild;
      const fraction = Math.min(1, Math.max(0, (c.peak_dbfs - FLOOR) / -FLOOR));
      level.style.height = (fraction * 100).toFixed(1) + "%";
      level.className = "level" + (c.peak_dbfs >= CLIP ? " clip" : c.peak_dbfs > HOT ? " hot" : c.peak_dbfs < FLOOR ? " silent" : "");
      loudest = loudest === null ? c.peak_dbfs : Math.max(loudest, c.peak_dbfs);
    });
    t.db.textContent = loudest === null ? "" : (loudest <= -100 ? "-∞" : Math.round(loudest)) + " dBFS";
  }

  function showFlags(t, tile, now, takenAt) {
    const keys = tile.alarms.map(function (a) { return a.kind + "@" + a.since; }).join(",");
    if (keys !== t.flagKeys) {
      t.flags.textContent = "";
      tile.alarms.forEach(function (a) {
        const flag = el("span", "flag", t.flags);
        flag.dataset.alarm = a.kind;
        flag.title = a.detail;
        // How long after the engine published it this flag appeared (on
        // the engine's machine both clocks are the same).
        flag.dataset.delayMs = String(Date.now() - takenAt);
      });
      t.flagKeys = keys;
    }
    Array.prototype.forEach.call(t.flags.children, function (flag, i) {
      const a = tile.alarms[i];
      if (a) flag.textContent = WORDS[a.kind] + " " + duration(now - a.since);
    });
    t.root.classList.toggle("alarmed", tile.alarms.length > 0);
  }

  function render(view) {
    latest = view;
    const now = Date.now() + skew;
    const names = new Set();
    let alarmed = 0;
    view.tiles.forEach(function (tile) {
      names.add(tile.name);
      const t = tileFor(tile.name);
      t.state.textContent = tile.state;
      t.state.className = "state " + tile.state;
      showThumbnail(t, tile);
      showMeters(t, tile);
      showFlags(t, tile, now, view.taken_at);
      const stale = tile.thumbnail_at && now - tile.thumbnail_at > STALE_MS;
      t.age.hidden = !stale;
      if (stale) t.age.textContent = duration(now - tile.thumbnail_at) + " old";
      if (tile.alarms.length) alarmed += 1;
    });
    tiles.forEach(function (t, name) {
      if (!names.has(name)) { t.root.remove(); tiles.delete(name); }
    });
    summary.innerHTML = "";
    const text = el("span", alarmed ? "bad" : "", summary);
    text.textContent = view.tiles.length + " streams · " + (alarmed ? alarmed + " with alarms" : "no alarms");
  }

  function connect() {
    const events = new EventSource("/events?wall=1");
    events.addEventListener("wall", function (e) {
      const view = JSON.parse(e.data);
      skew = view.taken_at - Date.now();
      status.textContent = "live";
      status.classList.remove("lost");
      render(view);
    });
    events.onerror = function () {
      status.textContent = "connection lost — retrying";
      status.classList.add("lost");
    };
  }

  // Durations and picture ages move on between events.
  setInterval(function () { if (latest) render(latest); }, 1000);
  connect();
})();
