/*
 * onair screen sync: keeps this screen on the room's target.
 *
 * The target is one moment for the whole room: the frame on screen has
 * PROGRAM-DATE-TIME = onair's now - the profile's screen_delay. Every screen
 * measures how far it is from that moment (with onair's clock, see
 * clock.js) and steers there itself: a small playbackRate nudge (up to 5 %,
 * faster or slower) for a small error, a jump for a large one (a seek; a
 * short pause when it is ahead and the frame to go back to is no longer
 * buffered). hls.js's own catch-up is off: it only ever speeds up, and aims
 * at each player's own idea of the live edge, which is how neighbouring
 * screens drift apart.
 *
 * window.onairSync: `Steering` (used by player.js), `hlsConfig(stream)` (the
 * hls.js settings that leave the distance to the live edge to the steering),
 * `targetFor` and `rateFor` (the pure rules).
 */
(function () {
  'use strict';

  /** Errors below this are left alone, ms (measurement noise). */
  var DEAD_BAND_MS = 5;
  /** Rate change per ms of error: 40 ms off plays 2 % faster or slower, so
   * an error halves in about 1.4 s. */
  var GAIN_PER_MS = 0.0005;
  /** The largest nudge: 5 % (pitch is preserved, nobody notices). */
  var MAX_NUDGE = 0.05;
  /** Beyond this error, jump instead of nudging, ms. */
  var JUMP_MS = 250;
  /** After a jump, let the picture settle this long before judging again. */
  var SETTLE_MS = 1000;
  /** Errors are the median of this many recent readings. */
  var WINDOW = 3;
  /** Never play faster with less than this buffered ahead, seconds: a
   * late screen catches up without running into an empty buffer. */
  var MIN_AHEAD_TO_HURRY = 0.15;

  /** The playback rate for an error (ms; positive: the screen is late). */
  function rateFor(errorMs) {
    if (Math.abs(errorMs) <= DEAD_BAND_MS) {
      return 1;
    }
    var nudge = Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, errorMs * GAIN_PER_MS));
    return Math.round((1 + nudge) * 1000) / 1000;
  }

  function median(values) {
    var sorted = values.slice().sort(function (a, b) {
      return a - b;
    });
    var mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }

  /** The buffered range holding `time`, or null. */
  function rangeAt(video, time) {
    var ranges = video.buffered;
    for (var i = 0; i < ranges.length; i++) {
      if (ranges.start(i) <= time && time <= ranges.end(i)) {
        return { start: ranges.start(i), end: ranges.end(i) };
      }
    }
    return null;
  }

  /**
   * Steers one <video>. `clock` is window.onairClock; `programDate()` gives
   * the PROGRAM-DATE-TIME (ms) of the frame on screen, or null.
   */
  function Steering(video, clock) {
    this.video = video;
    this.clock = clock;
    this.programDate = null;
    /** The room's delay, ms; null: do not steer. */
    this.targetMs = null;
    /** onair's now minus the PROGRAM-DATE-TIME on screen, ms. */
    this.latencyMs = null;
    /** latencyMs minus targetMs, smoothed, ms. */
    this.errorMs = null;
    this.rate = 1;
    /** Jumps made (seeks and pauses). */
    this.jumps = 0;
    this.lastJumpAt = -Infinity;
    this.readings = [];
    this.resumeTimer = null;
    /** True while paused on purpose (ahead of the target). */
    this.holding = false;
  }

  /** Starts steering a new playback; `programDate` reads the frame's date. */
  Steering.prototype.follow = function (programDate, targetSeconds) {
    this.stop();
    this.programDate = programDate;
    this.setTarget(targetSeconds);
  };

  /** A new target (the profile's screen_delay changed). */
  Steering.prototype.setTarget = function (targetSeconds) {
    this.targetMs = targetSeconds > 0 ? targetSeconds * 1000 : null;
    this.readings = [];
  };

  /** Stops steering and plays at normal speed. */
  Steering.prototype.stop = function () {
    this.programDate = null;
    this.readings = [];
    this.latencyMs = null;
    this.errorMs = null;
    this.release();
    this.setRate(1);
  };

  Steering.prototype.release = function () {
    clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    if (this.holding) {
      this.holding = false;
      var promise = this.video.play();
      if (promise && promise.catch) {
        promise.catch(function () {
          /* retried by the player's watchdog */
        });
      }
    }
  };

  Steering.prototype.setRate = function (rate) {
    this.rate = rate;
    if (this.video.playbackRate !== rate) {
      this.video.playbackRate = rate;
    }
  };

  /** True within a moment of a jump (its waiting is not a stall). */
  Steering.prototype.justJumped = function () {
    return this.holding || performance.now() - this.lastJumpAt < SETTLE_MS;
  };

  /** One reading and, if needed, one correction. Called a few times a second. */
  Steering.prototype.tick = function () {
    var video = this.video;
    var now = this.clock.now();
    var date = this.programDate ? this.programDate() : null;
    if (now === null || date === null || this.holding) {
      return;
    }
    this.latencyMs = now - date;
    if (this.targetMs === null || video.paused || video.seeking || video.readyState < 3) {
      this.errorMs = this.targetMs === null ? null : this.latencyMs - this.targetMs;
      return;
    }
    if (performance.now() - this.lastJumpAt < SETTLE_MS) {
      return;
    }
    this.readings.push(this.latencyMs - this.targetMs);
    if (this.readings.length > WINDOW) {
      this.readings.shift();
    }
    var error = median(this.readings);
    this.errorMs = error;
    if (Math.abs(error) > JUMP_MS && this.readings.length >= WINDOW) {
      this.jump(error);
      return;
    }
    var rate = rateFor(error);
    if (rate > 1) {
      var range = rangeAt(video, video.currentTime);
      if (!range || range.end - video.currentTime < MIN_AHEAD_TO_HURRY) {
        rate = 1;
      }
    }
    this.setRate(rate);
  };

  /** Moves the picture by `errorMs` at once. */
  Steering.prototype.jump = function (errorMs) {
    var video = this.video;
    var to = video.currentTime + errorMs / 1000;
    this.readings = [];
    this.lastJumpAt = performance.now();
    this.jumps += 1;
    this.setRate(1);
    if (errorMs > 0 || rangeAt(video, to)) {
      // Late: forward (hls.js loads it if it is not buffered yet); or
      // early, with the frame to go back to still buffered.
      video.currentTime = to;
      return;
    }
    // Early, and that frame is gone: hold the picture for the difference.
    var self = this;
    this.holding = true;
    video.pause();
    this.resumeTimer = setTimeout(function () {
      self.lastJumpAt = performance.now();
      self.release();
    }, Math.min(-errorMs, 2500));
  };

  // -------------------------------------------- what hls.js is left to do

  /**
   * hls.js settings for a stream. Both profiles ask for each next playlist
   * in advance (lowLatencyMode: blocking reload) and leave the distance to
   * the live edge to the steering (hls.js's catch-up off); hls.js itself only
   * jumps back to the edge after a long stall.
   */
  function hlsConfig(stream) {
    var segment = stream.hls_time || 2;
    var delay = stream.screen_delay || segment * 1.5;
    var retry = { maxNumRetry: 2, retryDelayMs: 500, maxRetryDelayMs: 1000 };
    var policy = function (firstByteMs, loadMs) {
      return {
        default: {
          maxTimeToFirstByteMs: firstByteMs,
          maxLoadTimeMs: loadMs,
          timeoutRetry: retry,
          errorRetry: retry
        }
      };
    };
    // onair holds a blocking playlist request up to three target durations.
    var heldMs = 3000 * Math.max(1, Math.ceil(segment));
    return {
      enableWorker: true,
      startFragPrefetch: true,
      lowLatencyMode: true,
      maxLiveSyncPlaybackRate: 1,
      liveSyncDuration: delay,
      liveMaxLatencyDuration: delay + Math.max(3, 3 * segment),
      maxBufferLength: 30,
      maxMaxBufferLength: 60,
      backBufferLength: Math.max(10, 3 * segment),
      manifestLoadPolicy: policy(4000, 8000),
      playlistLoadPolicy: policy(heldMs + 4000, heldMs + 8000),
      fragLoadPolicy: policy(Math.max(4000, segment * 2000), Math.max(10000, segment * 4000))
    };
  }

  /**
   * The room's target for a stream: the profile's screen_delay, unless its
   * segments are at least that long (a copied source keeps its own
   * keyframes, and a segment can only be shown once complete): then a whole
   * segment plus half a second, rounded up to half a second, so that every
   * screen of the room comes to the same figure.
   */
  function targetFor(configured, longestSegment) {
    if (!(longestSegment >= configured)) {
      return configured;
    }
    return Math.ceil((longestSegment + 0.5) * 2) / 2;
  }

  window.onairSync = {
    Steering: Steering,
    rateFor: rateFor,
    hlsConfig: hlsConfig,
    targetFor: targetFor
  };
})();
