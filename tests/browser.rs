//! A real browser on a real screen: headless chromium, driven over WebDriver
//! by chromedriver, plays a screen that onair serves from a live FFmpeg.
//!
//! Needs Debian's `chromium` and `chromium-driver`; without them the test
//! fails and says so (CI installs them), it never passes silently.

mod common;

use common::{LAVFI, TempConfig, free_port, wait_for};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use onair::engine::{Command, Engine, EngineOptions, EngineTask};
use onair::server::{self, Server};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ harness

/// chromedriver and the chromium it starts, in a process group of their
/// own, all killed when dropped (also when a test fails half way).
struct Driver {
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

/// Starts chromedriver on a free port and a chromium session through it.
async fn open_browser() -> (Driver, Client) {
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
    (driver, client)
}

/// onair (engine + HTTP server) on a temp config.
struct Onair {
    _config: TempConfig,
    engine: Engine,
    task: EngineTask,
    server: Server,
}

impl Onair {
    async fn start(text: &str) -> Onair {
        let config = TempConfig::new(text);
        let (engine, task) = Engine::start(config.load(), EngineOptions { write_back: false })
            .expect("engine starts");
        let server = server::start(engine.clone()).await.expect("server starts");
        Onair {
            _config: config,
            engine,
            task,
            server,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.local_addr())
    }

    async fn stop(self) {
        self.server.shutdown().await;
        self.engine.send(Command::Shutdown);
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task.wait()).await;
    }
}

/// What the player exposes, read in one round trip.
const PLAYER_STATE: &str = r#"
const o = window.onair || {};
const v = document.getElementById('onair-video');
const slate = document.getElementById(o.slateId || 'onair-slate');
const text = (id) => { const e = document.getElementById(id); return e ? e.textContent : null; };
return {
  state: o.state || null,
  time: v ? v.currentTime : null,
  paused: v ? v.paused : null,
  slateShown: !!o.slateShown,
  slateVisible: !!slate && !slate.hidden && getComputedStyle(slate).display !== 'none',
  slateCount: o.slateCount || 0,
  lastFatal: o.lastFatal || null,
  fatalCount: o.fatalCount || 0,
  latency: o.hls ? o.hls.latency : null,
  stalls: (o.errors || []).filter((e) => e.details === 'bufferStalledError').length,
  profile: o.view && o.view.stream ? o.view.stream.profile : null,
  banner: text('onair-banner'),
  ticker: text('onair-ticker'),
  clock: text('onair-clock'),
  logo: document.getElementById('onair-logo') ? document.getElementById('onair-logo').getAttribute('src') : null,
  liveSync: o.config ? o.config.liveSyncDurationCount : null,
};
"#;

async fn player_state(client: &Client) -> Value {
    client
        .execute(PLAYER_STATE, vec![])
        .await
        .unwrap_or_else(|e| panic!("cannot read the player's state: {e}"))
}

/// Polls the player until `check` holds, or fails with the last state seen.
async fn wait_player(
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

fn time_of(state: &Value) -> f64 {
    state["time"].as_f64().unwrap_or(0.0)
}

/// Waits until playback has moved on by `by` seconds of media from now.
async fn wait_advancing(client: &Client, within: Duration, by: f64, what: &str) -> Value {
    let start = wait_player(client, within, what, |s| s["time"].as_f64().is_some()).await;
    let from = time_of(&start);
    wait_player(client, within, what, |s| {
        time_of(s) >= from + by && s["paused"] == false
    })
    .await
}

// -------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screen_plays_with_overlays_heals_after_ffmpeg_is_killed_and_follows_a_profile_switch() {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nstall_timeout = 4\n\n\
         [[stream]]\nname = \"cam\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\"\n\n\
         [[screen]]\nname = \"foyer\"\nstream = \"cam\"\n\
         banner = {{ text = \"Welcome to the test match\", position = \"bottom\" }}\n\
         ticker = {{ text = \"Next: the second half\", position = \"top\" }}\n\
         logo = {{ image = \"onair-logo.svg\", position = \"top-right\" }}\n\
         clock = {{ format = \"24h:ss\", position = \"top-left\" }}\n"
    );
    let onair = Onair::start(&text).await;
    let (driver, client) = open_browser().await;
    client
        .goto(&onair.url("/screen/foyer"))
        .await
        .expect("open the screen");

    // It plays: time advances, nothing fatal, the overlays are there.
    wait_player(
        &client,
        Duration::from_secs(40),
        "the screen to play",
        |s| s["state"] == "playing" && time_of(s) > 0.5,
    )
    .await;
    // Advancing by 1.5 s of media time is the check (wait_advancing fails otherwise).
    let advanced =
        wait_advancing(&client, Duration::from_secs(20), 1.5, "playback to advance").await;
    assert_eq!(
        advanced["lastFatal"],
        Value::Null,
        "a fatal hls.js error while playing: {advanced:#}"
    );
    assert_eq!(advanced["slateShown"], false);
    assert_eq!(advanced["slateVisible"], false);
    assert_eq!(advanced["profile"], "low-latency");
    assert_eq!(advanced["liveSync"], 1, "low-latency settings in use");
    assert_eq!(advanced["banner"], "Welcome to the test match");
    assert_eq!(advanced["ticker"], "Next: the second half");
    assert_eq!(advanced["logo"], "/assets/onair-logo.svg");
    let clock = advanced["clock"].as_str().unwrap_or_default();
    assert!(
        clock.len() == 8 && clock.as_bytes()[2] == b':' && clock.as_bytes()[5] == b':',
        "clock shows {clock:?}"
    );
    let slates_before = advanced["slateCount"].as_u64().unwrap_or(0);
    eprintln!("playing: {advanced}");

    // The stream's FFmpeg dies: the slate comes up over the last frame.
    let snapshot = onair.engine.snapshot();
    let pid = common::running_pid(&snapshot, "cam").expect("cam has a pid");
    common::kill(pid, libc::SIGKILL);
    let killed_at = Instant::now();
    let lost = wait_player(
        &client,
        Duration::from_secs(20),
        "the slate after the kill",
        |s| s["slateVisible"] == true && s["slateCount"].as_u64().unwrap_or(0) > slates_before,
    )
    .await;
    eprintln!("slate {:?} after the kill: {lost}", killed_at.elapsed());

    // The engine brings it back; the screen resumes on its own.
    wait_for(
        &onair.engine,
        Duration::from_secs(30),
        "cam running again",
        |s| common::running_pid(s, "cam").is_some_and(|p| p != pid),
    )
    .await;
    let resumed = wait_player(
        &client,
        Duration::from_secs(40),
        "playback to resume",
        |s| s["state"] == "playing" && s["slateVisible"] == false,
    )
    .await;
    eprintln!(
        "resumed {:?} after the kill: {resumed}",
        killed_at.elapsed()
    );
    let after = wait_advancing(
        &client,
        Duration::from_secs(20),
        1.5,
        "playback to advance after the restart",
    )
    .await;
    assert_eq!(after["slateShown"], false);
    assert_eq!(
        after["banner"], "Welcome to the test match",
        "overlays survive the restart"
    );

    // The operator switches the stream to the stable profile: the open
    // screen follows through /events, with the stable player settings.
    onair.engine.send(Command::SetProfile {
        stream: "cam".into(),
        profile: onair::config::Profile::Stable,
    });
    wait_player(
        &client,
        Duration::from_secs(40),
        "the switch to stable",
        |s| s["profile"] == "stable" && s["liveSync"] == 1.5 && s["state"] == "playing",
    )
    .await;
    let stable = wait_advancing(
        &client,
        Duration::from_secs(30),
        1.5,
        "playback on the stable profile",
    )
    .await;
    assert_eq!(stable["slateVisible"], false);

    let _ = client.close().await;
    drop(driver);
    onair.stop().await;
}

/// `hls.latency` after a while on each profile. A benchmark, not a test:
/// `cargo test --release --test browser -- --ignored --nocapture latency`
/// (`ONAIR_LATENCY_SECONDS` sets how long each profile plays, default 30;
/// `ONAIR_LATENCY_PROFILES` picks the profiles; `ONAIR_LL_HLS_TIME` tries
/// another low-latency segment length).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: prints figures, run by scripts/bench-latency.sh"]
async fn latency_per_profile() {
    let seconds: u64 = std::env::var("ONAIR_LATENCY_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    // `ONAIR_LL_HLS_TIME` tries another segment length for low-latency.
    let low_latency = match std::env::var("ONAIR_LL_HLS_TIME") {
        Ok(seconds) => {
            format!("[profile.low-latency]\nhls_time = {seconds}\ngop_seconds = {seconds}\n\n")
        }
        Err(_) => String::new(),
    };
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n{low_latency}\
         [[stream]]\nname = \"fast\"\ninput = \"{LAVFI}\"\nprofile = \"low-latency\"\n\n\
         [[stream]]\nname = \"safe\"\ninput = \"{LAVFI}\"\nprofile = \"stable\"\n\n"
    );
    let onair = Onair::start(&text).await;
    let (driver, client) = open_browser().await;
    // `ONAIR_LATENCY_PROFILES=stable` measures one profile only (the soak).
    let only = std::env::var("ONAIR_LATENCY_PROFILES").unwrap_or_default();
    for (stream, profile) in [("fast", "low-latency"), ("safe", "stable")] {
        if !only.is_empty() && !only.split(',').any(|p| p.trim() == profile) {
            continue;
        }
        client
            .goto(&onair.url(&format!("/watch/{stream}")))
            .await
            .expect("open");
        wait_player(&client, Duration::from_secs(60), "playback", |s| {
            s["state"] == "playing"
        })
        .await;
        let started = Instant::now();
        let mut samples = Vec::new();
        while started.elapsed() < Duration::from_secs(seconds) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Some(latency) = player_state(&client).await["latency"].as_f64() {
                samples.push(latency);
            }
        }
        let state = player_state(&client).await;
        let latency = state["latency"].as_f64().unwrap_or(f64::NAN);
        let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
        let max = samples.iter().cloned().fold(f64::NAN, f64::max);
        println!(
            "latency {profile:<11} after {seconds} s: {latency:.2} s (mean {mean:.2} s, max {max:.2} s), \
             stalls {}, slates {}, fatal errors {}",
            state["stalls"], state["slateCount"], state["fatalCount"]
        );
    }
    let _ = client.close().await;
    drop(driver);
    onair.stop().await;
}
