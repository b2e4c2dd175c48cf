//! A real browser for the tests: headless Debian chromium driven over
//! WebDriver by chromedriver (fresh profile, no network beyond loopback),
//! and onair (engine and HTTP server) on a temp config for it to open.
//!
//! Without `chromium` and `chromium-driver` a test fails and says what to
//! install; it never passes silently.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use onair::engine::{Command, Engine, EngineOptions, EngineTask};
use onair::server::{self, Server};
use serde_json::json;
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

/// Starts chromedriver on a free port and a chromium session through it.
pub async fn open_browser() -> (Driver, Client) {
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

    /// Stops the server and the engine (every FFmpeg).
    pub async fn stop(self) {
        self.server.shutdown().await;
        self.engine.send(Command::Shutdown);
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task.wait()).await;
    }
}
