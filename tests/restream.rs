//! Restreaming to platforms, end to end: a real nginx-rtmp hub fed by an
//! encoder, onair pushing one source to two destinations on a second real
//! nginx-rtmp, and an operator who switches destinations, loses one, and
//! must never see a stream key.
//!
//! Needs ffmpeg, nginx and Debian's libnginx-mod-rtmp; a test fails with
//! what to install when they are missing.

mod common;
#[path = "support/rtmp_hub.rs"]
mod rtmp_hub;

use common::free_port;

use onair::config::{Change, Profile, WriteBackError, apply_change};
use onair::engine::{Command, Engine, EngineOptions, EngineTask, Snapshot};
use rtmp_hub::{Feed, Nginx, Viewer, probe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

/// Keys the destinations get from the environment, as an operator's would.
const ALPHA_KEY: &str = "alpha-k3y-5f1e9c2a7d";
const BETA_KEY: &str = "beta-k3y-8b4d0e6f3a";
const KEYS: [&str; 2] = [ALPHA_KEY, BETA_KEY];

/// The engine's restart delay never exceeds this (see the engine's backoff).
const BACKOFF_CAP: Duration = Duration::from_secs(30);

static SETUP: Once = Once::new();
static LOG_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Sets the key variables and sends onair's log (one per test binary) to a
/// directory of its own. Every test calls this first, so the environment is
/// written before any test starts a process.
fn setup() -> &'static Path {
    SETUP.call_once(|| {
        // SAFETY: runs once, before any test of this binary reads the
        // environment or spawns a process (they all wait on SETUP first).
        unsafe {
            std::env::set_var("ONAIR_TEST_ALPHA_KEY", ALPHA_KEY);
            std::env::set_var("ONAIR_TEST_BETA_KEY", BETA_KEY);
        }
        let dir = tempfile::Builder::new()
            .prefix("restream-logs-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("cannot create the log directory")
            .keep();
        let guard = onair::logging::init(&dir).expect("cannot start logging");
        std::mem::forget(guard);
        LOG_DIR.set(dir).expect("set once");
    });
    LOG_DIR.get().expect("set up").as_path()
}

/// A venue: the hub the encoder publishes to, the encoder, and one
/// "platform" that receives the pushes.
struct Venue {
    dir: tempfile::TempDir,
    hub: Nginx,
    platform: Nginx,
    feed: Feed,
}

impl Venue {
    fn open() -> Venue {
        let dir = tempfile::tempdir().expect("temp dir");
        let hub = Nginx::start(dir.path(), "hub");
        let platform = Nginx::start(dir.path(), "platform");
        let feed = Feed::publish(&hub.url("program"));
        Venue {
            dir,
            hub,
            platform,
            feed,
        }
    }

    /// A `streams.toml` with the program pushed to `alpha` and `beta` on the
    /// platform, keys from `${VAR}`, video and audio copied.
    fn write_config(&self) -> PathBuf {
        let port = self.platform.port;
        let text = format!(
            r#"[server]
hls_dir = "hls"

[[stream]]
name = "program"
input = "{input}"
audio = "copy"
outputs = [
  {{ name = "alpha", url = "rtmp://127.0.0.1:{port}/live/${{ONAIR_TEST_ALPHA_KEY}}" }},
  {{ name = "beta", url = "rtmp://127.0.0.1:{port}/live/${{ONAIR_TEST_BETA_KEY}}" }},
]
"#,
            input = self.hub.url("program"),
        );
        let path = self.dir.path().join("streams.toml");
        std::fs::write(&path, text).expect("cannot write streams.toml");
        path
    }

    fn start_onair(&self, path: &Path) -> (Engine, EngineTask) {
        let config = onair::config::load_file(path).expect("the test config is valid");
        Engine::start(config, EngineOptions::default()).expect("engine starts")
    }
}

/// The state of a row, or "" before the engine's first snapshot.
fn state(snapshot: &Snapshot, name: &str) -> &'static str {
    snapshot.stream(name).map_or("", |r| r.state.label())
}

fn assert_no_key(text: &str, place: &str) {
    for key in KEYS {
        assert!(
            !text.contains(key),
            "a stream key appears in {place}:\n{text}"
        );
    }
}

/// Every snapshot a test looks at is checked for keys: its JSON (what the
/// API serves) holds the rows, the shown commands, the stderr tails and the
/// event log.
fn assert_snapshot_has_no_key(snapshot: &Snapshot) {
    let json = serde_json::to_string(snapshot).expect("snapshot serialises");
    assert_no_key(&json, "the snapshot JSON");
}

/// Waits for a condition on the engine's snapshots, up to `within`, and
/// checks every snapshot it looks at for stream keys.
async fn wait_keyless(
    engine: &Engine,
    within: Duration,
    what: &str,
    mut done: impl FnMut(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    common::wait_for(engine, within, what, |s| {
        assert_snapshot_has_no_key(s);
        done(s)
    })
    .await
}

/// Runs blocking work (a probe, starting or stopping nginx, a viewer's
/// wait) off the runtime's workers, so the engine under test keeps running
/// meanwhile. Panics outside a multi-threaded runtime, which is the point.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

async fn shut_down(engine: Engine, task: EngineTask) {
    engine.send(Command::Shutdown);
    tokio::time::timeout(Duration::from_secs(20), task.wait())
        .await
        .expect("the engine stops every ffmpeg within 20 s");
}

/// The console drawn from `snapshot` once per row, each row selected in turn.
fn console_screens(engine: &Engine, snapshot: &Snapshot) -> Vec<String> {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use onair::tui::{app::App, view};
    use ratatui::{Terminal, backend::TestBackend};
    let server = onair::server::ServerStats::default();
    let mut app = App::new();
    app.observe(snapshot);
    app.observe_log(&engine.log_since(0), snapshot.taken_at);
    let mut screens = Vec::new();
    for _ in &snapshot.streams {
        if let Some(details) = app.selected().and_then(|name| engine.details(name)) {
            app.observe_details(details);
        }
        let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("test terminal");
        let scene = view::Scene {
            snapshot,
            server: &server,
            app: &app,
            now: snapshot.taken_at,
            utc_offset_secs: 0,
        };
        let mut rendered = Default::default();
        terminal
            .draw(|frame| rendered = view::draw(frame, &scene))
            .expect("draw");
        app.set_rendered(rendered);
        screens.push(terminal.backend().to_string());
        app.handle_key(
            KeyEvent::new(KeyCode::Down, KeyModifiers::NONE),
            snapshot,
            snapshot.taken_at,
        );
    }
    screens
}

fn edit_file(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read streams.toml");
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected one `{from}` in streams.toml:\n{text}"
    );
    std::fs::write(path, text.replace(from, to)).expect("write streams.toml");
}

fn assert_receives_program(url: &str, what: &str) {
    let found = probe(url, Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{what} does not receive the program: {e}"));
    assert!(
        found.contains("codec_name=h264") && found.contains("width=320"),
        "{what}: no 320x180 H.264 video in {found}"
    );
    assert!(
        found.contains("codec_name=aac"),
        "{what}: no AAC audio in {found}"
    );
}

/// The log files must hold the destinations' masked URLs (so they were
/// logged at all) and never a key.
async fn assert_logs_hold_no_key(log_dir: &Path, expected_masked: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(log_dir.join("logs")) {
            for entry in entries.flatten() {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        assert_no_key(&text, "the log files");
        if text.contains(expected_masked) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the log files never mentioned `{expected_masked}`:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_one_destination_by_key_or_by_file_never_touches_the_other() {
    setup();
    let mut venue = Venue::open();
    let path = venue.write_config();
    let (engine, task) = venue.start_onair(&path);
    let _watcher = onair::reload::watch_config(&path, engine.clone()).expect("watch streams.toml");

    let snapshot = wait_keyless(
        &engine,
        Duration::from_secs(30),
        "both destinations running",
        |s| common::is_running(s, "program/alpha") && common::is_running(s, "program/beta"),
    )
    .await;
    let alpha_pid = common::stream(&snapshot, "program/alpha").pid;
    let alpha_restarts = common::stream(&snapshot, "program/alpha").restarts;
    let beta_pid = common::stream(&snapshot, "program/beta").pid;
    assert_ne!(alpha_pid, beta_pid, "each destination has its own ffmpeg");
    let shown = &common::stream(&snapshot, "program/alpha").command;
    assert!(
        shown.contains("/live/****") && shown.contains("-c:v copy"),
        "the shown command masks the key and copies the video: {shown}"
    );

    let (alpha_url, beta_url) = (venue.platform.url(ALPHA_KEY), venue.platform.url(BETA_KEY));
    blocking(|| {
        let beta_probe = std::thread::spawn(move || assert_receives_program(&beta_url, "beta"));
        assert_receives_program(&alpha_url, "alpha");
        beta_probe.join().expect("beta receives the program");
    });

    // One viewer on alpha's platform, and one on the hub: on a busy machine
    // the encoder itself may pause, and alpha cannot flow better than its source.
    let source = Viewer::watch(&venue.hub.url("program"));
    let mut viewer = Viewer::watch(&alpha_url);
    assert!(
        blocking(|| viewer.wait_flowing(Duration::from_secs(15))
            && source.wait_flowing(Duration::from_secs(15))),
        "a viewer of alpha or of the hub receives nothing"
    );
    let watching_since = Instant::now();
    let mut events: Vec<(&str, Duration)> = Vec::new();
    let mark = |what: &'static str, events: &mut Vec<(&str, Duration)>| {
        events.push((what, watching_since.elapsed()))
    };

    // By key: stop beta; the toggle is written into its entry of `outputs`.
    mark("stop beta", &mut events);
    engine.send(Command::Stop {
        stream: "program/beta".into(),
    });
    let snapshot = wait_keyless(&engine, Duration::from_secs(15), "beta stopped", |s| {
        state(s, "program/beta") == "stopped" && common::stream(s, "program/beta").pid.is_none()
    })
    .await;
    assert_eq!(common::stream(&snapshot, "program/alpha").pid, alpha_pid);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(r#"url = "rtmp://127.0.0.1:"#)
            && text.contains("${ONAIR_TEST_BETA_KEY}\", enabled = false }"),
        "the toggle is written into beta's entry:\n{text}"
    );
    assert_no_key(&text, "streams.toml");

    // By file: enable beta again; it starts with a new ffmpeg, alpha keeps its own.
    mark("beta stopped; enable by file", &mut events);
    edit_file(&path, "enabled = false", "enabled = true");
    let snapshot = wait_keyless(
        &engine,
        Duration::from_secs(30),
        "beta running again after the edit",
        |s| {
            common::is_running(s, "program/beta")
                && common::stream(s, "program/beta").pid != beta_pid
        },
    )
    .await;
    assert_eq!(common::stream(&snapshot, "program/alpha").pid, alpha_pid);
    let beta_pid = common::stream(&snapshot, "program/beta").pid;

    mark("beta running; set profile", &mut events);
    // By key: a profile switch of beta alone. Beta only remuxes what the
    // relay gives it, which no profile changes: its FFmpeg runs on.
    engine.send(Command::SetProfile {
        stream: "program/beta".into(),
        profile: Profile::LowLatency,
    });
    let snapshot = wait_keyless(
        &engine,
        Duration::from_secs(30),
        "beta on low-latency",
        |s| {
            let beta = common::stream(s, "program/beta");
            common::is_running(s, "program/beta") && beta.profile == Profile::LowLatency
        },
    )
    .await;
    assert_eq!(common::stream(&snapshot, "program/beta").pid, beta_pid);
    assert_eq!(common::stream(&snapshot, "program/alpha").pid, alpha_pid);
    assert_eq!(
        common::stream(&snapshot, "program/alpha").profile,
        Profile::Stable
    );

    mark("beta on low-latency; disable by file", &mut events);
    // By file: disable beta.
    edit_file(&path, "enabled = true", "enabled = false");
    let snapshot = wait_keyless(
        &engine,
        Duration::from_secs(15),
        "beta stopped by the edit",
        |s| state(s, "program/beta") == "stopped",
    )
    .await;
    mark("beta stopped", &mut events);
    let alpha = common::stream(&snapshot, "program/alpha");
    assert_eq!(alpha.pid, alpha_pid, "alpha's ffmpeg was never restarted");
    assert_eq!(alpha.restarts, alpha_restarts);

    // Alpha's platform kept receiving all along.
    assert!(viewer.is_connected(), "alpha's viewer was disconnected");
    let (gap, at) = viewer.longest_gap_since(watching_since);
    let (source_gap, _) = source.longest_gap_since(watching_since);
    assert!(
        gap < Duration::from_millis(2500).max(source_gap + Duration::from_millis(1500)),
        "alpha's stream paused for {gap:?}, {at:?} after the switching began \
         (the hub's longest pause: {source_gap:?}); events: {events:?}"
    );
    assert!(
        venue.feed.is_alive(),
        "the encoder's publish to the hub was cut"
    );

    assert_logs_hold_no_key(setup(), "program/beta").await;
    assert_snapshot_has_no_key(&engine.snapshot());
    shut_down(engine, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_that_goes_away_is_pushed_to_again_when_it_returns() {
    setup();
    let mut venue = Venue::open();
    let path = venue.write_config();
    let (engine, task) = venue.start_onair(&path);
    wait_keyless(
        &engine,
        Duration::from_secs(30),
        "both destinations running",
        |s| common::is_running(s, "program/alpha") && common::is_running(s, "program/beta"),
    )
    .await;

    blocking(|| venue.platform.stop());
    let outage = Instant::now();
    // Both go to retrying, and their stderr tails show ffmpeg's complaint
    // about the destination URL, masked (every snapshot is checked for keys).
    let mut retried = [false, false];
    let mut complained = [false, false];
    let during_outage = wait_keyless(
        &engine,
        Duration::from_secs(20),
        "both destinations retrying",
        |s| {
            for (i, name) in ["program/alpha", "program/beta"].into_iter().enumerate() {
                retried[i] |= state(s, name) == "retrying";
                complained[i] |= s.stream(name).is_some()
                    && engine
                        .details(name)
                        .is_some_and(|d| d.stderr.iter().any(|l| l.contains("/live/****")));
            }
            retried == [true, true] && complained == [true, true]
        },
    )
    .await;
    // What the operator sees in the console meanwhile: every row selected
    // in turn, so the detail panes show each command, stderr and history.
    let screens = console_screens(&engine, &during_outage);
    assert!(
        screens.iter().any(|screen| screen.contains("/live/****")),
        "the console shows the masked destinations:\n{}",
        screens.join("\n")
    );
    for screen in &screens {
        assert_no_key(screen, "the console");
    }
    let down_for = Duration::from_secs(4);
    tokio::time::sleep(down_for.saturating_sub(outage.elapsed())).await;

    blocking(|| venue.platform.start_again());
    let back = Instant::now();
    // The pending retry fires within the backoff cap; then the relay
    // connects to the hub and probes the feed (a few seconds) before pushing.
    let limit = BACKOFF_CAP + Duration::from_secs(10);
    let snapshot = wait_keyless(&engine, limit, "both destinations running again", |s| {
        common::is_running(s, "program/alpha") && common::is_running(s, "program/beta")
    })
    .await;
    let took = back.elapsed();
    eprintln!("pushes back {took:?} after the platform returned");
    for name in ["program/alpha", "program/beta"] {
        let r = common::stream(&snapshot, name);
        assert!(r.restarts >= 1, "{name} counted no restart");
        let history = engine.details(name).map(|d| d.history).unwrap_or_default();
        assert!(
            history.iter().any(|h| h.text.starts_with("retrying")),
            "{name}'s history has no retrying: {history:?}"
        );
        let error = r.last_error.as_deref().unwrap_or_default();
        assert!(
            error.contains("/live/****"),
            "{name}'s last error names the masked destination: {error}"
        );
    }
    blocking(|| {
        assert_receives_program(&venue.platform.url(ALPHA_KEY), "alpha after the outage");
        assert_receives_program(&venue.platform.url(BETA_KEY), "beta after the outage");
    });
    assert!(
        venue.feed.is_alive(),
        "the encoder's publish to the hub was cut"
    );

    // The outage made ffmpeg print the destination URLs: masked in the logs too.
    assert_snapshot_has_no_key(&engine.snapshot());
    assert_logs_hold_no_key(setup(), "/live/****").await;
    shut_down(engine, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_waits_for_the_encoder_and_says_so() {
    setup();
    let dir = tempfile::tempdir().expect("temp dir");
    let hub = Nginx::start(dir.path(), "hub");
    let platform = Nginx::start(dir.path(), "platform");
    let path = dir.path().join("streams.toml");
    std::fs::write(
        &path,
        format!(
            "[[stream]]\nname = \"program\"\ninput = \"{}\"\naudio = \"copy\"\noutput = \"rtmp://127.0.0.1:{}/live/${{ONAIR_TEST_ALPHA_KEY}}\"\n",
            hub.url("program"),
            platform.port
        ),
    )
    .unwrap();
    let config = onair::config::load_file(&path).unwrap();
    let (engine, task) = Engine::start(config, EngineOptions::default()).unwrap();

    // Nothing is published yet: the row says why, and keeps retrying.
    let snapshot = wait_keyless(
        &engine,
        Duration::from_secs(15),
        "a retry that names the cause",
        |s| {
            state(s, "program") == "retrying"
                && common::stream(s, "program")
                    .last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("No such stream"))
        },
    )
    .await;
    let error = common::stream(&snapshot, "program")
        .last_error
        .clone()
        .unwrap();
    assert!(error.contains("is the encoder sending"), "{error}");

    // The encoder starts: the push follows by itself.
    let _feed = blocking(|| Feed::publish(&hub.url("program")));
    wait_keyless(
        &engine,
        BACKOFF_CAP + Duration::from_secs(10),
        "the push running",
        |s| common::is_running(s, "program"),
    )
    .await;
    blocking(|| assert_receives_program(&platform.url(ALPHA_KEY), "the platform"));
    shut_down(engine, task).await;
}

#[test]
fn a_literal_key_in_a_file_others_can_read_is_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    setup();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("streams.toml");
    let literal = "[[stream]]\nname = \"program\"\ninput = \"rtmp://127.0.0.1/live/program\"\noutputs = [\n  { name = \"youtube\", url = \"rtmp://a.rtmp.example/live2/abcd-efgh-ijkl\" },\n]\n";
    std::fs::write(&path, literal).unwrap();
    let check = |mode: u32| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_onair"))
            .arg("check")
            .arg(&path)
            .output()
            .expect("run onair check");
        assert!(
            out.status.success(),
            "a literal key is a warning, not an error"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let warned = check(0o644);
    assert!(
        warned.contains("warning")
            && warned.contains("program/youtube")
            && warned.contains("chmod 600"),
        "{warned}"
    );
    assert_eq!(check(0o600), "", "a file only its owner reads is fine");

    std::fs::write(
        &path,
        literal.replace("abcd-efgh-ijkl", "${ONAIR_TEST_ALPHA_KEY}"),
    )
    .unwrap();
    assert_eq!(check(0o644), "", "a key from ${{VAR}} is not in the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srt_destination_receives_mpegts_with_its_passphrase_hidden() {
    setup();
    let dir = tempfile::tempdir().expect("temp dir");
    let hub = Nginx::start(dir.path(), "hub");
    let _feed = Feed::publish(&hub.url("program"));
    let port = free_port();
    let received = dir.path().join("partner.ts");
    // The partner's SRT ingest: an FFmpeg listener that needs the passphrase.
    let _partner = rtmp_hub::Guarded::spawn(
        std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-i"])
            .arg(format!(
                "srt://127.0.0.1:{port}?mode=listener&passphrase={BETA_KEY}&pbkeylen=16"
            ))
            .args(["-c", "copy", "-f", "mpegts", "-y"])
            .arg(&received)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let path = dir.path().join("streams.toml");
    std::fs::write(
        &path,
        format!(
            "[[stream]]\nname = \"program\"\ninput = \"{}\"\naudio = \"copy\"\noutputs = [\n  {{ name = \"partner\", url = \"srt://127.0.0.1:{port}?passphrase=${{ONAIR_TEST_BETA_KEY}}&pbkeylen=16\" }},\n]\n",
            hub.url("program")
        ),
    )
    .unwrap();
    let config = onair::config::load_file(&path).unwrap();
    let (engine, task) = Engine::start(config, EngineOptions::default()).unwrap();
    let snapshot = wait_keyless(
        &engine,
        Duration::from_secs(30),
        "the SRT push running",
        |s| common::is_running(s, "program/partner"),
    )
    .await;
    let partner = common::stream(&snapshot, "program/partner");
    assert!(
        partner.command.contains("-f mpegts") && partner.output.ends_with("?****"),
        "SRT goes out as MPEG-TS with its query masked: {} -> {}",
        partner.command,
        partner.output
    );
    // Let a few seconds arrive, then read what the partner received.
    wait_keyless(
        &engine,
        Duration::from_secs(15),
        "two seconds pushed",
        |s| {
            s.stream("program/partner")
                .and_then(|r| r.frames)
                .is_some_and(|f| f >= 30)
        },
    )
    .await;
    shut_down(engine, task).await;
    let found = probe(&received.display().to_string(), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("the partner received nothing readable: {e}"));
    assert!(
        found.contains("codec_name=h264") && found.contains("codec_name=aac"),
        "{found}"
    );
}

/// The command line of each kind of destination, pinned: copy mode, the
/// muxer each protocol needs, nothing after the URL.
#[test]
fn each_kind_of_destination_gets_its_muxer_and_copies_the_video() {
    setup();
    let text = r#"
[[stream]]
name = "program"
input = "rtmp://127.0.0.1:1935/live/program"
audio = "copy"
outputs = [
  { name = "youtube", url = "rtmp://a.rtmp.example/live2/${ONAIR_TEST_ALPHA_KEY}" },
  { name = "facebook", url = "rtmps://live-api.example:443/rtmp/${ONAIR_TEST_BETA_KEY}", audio = "aac" },
  { name = "partner", url = "srt://ingest.example:9000?streamid=${ONAIR_TEST_BETA_KEY}", profile = "low-latency" },
]
"#;
    let config = onair::config::load_str(text, Path::new("/venue/streams.toml"), &|name| {
        std::env::var(name).ok()
    })
    .expect("valid");
    // The first destination also analyses the source: its analysis
    // outputs follow the push URL and are left out here.
    let args = |name: &str| {
        let mut argv = onair::ffmpeg::args(&config, config.stream(name).unwrap());
        if let Some(url) = argv.iter().rposition(|a| a.contains("://")) {
            argv.truncate(url + 1);
        }
        argv
    };
    let tail = |a: &[String], n: usize| a[a.len() - n..].join(" ");

    let youtube = args("program/youtube");
    assert_eq!(
        tail(&youtube, 9),
        format!(
            "-c:v copy -c:a copy -f flv -flvflags no_duration_filesize rtmp://a.rtmp.example/live2/{ALPHA_KEY}"
        )
    );
    let facebook = args("program/facebook");
    assert!(
        tail(&facebook, 13).starts_with("-c:v copy -c:a aac -b:a 128k -ar 48000 -f flv"),
        "{facebook:?}"
    );
    assert!(facebook.last().unwrap().starts_with("rtmps://"));
    let partner = args("program/partner");
    assert_eq!(
        tail(&partner, 5),
        format!("-c:a copy -f mpegts srt://ingest.example:9000?streamid={BETA_KEY}")
    );
    for a in [&youtube, &facebook, &partner] {
        assert!(
            !a.iter().any(|x| x == "-preset" || x == "-tune"),
            "no encoder option in copy mode: {a:?}"
        );
        let input = a.iter().position(|x| x == "-i").unwrap();
        assert!(a[..input].contains(&"-rtmp_live".to_string()));
    }
    // What the operator is shown hides every key.
    for spec in &config.streams {
        let shown =
            onair::ffmpeg::display_command(&onair::ffmpeg::command(&config, spec), &config.secrets);
        assert_no_key(&shown, "a shown command");
    }
}

// Write-back of a destination's toggle and profile: the operator's file keeps
// its shape, and the change lands in the destination's own entry.
const INLINE_OUTPUTS: &str = r#"[[stream]]
name = "program"
input = "rtmp://127.0.0.1/live/program"
outputs = [
  { name = "youtube", url = "rtmp://a.example/live2/${YT}" },
  { name = "twitch", url = "rtmp://b.example/app/${TW}", enabled = true }, # backup
]
"#;

#[test]
fn a_destination_toggle_is_written_into_its_inline_table_as_a_person_would() {
    let text = apply_change(INLINE_OUTPUTS, "program/youtube", &Change::Enabled(false)).unwrap();
    assert!(
        text.contains(
            r#"{ name = "youtube", url = "rtmp://a.example/live2/${YT}", enabled = false },"#
        ),
        "{text}"
    );
    let text = apply_change(&text, "program/twitch", &Change::Enabled(false)).unwrap();
    assert!(
        text.contains(
            r#"{ name = "twitch", url = "rtmp://b.example/app/${TW}", enabled = false }, # backup"#
        ),
        "{text}"
    );
}

#[test]
fn a_destination_profile_switch_is_appended_after_the_last_key() {
    let text = apply_change(
        INLINE_OUTPUTS,
        "program/twitch",
        &Change::Profile(Profile::LowLatency),
    )
    .unwrap();
    assert!(
        text.contains(r#"enabled = true, profile = "low-latency" }, # backup"#),
        "{text}"
    );
}

#[test]
fn a_destination_in_an_array_of_tables_is_changed_in_place() {
    let text = "[[stream]]\nname = \"program\"\ninput = \"rtmp://h/live/program\"\n\n[[stream.outputs]]\nname = \"youtube\"\nurl = \"rtmp://a/b/${K}\"\n";
    let text = apply_change(text, "program/youtube", &Change::Enabled(false)).unwrap();
    assert!(
        text.ends_with("url = \"rtmp://a/b/${K}\"\nenabled = false\n"),
        "{text}"
    );
}

#[test]
fn an_unknown_destination_is_an_error() {
    assert!(matches!(
        apply_change(INLINE_OUTPUTS, "program/facebook", &Change::Enabled(false)),
        Err(WriteBackError::NoSuchStream(_))
    ));
}
