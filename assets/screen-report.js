/*
 * onair screen reports.
 *
 * Tells onair what this screen really shows, so the operator sees a dark
 * screen even while its stream says "running": playing, stalled, lost or
 * loading, the reason, the latency, the picture size and the browser.
 * Sent at once when something changes and every few seconds otherwise, to
 * POST /api/screen-reports; a page that closes says so.
 *
 * It only reads what the player exposes (`window.onair.state`,
 * `window.onair.lastFatal`, `window.onair.latency` or `window.onair.hls`,
 * the slate's text and the <video>), so the player needs no change for it.
 * What was sent is in `window.onairReport` for tests and the curious.
 */
(function () {
  'use strict';

  var URL_PATH = '/api/screen-reports';
  var HEARTBEAT_MS = 5000;
  var CHECK_MS = 500;
  var MIN_GAP_MS = 250;
  var STALL_MS = 1500;
  var FATAL_SHOWN_MS = 60000;

  var target = {};
  try {
    target = JSON.parse(document.getElementById('onair-target').textContent || '{}');
  } catch (e) {
    target = {};
  }
  if (!target.screen && !target.stream) {
    return;
  }
  var video = document.getElementById('onair-video');

  function randomId() {
    var bytes = new Uint8Array(12);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b < 16 ? '0' : '') + b.toString(16);
      })
      .join('');
  }

  var me = (window.onairReport = {
    /** This page's own id: with its address, what its report belongs to. */
    id: randomId(),
    /** The last report sent. */
    last: null,
    /** Reports sent and accepted. */
    sent: 0,
    /** Reports the server refused (HTTP status of the last refusal). */
    refused: 0,
    lastStatus: null
  });

  var progress = { time: -1, at: performance.now() };
  var lastSentAt = 0;
  var lastKey = null;
  var inFlight = false;
  var pausedUntil = 0;

  function slateText() {
    var detail = document.getElementById('onair-slate-detail');
    return detail ? detail.textContent : '';
  }

  function numberOr(value, fallback) {
    return typeof value === 'number' && isFinite(value) && value >= 0 ? value : fallback;
  }

  /** What the screen shows now. */
  function observe() {
    var o = window.onair || {};
    var now = performance.now();
    var time = video ? video.currentTime : 0;
    if (time !== progress.time) {
      progress.time = time;
      progress.at = now;
    }
    var state;
    if (o.state === 'playing') {
      var frozen = video && !video.paused && now - progress.at >= STALL_MS;
      state = frozen ? 'stalled' : 'playing';
    } else if (o.state === 'lost' || o.state === 'waiting') {
      state = 'lost';
    } else {
      state = 'loading';
    }
    var error = null;
    var fatal = o.lastFatal;
    if (state === 'lost') {
      error = slateText() || (fatal && fatal.details) || null;
    } else if (fatal && fatal.details && Date.now() - (fatal.at || 0) < FATAL_SHOWN_MS) {
      error = fatal.details;
    }
    var latency = numberOr(o.latency, o.hls ? numberOr(o.hls.latency, null) : null);
    var width = video && video.videoWidth > 0 ? video.videoWidth : null;
    var height = video && video.videoHeight > 0 ? video.videoHeight : null;
    return {
      id: me.id,
      screen: target.screen || null,
      stream: target.screen ? null : target.stream,
      state: state,
      error: error ? String(error).slice(0, 160) : null,
      latency: latency === null ? null : Math.round(latency * 100) / 100,
      width: width,
      height: height
    };
  }

  function send(report) {
    inFlight = true;
    lastSentAt = performance.now();
    me.last = report;
    fetch(URL_PATH, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(report),
      keepalive: true
    })
      .then(function (response) {
        me.lastStatus = response.status;
        if (response.ok) {
          me.sent += 1;
        } else {
          me.refused += 1;
          // Refused (too many, unknown screen): ask again a little later.
          pausedUntil = performance.now() + (response.status === 429 ? 2000 : 10000);
          lastKey = null;
        }
      })
      .catch(function () {
        // onair is away: the next check tries again.
        lastKey = null;
        pausedUntil = performance.now() + 2000;
      })
      .then(function () {
        inFlight = false;
      });
  }

  function check() {
    var now = performance.now();
    if (inFlight || now < pausedUntil || now - lastSentAt < MIN_GAP_MS) {
      return;
    }
    var report = observe();
    var key = [report.state, report.error, report.width, report.height, report.screen, report.stream].join('|');
    if (key !== lastKey || now - lastSentAt >= HEARTBEAT_MS) {
      lastKey = key;
      send(report);
    }
  }

  /** The player may call this right after a change, for a report without delay. */
  if (window.onair) {
    window.onair.changed = check;
  }

  window.addEventListener('pagehide', function () {
    var body = JSON.stringify({ id: me.id, screen: target.screen || null, stream: target.stream || null, state: 'lost', closing: true });
    if (navigator.sendBeacon) {
      navigator.sendBeacon(URL_PATH, new Blob([body], { type: 'application/json' }));
    }
  });

  setInterval(check, CHECK_MS);
  check();
})();
