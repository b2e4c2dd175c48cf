/*
 * onair screen overlays: banner, ticker, logo and clock over the picture,
 * as the screen's [[screen]] section in streams.toml describes them.
 *
 * The clock shows onair's time (see clock.js), so every screen of the room
 * shows the same minute even when a TV's own clock is off.
 *
 * window.onairOverlays.render(screen) draws them (again only when they
 * changed); the clock ticks by itself.
 */
(function () {
  'use strict';

  var overlayKey = null;
  var clockFormat = null;
  var clockElement = null;

  function slotFor(position) {
    return (
      document.querySelector('.onair-slot.pos-' + position) ||
      document.querySelector('.onair-slot.pos-bottom')
    );
  }

  function render(screen) {
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
    var onairNow = window.onairClock ? window.onairClock.now() : null;
    var now = onairNow === null ? new Date() : new Date(onairNow);
    var hours = now.getHours();
    var suffix = '';
    var twelve = clockFormat.indexOf('12h') === 0;
    if (twelve) {
      suffix = hours < 12 ? ' AM' : ' PM';
      hours = hours % 12 || 12;
    }
    var text = (twelve ? String(hours) : pad(hours)) + ':' + pad(now.getMinutes());
    if (/:ss$/.test(clockFormat)) {
      text += ':' + pad(now.getSeconds());
    }
    clockElement.textContent = text + suffix;
  }

  window.onairOverlays = { render: render };
  setInterval(drawClock, 1000);
})();
