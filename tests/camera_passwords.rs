//! A camera's password, followed through everything a real engine
//! (`onair --headless`) writes or serves while one stream has it right and
//! another has it wrong: the log file, the engine's own output, the
//! unscoped `/events` feed and `onair status`. The right one plays on a
//! real screen; the wrong one says why it does not.

mod attach_support;
#[path = "support/chromium.rs"]
mod chromium;
mod common;
#[path = "support/rtsp_camera.rs"]
mod rtsp_camera;

use attach_support::Runtime;
use chromium::open_browser;
use rtsp_camera::{Auth, Camera, Settings};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const RIGHT: &str = "Corr3ctHorse";
const WRONG: &str = "Wr0ngStaple";
/// What the operator reads for a refused password.
const REFUSED: &str = "refused the user name or password";

/// The engine started by the test; stopped and reaped when dropped.
struct Headless(Child);

impl Drop for Headless {
    fn drop(&mut self) {
        attach_support::signal(self.0.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `onair status ARGS CONFIG`: exit code and stdout.
fn status(runtime: &Runtime, args: &[&str], config: &Path) -> (Option<i32>, String) {
    let out = runtime
        .onair()
        .arg("status")
        .args(args)
        .arg(config)
        .output()
        .expect("onair status");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Polls `onair status ARGS` until `check` accepts its output.
fn wait_status(
    runtime: &Runtime,
    args: &[&str],
    config: &Path,
    what: &str,
    check: impl Fn(Option<i32>, &str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (code, text) = status(runtime, args, config);
        if check(code, &text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status ({code:?}):\n{text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Reads the unscoped `/events` feed until `check` accepts what came.
fn read_events(url: &str, check: impl Fn(&str) -> bool) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut response = agent.get(url).call().expect("GET /events");
    let mut reader = response.body_mut().as_reader();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = reader.read(&mut chunk).expect("read /events");
        assert!(n > 0, "/events ended: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&seen);
        if check(&text) {
            return text.into_owned();
        }
    }
}

/// Everything under `dir/logs`, joined.
fn log_files(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir.join("logs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_password_never_shows_in_the_log_events_or_status_and_the_right_one_plays() {
    let camera = Camera::start(Settings {
        auth: Auth::Digest {
            user: "viewer".into(),
            password: RIGHT.into(),
        },
        audio: false,
        // Keyframes that suit low-latency segments: copied, no restart.
        keyframe: 0.5,
        ..Settings::default()
    });
    let runtime = Runtime::new();
    let dir = tempfile::tempdir().expect("dir");
    let port = common::free_port();
    let config = dir.path().join("streams.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [[stream]]\nname = \"door\"\ninput = \"{}\"\n\n\
             [[stream]]\nname = \"gate\"\ninput = \"{}\"\n\n\
             [[screen]]\nname = \"lobby\"\nstream = \"door\"\n",
            camera.url_with("viewer", RIGHT),
            camera.url_with("viewer", WRONG),
        ),
    )
    .expect("write streams.toml");
    let stderr = dir.path().join("engine.stderr");
    let engine = Headless(
        runtime
            .onair()
            .arg("--headless")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn the engine"),
    );

    // The status says which runs and why the other does not, masked.
    let streams = tokio::task::block_in_place(|| {
        wait_status(
            &runtime,
            &[],
            &config,
            "door running, gate refused",
            |_, text| {
                let line = |name: &str| text.lines().find(|l| l.starts_with(name)).unwrap_or("");
                line("door ").contains(" running ") && line("gate ").contains(REFUSED)
            },
        )
    });
    assert!(streams.contains("rtsp://****@127.0.0.1"), "{streams}");
    assert_eq!(
        streams.lines().count(),
        2,
        "one line per stream:\n{streams}"
    );

    // The right password plays on a screen, which the screens' status shows.
    let (driver, client) = open_browser().await;
    client
        .goto(&format!("http://127.0.0.1:{port}/screen/lobby"))
        .await
        .expect("open the screen");
    let screens = tokio::task::block_in_place(|| {
        wait_status(
            &runtime,
            &["--screens"],
            &config,
            "the lobby screen playing",
            |code, text| {
                code == Some(0)
                    && text.lines().any(|l| {
                        l.starts_with("lobby ") && l.contains(" door ") && l.contains(" playing")
                    })
            },
        )
    });
    let _ = client.close().await;
    drop(driver);

    // The LAN-facing feed of every snapshot (open to operator addresses).
    let events = tokio::task::block_in_place(|| {
        read_events(&format!("http://127.0.0.1:{port}/events"), |text| {
            text.contains(REFUSED)
        })
    });
    assert!(events.contains("rtsp://****@127.0.0.1"), "{events}");

    // The log file, once FFmpeg's refusal reached it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log_files(dir.path()).contains("401 Unauthorized") {
        assert!(
            Instant::now() < deadline,
            "no 401 in the log file:\n{}",
            log_files(dir.path())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = log_files(dir.path());
    assert!(log.contains("rtsp://****@127.0.0.1"), "{log}");

    drop(engine);
    let everything = [
        ("status", streams),
        ("status --screens", screens),
        ("/events", events),
        ("the log file", log),
        (
            "the engine's stderr",
            std::fs::read_to_string(&stderr).expect("stderr"),
        ),
    ];
    for (place, text) in &everything {
        for password in [RIGHT, WRONG] {
            assert!(!text.contains(password), "a password in {place}:\n{text}");
        }
    }
}
