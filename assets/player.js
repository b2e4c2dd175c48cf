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
 * State for tests and for a curious operator is in `window.onair`.
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
    errors: []
  });

  // ---------------------------------------------------------------- hls.js

  /** hls.js settings for a stream: tight for low-latency, roomy for stable. */
  function hlsConfig(stream) {
    var segment = stream.hls_time || 2;
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
    var common = {
      enableWorker: true,
      startFragPrefetch: true,
      manifestLoadPolicy: policy(4000, 8000),
      playlistLoadPolicy: policy(4000, 8000),
      fragLoadPolicy: policy(Math.max(4000, segment * 2000), Math.max(10000, segment * 4000))
    };
    if (stream.profile === 'low-latency') {
      return Object.assign(common, {
        lowLatencyMode: true,
        liveSyncDurationCount: 1,
        liveMaxLatencyDurationCount: 3,
        maxLiveSyncPlaybackRate: 1.5,
        maxBufferLength: 3,
        maxMaxBufferLength: 6,
        backBufferLength: 2,
        maxBufferHole: 0.3
      });
    }
    return Object.assign(common, {
      lowLatencyMode: false,
      liveSyncDurationCount: 1.5,
      liveMaxLatencyDurationCount: 5,
      maxLiveSyncPlaybackRate: 1.05,
      maxBufferLength: 30,
      maxMaxBufferLength: 60,
      backBufferLength: 30
    });
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
      onair.state = 'loading';
    }
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
      var config = hlsConfig(stream);
      onair.config = config;
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
      onair.state = 'lost';
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
    onair.state = 'playing';
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
    if (!video.paused && time > watchdog.time) {
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

  // -------------------------------------------------------------- overlays

  var overlayKey = null;
  var clockFormat = null;
  var clockElement = null;

  function slotFor(position) {
    return (
      document.querySelector('.onair-slot.pos-' + position) ||
      document.querySelector('.onair-slot.pos-bottom')
    );
  }

  function renderOverlays(screen) {
    var key = JSON.stringify(screen || null);
    if (key === overlayKey) {
      return;
    }
    overlayKey = key;
    var slots = document.querySelectorAll('.onair-slot');
    for (var i = 0; i < slots.length; i++) {
      slots[i].textContent = '';
    }
    clockElement = null;
    if (!screen) {
      return;
    }
    if (screen.logo) {
      var img = document.createElement('img');
      img.id = 'onair-logo';
      img.className = 'onair-logo';
      img.alt = '';
      img.src = '/assets/' + screen.logo.image.split('/').map(encodeURIComponent).join('/');
      slotFor(screen.logo.position).appendChild(img);
    }
    if (screen.banner) {
      var banner = document.createElement('div');
      banner.id = 'onair-banner';
      banner.className = 'onair-banner';
      banner.textContent = screen.banner.text;
      slotFor(screen.banner.position).appendChild(banner);
    }
    if (screen.ticker) {
      var ticker = document.createElement('div');
      ticker.id = 'onair-ticker';
      ticker.className = 'onair-ticker';
      var text = document.createElement('span');
      text.className = 'onair-ticker-text';
      text.textContent = screen.ticker.text;
      ticker.style.setProperty('--onair-ticker-seconds', Math.max(10, screen.ticker.text.length * 0.3) + 's');
      ticker.appendChild(text);
      slotFor(screen.ticker.position).appendChild(ticker);
    }
    if (screen.clock) {
      clockElement = document.createElement('div');
      clockElement.id = 'onair-clock';
      clockElement.className = 'onair-clock';
      clockFormat = screen.clock.format || '24h';
      slotFor(screen.clock.position).appendChild(clockElement);
      drawClock();
    }
  }

  function pad(n) {
    return n < 10 ? '0' + n : String(n);
  }

  function drawClock() {
    if (!clockElement) {
      return;
    }
    var now = new Date();
    var hours = now.getHours();
    var suffix = '';
    if (clockFormat.indexOf('12h') === 0) {
      suffix = hours < 12 ? ' AM' : ' PM';
      hours = hours % 12 || 12;
    }
    var text = (clockFormat.indexOf('12h') === 0 ? String(hours) : pad(hours)) + ':' + pad(now.getMinutes());
    if (/:ss$/.test(clockFormat)) {
      text += ':' + pad(now.getSeconds());
    }
    clockElement.textContent = text + suffix;
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
    renderOverlays(view.screen);
    var stream = view.stream;
    if (!stream || !stream.hls_url) {
      destroyHls();
      current = null;
      lose(view.error || 'no stream');
      onair.state = 'waiting';
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
  setInterval(tick, 500);
  setInterval(drawClock, 1000);
})();
