//! A headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`), for tests where a real screen must keep playing.
//! Everything it starts is in one process group, killed when dropped.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// chromedriver and the chromium it starts.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    /// The WebDriver session.
    pub client: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this module created.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find_map(|p| onair::engine::find_program(&p))
}

impl Browser {
    /// Starts chromedriver on a free port and a headless chromium session.
    pub async fn open(port: u16) -> Browser {
        let chromium =
            find(&["chromium", "chromium-browser", "google-chrome"]).unwrap_or_else(|| {
                panic!("chromium is not installed: `apt-get install chromium chromium-driver`")
            });
        let chromedriver = find(&["chromedriver"]).unwrap_or_else(|| {
            panic!("chromedriver is not installed: `apt-get install chromium-driver`")
        });
        let child = std::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().expect("profile dir");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-dev-shm-usage",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=640,360",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium.display().to_string(), "args": args }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let url = format!("http://127.0.0.1:{port}");
        let client = tokio::time::timeout(Duration::from_secs(60), builder.connect(&url))
            .await
            .expect("a chromium session within 60 s")
            .unwrap_or_else(|e| panic!("cannot open a chromium session: {e}"));
        Browser {
            child,
            _profile: profile,
            client,
        }
    }

    /// The player's state (`window.onair.state`) and the video's current
    /// time and paused flag.
    pub async fn player(&self) -> Value {
        const SCRIPT: &str = r#"
            const o = window.onair || {};
            const v = document.getElementById('onair-video');
            return { state: o.state || null, time: v ? v.currentTime : null, paused: v ? v.paused : null,
                     fatal: o.lastFatal || null };
        "#;
        self.client
            .execute(SCRIPT, vec![])
            .await
            .unwrap_or_else(|e| panic!("cannot read the player's state: {e}"))
    }
}
