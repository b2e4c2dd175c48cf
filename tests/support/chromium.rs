//! A real browser for the tests: headless Debian chromium driven over
//! WebDriver by chromedriver (fresh profile, no network beyond loopback),
//! onair (engine and HTTP server) on a temp config for it to open, and
//! the player's state as the page exposes it.
//!
//! Without `chromium` and `chromium-driver` a test fails and says what to
//! install; it never passes silently.
#![allow(dead_code)]

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use onair::engine::{Command, Engine, EngineOptions, EngineTask};
use onair::server::{self, Server};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// chromedriver and the chromium it starts, in a process group of their
/// own, all killed when dropped (also when a test fails half way).
pub struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this test created.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find_map(|p| onair::engine::find_program(&p))
}

/// A Chrome DevTools command sent through chromedriver.
#[derive(Debug)]
struct DevTools {
    command: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.command, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// A script that runs in every page before the page's own scripts: it
/// moves this browser's clock by `shift_ms` (`Date`, `Date.now`,
/// `performance.now`), like a TV whose clock is off, and keeps the true
/// clock for the test as `window.__onairTestTrueNow()` (the player never
/// reads it).
pub fn clock_shift_script(shift_ms: i64) -> String {
    format!(
        r#"(() => {{
  const shift = {shift_ms};
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  const realPerformanceNow = performance.now.bind(performance);
  Object.defineProperty(window, '__onairTestTrueNow', {{ value: realNow }});
  if (shift === 0) return;
  class ShiftedDate extends RealDate {{
    constructor(...args) {{
      if (args.length === 0) super(realNow() + shift); else super(...args);
    }}
    static now() {{ return realNow() + shift; }}
  }}
  window.Date = ShiftedDate;
  performance.now = () => realPerformanceNow() + shift;
}})();"#
    )
}

/// Starts chromedriver on a free port and a chromium session through it.
pub async fn open_browser() -> (Driver, Client) {
    open_browser_with(None).await
}

/// Like [`open_browser`], with a script run in every page before its own
/// (see [`clock_shift_script`]).
pub async fn open_browser_with(init_script: Option<&str>) -> (Driver, Client) {
    let chromium = find(&["chromium", "chromium-browser", "google-chrome"]).unwrap_or_else(|| {
        panic!("chromium is not installed: `apt-get install chromium chromium-driver` (the browser test needs both)")
    });
    let chromedriver = find(&["chromedriver"]).unwrap_or_else(|| {
        panic!("chromedriver is not installed: `apt-get install chromium-driver` (the browser test needs it)")
    });
    let port = free_port();
    let child = std::process::Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
    let profile = tempfile::tempdir().expect("profile dir");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1280,720",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([format!(
        "--user-data-dir={}",
        driver._profile.path().display()
    )])
    .collect::<Vec<_>>();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium.display().to_string(), "args": args }),
    );
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities);
    let client = tokio::time::timeout(Duration::from_secs(60), builder.connect(&driver.url))
        .await
        .expect("a chromium session within 60 s")
        .unwrap_or_else(|e| panic!("cannot open a chromium session: {e}"));
    if let Some(script) = init_script {
        client
            .issue_cmd(DevTools {
                command: "Page.addScriptToEvaluateOnNewDocument",
                params: json!({ "source": script }),
            })
            .await
            .unwrap_or_else(|e| panic!("cannot add the page script: {e}"));
    }
    (driver, client)
}

/// onair (engine + HTTP server) on a config file in a temp dir.
pub struct Onair {
    /// The directory holding `streams.toml`, `hls/` and `logs/`.
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    task: EngineTask,
    pub server: Server,
}

impl Onair {
    /// Writes `text` as `streams.toml` and starts onair on it.
    pub async fn start(text: &str) -> Onair {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("streams.toml");
        std::fs::write(&path, text).expect("write streams.toml");
        let config = onair::config::load_file(&path)
            .unwrap_or_else(|e| panic!("config should be valid: {e}"));
        let (engine, task) =
            Engine::start(config, EngineOptions { write_back: false }).expect("engine starts");
        let server = server::start(engine.clone()).await.expect("server starts");
        Onair {
            dir,
            engine,
            task,
            server,
        }
    }

    /// `http://ADDR/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.local_addr())
    }

    /// The body of `GET path` (blocking client, off the runtime's threads).
    pub async fn get_text(&self, path: &str) -> String {
        let url = self.url(path);
        tokio::task::spawn_blocking(move || {
            ureq::get(&url)
                .call()
                .expect("GET")
                .body_mut()
                .read_to_string()
                .expect("body")
        })
        .await
        .expect("join")
    }

    /// Stops the server and the engine (every FFmpeg).
    pub async fn stop(self) {
        self.server.shutdown().await;
        self.engine.send(Command::Shutdown);
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task.wait()).await;
    }
}

/// What the player exposes, read in one round trip. `trueLatency` is the
/// machine's true clock (onair's) minus the PROGRAM-DATE-TIME on screen.
const PLAYER_STATE: &str = r#"
const o = window.onair || {};
const v = document.getElementById('onair-video');
const slate = document.getElementById(o.slateId || 'onair-slate');
const text = (id) => { const e = document.getElementById(id); return e ? e.textContent : null; };
// The date of the frame on screen: its segment's PROGRAM-DATE-TIME plus the
// position within the segment.
const dateOnScreen = () => {
  const details = o.hls ? o.hls.latestLevelDetails : null;
  const frags = (details && details.fragments) || [];
  const t = v ? v.currentTime : 0;
  for (let i = frags.length - 1; i >= 0; i--) {
    if (frags[i].start <= t) {
      const pdt = frags[i].programDateTime;
      return pdt == null ? null : pdt + (t - frags[i].start) * 1000;
    }
  }
  return null;
};
const date = dateOnScreen();
const trueNow = window.__onairTestTrueNow || Date.now;
return {
  state: o.state || null,
  time: v ? v.currentTime : null,
  paused: v ? v.paused : null,
  rate: v ? v.playbackRate : null,
  slateShown: !!o.slateShown,
  slateVisible: !!slate && !slate.hidden && getComputedStyle(slate).display !== 'none',
  slateCount: o.slateCount || 0,
  lastFatal: o.lastFatal || null,
  fatalCount: o.fatalCount || 0,
  latency: o.latency,
  trueLatency: date ? (trueNow() - date) / 1000 : null,
  targetDelay: o.targetDelay,
  jumps: o.steering ? o.steering.jumps : null,
  clockOffset: window.onairClock ? window.onairClock.offsetMs : null,
  clockRtt: window.onairClock ? window.onairClock.rttMs : null,
  stalls: o.stalls || 0,
  profile: o.view && o.view.stream ? o.view.stream.profile : null,
  banner: text('onair-banner'),
  ticker: text('onair-ticker'),
  clock: text('onair-clock'),
  logo: document.getElementById('onair-logo') ? document.getElementById('onair-logo').getAttribute('src') : null,
  liveSync: o.config ? o.config.liveSyncDuration : null,
  steeringError: o.steering ? o.steering.errorMs : null,
  readyState: v ? v.readyState : null,
  ahead: (() => {
    if (!v) return null;
    for (let i = 0; i < v.buffered.length; i++) {
      if (v.buffered.start(i) <= v.currentTime && v.currentTime <= v.buffered.end(i)) return v.buffered.end(i) - v.currentTime;
    }
    return 0;
  })(),
  droppedFrames: v && v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().droppedVideoFrames : null,
};
"#;

pub async fn player_state(client: &Client) -> Value {
    client
        .execute(PLAYER_STATE, vec![])
        .await
        .unwrap_or_else(|e| panic!("cannot read the player's state: {e}"))
}

/// Polls the player until `check` holds, or fails with the last state seen.
pub async fn wait_player(
    client: &Client,
    within: Duration,
    what: &str,
    mut check: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let state = player_state(client).await;
        if check(&state) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}; player state: {state:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn time_of(state: &Value) -> f64 {
    state["time"].as_f64().unwrap_or(0.0)
}

/// Waits until playback has moved on by `by` seconds of media from now.
pub async fn wait_advancing(client: &Client, within: Duration, by: f64, what: &str) -> Value {
    let start = wait_player(client, within, what, |s| s["time"].as_f64().is_some()).await;
    let from = time_of(&start);
    wait_player(client, within, what, |s| {
        time_of(s) >= from + by && s["paused"] == false
    })
    .await
}
