/*
 * onair room clock: this screen's reading of onair's clock.
 *
 * Every screen of a room aims at the same frame, and that frame is chosen by
 * onair's time, not the TV's: a TV whose clock is seconds off must still
 * play in step with its neighbours. The screen asks onair for its time
 * (`/time`) several times in a row, keeps the round trip that took the
 * least (the one least disturbed by the network and the browser) and takes
 * half of it as the way back. The result is tied to the page's monotonic
 * clock (`performance.now()`), so a TV that steps its own wall clock later
 * changes nothing; it is measured again every minute.
 *
 * window.onairClock.now() is onair's Unix time in milliseconds, or null
 * until the first measurement.
 */
(function () {
  'use strict';

  /** Round trips per measurement; the shortest one counts. */
  var ROUND_TRIPS = 8;
  /** How often the measurement is repeated. */
  var REFRESH_MS = 60000;
  /** After a failed measurement (onair unreachable), try again this soon. */
  var RETRY_MS = 3000;

  var clock = (window.onairClock = {
    /** onair's time minus performance.now(), ms; null until measured. */
    base: null,
    /** onair's clock minus this screen's Date.now(), ms (for reports). */
    offsetMs: null,
    /** The shortest round trip of the last measurement, ms. */
    rttMs: null,
    /** performance.now() of the last successful measurement. */
    measuredAt: null,
    /** Successful measurements since the page loaded. */
    measurements: 0,
    /** onair's Unix time in ms, or null before the first measurement. */
    now: function () {
      return clock.base === null ? null : performance.now() + clock.base;
    },
    /** Measures again now; resolves when done (also on failure). */
    measure: measure
  });

  /** One round trip: onair's time against the middle of the trip. */
  function roundTrip() {
    var sent = performance.now();
    return fetch('/time', { cache: 'no-store' })
      .then(function (response) {
        if (!response.ok) {
          throw new Error('time: HTTP ' + response.status);
        }
        return response.text();
      })
      .then(function (text) {
        var received = performance.now();
        var onairTime = parseFloat(text);
        if (!isFinite(onairTime)) {
          throw new Error('time: not a number');
        }
        return { rtt: received - sent, base: onairTime - (sent + received) / 2 };
      });
  }

  var timer = null;

  function measure() {
    clearTimeout(timer);
    var best = null;
    var left = ROUND_TRIPS;
    var next = function () {
      if (left <= 0) {
        return Promise.resolve();
      }
      left -= 1;
      return roundTrip()
        .then(function (sample) {
          if (!best || sample.rtt < best.rtt) {
            best = sample;
          }
        })
        .then(next);
    };
    return next()
      .catch(function () {
        /* keep whatever the finished round trips gave */
      })
      .then(function () {
        if (best) {
          clock.base = best.base;
          clock.rttMs = best.rtt;
          clock.offsetMs = performance.now() + best.base - Date.now();
          clock.measuredAt = performance.now();
          clock.measurements += 1;
          timer = setTimeout(measure, REFRESH_MS);
        } else {
          timer = setTimeout(measure, RETRY_MS);
        }
      });
  }

  measure();
})();
