/*
 * onair screen player.
 *
 * Plays one stream full screen with hls.js and draws the screen's overlays.
 * It is meant to run unattended on a venue's TV for days, so it heals
 * itself: a stall or a network error shows a "signal lost — reconnecting"
 * slate over the last frame and playback starts again on its own when the
 * stream is back. The page follows /events, so a screen whose stream or
 * profile is changed in streams.toml switches without a reload.
 *
 * Every screen of a room shows the same frame: playback is steered to the
 * room's target (sync.js, with onair's clock from clock.js), and hls.js asks
 * onair for each next playlist in advance (blocking reload), so a new
 * segment is known the moment it exists.
 *
 * For other scripts of the page (screen reports) and for tests, the player's
 * state is `window.onair`: `state` (connecting | waiting | loading | playing
 * | lost), `latency` (seconds: onair's now minus the PROGRAM-DATE-TIME of the
 * frame on screen; null while unknown), `targetDelay` (seconds), `stalls`
 * (playback stopped for want of data), `lastFatal` ({ type, details, at }),
 * `fatalCount`. It also dispatches on `window`:
 *   onair:state  { state, reason }      whenever the state changes
 *   onair:stall  { stalls }             each stall
 *   onair:fatal  { type, details }      each fatal hls.js error
 *   onair:sync   { latency, error, rate, targetDelay }   once a second while playing
 */
(function () {
  'use strict';

  var target = {};
  try {
    target = JSON.parse(document.getElementById('onair-target').textContent || '{}');
  } catch (e) {
    target = {};
  }
  var video = document.getElementById('onair-video');
  var slate = document.getElementById('onair-slate');
  var slateDetail = document.getElementById('onair-slate-detail');
  var lastFrame = document.getElementById('onair-lastframe');
  var params = new URLSearchParams(window.location.search);
  if (params.get('sound') === '1') {
    video.muted = false;
  }

  var onair = (window.onair = {
    /** connecting | waiting | loading | playing | lost */
    state: 'connecting',
    /** The live hls.js instance (null between attempts). */
    hls: null,
    /** The last fatal hls.js error: { type, details, at }. */
    lastFatal: null,
    /** The last view received from /events. */
    view: null,
    /** The hls.js settings in use (depend on the stream's profile). */
    config: null,
    /** Id of the slate element. */
    slateId: 'onair-slate',
    slateShown: false,
    /** How many times the slate was raised since the page loaded. */
    slateCount: 0,
    fatalCount: 0,
    mediaRecoveries: 0,
    /** How many times playback was started from scratch. */
    starts: 0,
    eventsConnected: false,
    /** Recent non-fatal hls.js errors (not shown on screen), newest last. */
    errors: [],
    /** onair's now minus the PROGRAM-DATE-TIME on screen, seconds (null: unknown). */
    latency: null,
    /** The room's target for `latency`: the profile's screen_delay, seconds. */
    targetDelay: null,
    /** Times playback stopped for want of data (not counting jumps). */
    stalls: 0,
    /** The steering (sync.js): errorMs, rate, jumps. */
    steering: null
  });

  /** Tells other scripts of the page (screen reports) what happened. */
  function emit(name, detail) {
    try {
      window.dispatchEvent(new CustomEvent('onair:' + name, { detail: detail }));
    } catch (e) {
      /* a listener's error is not the player's */
    }
  }

  function setState(state, reason) {
    if (onair.state !== state) {
      onair.state = state;
      emit('state', { state: state, reason: reason || null });
      if (typeof onair.changed === 'function') {
        try {
          onair.changed();
        } catch (e) {
          /* the reporter's error is not the player's */
        }
      }
    }
  }

  var steering = new window.onairSync.Steering(video, window.onairClock);
  onair.steering = steering;

  // ---------------------------------------------------------------- hls.js

  var longestSegment = 0;

  /** Steers to a new target (the profile's delay or the segments changed). */
  function retarget(stream) {
    var target = window.onairSync.targetFor(stream.screen_delay, longestSegment);
    if (target !== onair.targetDelay) {
      onair.targetDelay = target;
      steering.setTarget(target);
    }
  }

  /**
   * The PROGRAM-DATE-TIME (ms) of the frame on screen, or null: the date of
   * the segment that holds the playback position, plus the position within
   * it. Every screen maps a position to the same date at every moment
   * (hls.js's own `playingDate` follows the segment it last switched to).
   */
  function programDate() {
    var hls = onair.hls;
    var time = video.currentTime;
    if (hls) {
      var details = hls.latestLevelDetails;
      var fragments = (details && details.fragments) || [];
      for (var i = fragments.length - 1; i >= 0; i--) {
        var fragment = fragments[i];
        if (fragment.start <= time) {
          var date = fragment.programDateTime;
          return date === null || date === undefined ? null : date + (time - fragment.start) * 1000;
        }
      }
      var playing = hls.playingDate;
      return playing ? playing.getTime() : null;
    }
    if (video.getStartDate) {
      // Native HLS (Safari): the playlist's date at time 0, plus the position.
      var start = video.getStartDate().getTime();
      return isFinite(start) ? start + time * 1000 : null;
    }
    return null;
  }


  var current = null; // { key, stream, generation }
  var attempt = 0; // increases with every start; stale callbacks compare it
  var attemptStartedAt = 0;
  var retryTimer = null;
  var retryDelay = 1000;
  var lastFragment = null; // newest segment hls.js knew of: recognises a stale playlist
  var lastMediaRecovery = -Infinity;
  var watchdog = { time: 0, progressAt: performance.now(), gained: 0 };

  function destroyHls() {
    if (onair.hls) {
      try {
        onair.hls.destroy();
      } catch (e) {
        /* already gone */
      }
      onair.hls = null;
    }
  }

  /** Starts playback from scratch; `stale` is a segment of a previous FFmpeg. */
  function start(stream, stale) {
    clearTimeout(retryTimer);
    retryTimer = null;
    attempt += 1;
    var mine = attempt;
    attemptStartedAt = performance.now();
    if (onair.state !== 'lost') {
      setState('loading');
    }
    steering.stop();
    waitForFreshPlaylist(stream.hls_url, stale, mine, function () {
      if (mine !== attempt) {
        return;
      }
      attemptStartedAt = performance.now();
      destroyHls();
      if (current) {
        current.awaiting = false;
      }
      onair.starts += 1;
      watchdog.gained = 0;
      var config = window.onairSync.hlsConfig(stream);
      onair.config = config;
      longestSegment = 0;
      onair.targetDelay = stream.screen_delay || null;
      steering.follow(programDate, stream.screen_delay);
      if (!window.Hls || !window.Hls.isSupported()) {
        if (video.canPlayType('application/vnd.apple.mpegurl')) {
          video.src = stream.hls_url;
          play();
        } else {
          lose('this browser cannot play HLS');
        }
        return;
      }
      var hls = new window.Hls(config);
      onair.hls = hls;
      hls.on(window.Hls.Events.ERROR, function (event, data) {
        if (mine === attempt) {
          onError(data);
        }
      });
      hls.on(window.Hls.Events.LEVEL_LOADED, function (event, data) {
        var fragments = data.details && data.details.fragments;
        if (fragments && fragments.length) {
          lastFragment = fragments[fragments.length - 1].relurl;
          fragments.forEach(function (fragment) {
            longestSegment = Math.max(longestSegment, fragment.duration || 0);
          });
          retarget(current && current.stream ? current.stream : stream);
        }
      });
      hls.on(window.Hls.Events.MANIFEST_PARSED, play);
      hls.attachMedia(video);
      hls.loadSource(stream.hls_url);
    });
  }

  /**
   * Waits (bounded) until the playlist is there and lists a segment, so that
   * a stream that has just started is not an error. After a restart of the
   * stream's FFmpeg, `stale` is the last segment seen before the loss: the
   * old playlist must be gone, or the player would start on a dead timeline.
   */
  function waitForFreshPlaylist(url, stale, mine, ready) {
    var deadline = performance.now() + 20000;
    var check = function () {
      if (mine !== attempt) {
        return;
      }
      fetch(url, { cache: 'no-store' })
        .then(function (response) {
          return response.ok ? response.text() : '';
        })
        .catch(function () {
          return '';
        })
        .then(function (text) {
          if (mine !== attempt) {
            return;
          }
          var playable = text.indexOf('#EXTM3U') === 0 && /#EXTINF/.test(text);
          var fresh = playable && (!stale || text.indexOf(stale) < 0);
          if (fresh || performance.now() > deadline) {
            ready();
          } else {
            setTimeout(check, 250);
          }
        });
    };
    check();
  }

  function play() {
    var promise = video.play();
    if (promise && promise.catch) {
      promise.catch(function () {
        /* autoplay refused: retried by the watchdog */
      });
    }
  }

  function onError(data) {
    if (!data.fatal) {
      // bufferStalledError and friends: hls.js recovers by itself; never shown.
      onair.errors.push({ details: data.details, at: Date.now() });
      if (onair.errors.length > 20) {
        onair.errors.shift();
      }
      return;
    }
    onair.fatalCount += 1;
    onair.lastFatal = { type: data.type, details: data.details, at: Date.now() };
    emit('fatal', { type: data.type, details: data.details });
    if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
      var now = performance.now();
      if (now - lastMediaRecovery > 3000) {
        lastMediaRecovery = now;
        onair.mediaRecoveries += 1;
        onair.hls.recoverMediaError();
        return;
      }
    }
    lose(data.details);
    retrySoon();
  }

  /** Starts again after a growing delay (1 s, 2 s, 4 s, then every 5 s). */
  function retrySoon() {
    if (retryTimer || !current || !current.stream) {
      return;
    }
    retryTimer = setTimeout(function () {
      retryTimer = null;
      if (!current || !current.stream) {
        return;
      }
      if (current.awaiting && onair.eventsConnected) {
        // The stream is down and /events will say when it is back.
        retrySoon();
        return;
      }
      start(current.stream, null);
    }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 5000);
  }

  // ------------------------------------------------------------ the slate

  function freezeFrame() {
    try {
      if (video.videoWidth > 0 && video.readyState >= 2) {
        lastFrame.width = video.videoWidth;
        lastFrame.height = video.videoHeight;
        lastFrame.getContext('2d').drawImage(video, 0, 0, video.videoWidth, video.videoHeight);
        lastFrame.hidden = false;
      }
    } catch (e) {
      /* no frame to keep */
    }
  }

  /** The picture is gone: keep the last frame and say so. */
  function lose(reason) {
    if (onair.state !== 'lost') {
      freezeFrame();
      setState('lost', reason);
      watchdog.gained = 0;
    }
    slateDetail.textContent = reason || '';
    if (!onair.slateShown) {
      onair.slateShown = true;
      onair.slateCount += 1;
      slate.hidden = false;
    }
  }

  function recovered() {
    setState('playing');
    retryDelay = 1000;
    if (onair.slateShown) {
      onair.slateShown = false;
      slate.hidden = true;
    }
    lastFrame.hidden = true;
  }

  /** How long without progress before the picture counts as lost. */
  function stallLimitMs() {
    var segment = (current && current.stream && current.stream.hls_time) || 2;
    return Math.max(3000, (2 * segment + 1) * 1000);
  }

  /** Twice a second: notice progress, a frozen picture, or an attempt that goes nowhere. */
  function tick() {
    var now = performance.now();
    var time = video.currentTime;
    if (steering.holding || (!video.paused && time > watchdog.time)) {
      watchdog.gained += time - watchdog.time;
      watchdog.progressAt = now;
    }
    watchdog.time = time;
    if (onair.state === 'playing') {
      if (now - watchdog.progressAt > stallLimitMs()) {
        lose('no picture for ' + Math.round((now - watchdog.progressAt) / 1000) + ' s');
        retrySoon();
      }
    } else if (onair.state === 'loading' || onair.state === 'lost') {
      if (current && current.awaiting) {
        // Lost because the stream is down: what still plays is the old
        // buffer, not a recovery. Wait for the new FFmpeg's playback.
      } else if (watchdog.gained >= 0.3 && now - watchdog.progressAt < 1000) {
        recovered();
      } else if (video.paused && onair.hls && video.readyState >= 2) {
        play();
      } else if (current && current.live && now - attemptStartedAt > stallLimitMs() + 5000) {
        lose('no picture yet');
        retrySoon();
      }
    }
  }

  // ---------------------------------------------------------------- events

  function describe(stream) {
    if (!stream.enabled) {
      return 'stream ' + stream.name + ' is switched off';
    }
    return 'stream ' + stream.name + ' is ' + stream.state;
  }

  /** Applies what /events says about this screen and its stream. */
  function applyView(view) {
    onair.view = view;
    window.onairOverlays.render(view.screen);
    var stream = view.stream;
    if (!stream || !stream.hls_url) {
      destroyHls();
      steering.stop();
      current = null;
      lose(view.error || 'no stream');
      setState('waiting', view.error || 'no stream');
      return;
    }
    document.title = (view.screen ? view.screen.name : stream.name) + ' · onair';
    var key = stream.name + '|' + stream.profile + '|' + stream.hls_url;
    // On `fallback` the stream's outputs carry the slate: keep playing it.
    var live = stream.state === 'running' || stream.state === 'fallback';
    if (!current || current.key !== key) {
      var switching = current !== null;
      current = {
        key: key,
        stream: stream,
        generation: live ? stream.running_since : null,
        live: live,
        awaiting: !live
      };
      retryDelay = 1000;
      if (live) {
        start(stream, switching ? lastFragment : null);
      } else {
        lose(describe(stream));
      }
      return;
    }
    current.stream = stream;
    current.live = live;
    // The room's delay may have changed: steer to it, no restart.
    retarget(stream);
    if (!live) {
      current.awaiting = true;
      lose(describe(stream));
      return;
    }
    if (stream.running_since !== current.generation) {
      // A new FFmpeg: a new timeline. Start over on its own playlist.
      current.generation = stream.running_since;
      retryDelay = 1000;
      start(stream, lastFragment);
    }
  }

  function connectEvents() {
    var query = target.screen
      ? 'screen=' + encodeURIComponent(target.screen)
      : 'stream=' + encodeURIComponent(target.stream || '');
    var events = new EventSource('/events?' + query);
    events.addEventListener('view', function (event) {
      try {
        applyView(JSON.parse(event.data));
      } catch (e) {
        onair.errors.push({ details: 'bad view: ' + e, at: Date.now() });
      }
    });
    events.onopen = function () {
      onair.eventsConnected = true;
    };
    events.onerror = function () {
      // EventSource reconnects by itself; playback goes on meanwhile. An
      // answer that is not an event stream (a screen not in streams.toml
      // yet, a server at its limit) closes it for good: try again later.
      onair.eventsConnected = false;
      if (events.readyState === EventSource.CLOSED) {
        setTimeout(connectEvents, 5000);
      }
    };
  }

  if (!target.screen && !target.stream) {
    lose('no screen or stream given');
  } else {
    connectEvents();
  }
  // A stall: playback stopped for want of data (a jump's own wait is not one).
  video.addEventListener('waiting', function () {
    if (onair.state === 'playing' && !video.seeking && !steering.justJumped()) {
      onair.stalls += 1;
      emit('stall', { stalls: onair.stalls });
    }
  });

  function steer() {
    steering.tick();
    onair.latency = steering.latencyMs === null ? null : steering.latencyMs / 1000;
  }

  var lastSyncEvent = 0;
  function report() {
    var now = performance.now();
    if (onair.state === 'playing' && onair.latency !== null && now - lastSyncEvent >= 1000) {
      lastSyncEvent = now;
      emit('sync', {
        latency: onair.latency,
        error: steering.errorMs === null ? null : steering.errorMs / 1000,
        rate: steering.rate,
        targetDelay: onair.targetDelay
      });
    }
  }

  setInterval(tick, 500);
  setInterval(function () {
    steer();
    report();
  }, 200);
})();
