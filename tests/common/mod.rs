//! Shared pieces of the end-to-end tests: real temp dirs, real FFmpeg, and
//! waiting for a condition with a deadline instead of sleeping and hoping.
#![allow(dead_code)]

mod net;

pub use net::free_port;

use onair::config::{self, Config};
use onair::engine::{Engine, EngineOptions, EngineTask, Snapshot, StreamSnapshot};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A small synthetic source: cheap enough to run several at once on 2 cores.
pub const LAVFI: &str =
    "lavfi:testsrc2=size=320x180:rate=15[out0];sine=frequency=440:sample_rate=48000[out1]";

/// A config file in its own temp dir, with `hls_dir` and `logs/` beside it.
pub struct TempConfig {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TempConfig {
    pub fn new(text: &str) -> TempConfig {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("streams.toml");
        std::fs::write(&path, text).expect("write config");
        TempConfig { dir, path }
    }

    pub fn load(&self) -> Config {
        config::load_file(&self.path).unwrap_or_else(|e| panic!("config should be valid: {e}"))
    }

    pub fn hls(&self, stream: &str) -> PathBuf {
        self.dir.path().join("hls").join(stream)
    }
}

/// A config text with the given `[[stream]]` blocks and a free local port.
pub fn config_text(streams: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\nstall_timeout = 4\n\n{streams}",
        free_port()
    )
}

/// A `[[stream]]` block of the small synthetic source.
pub fn lavfi_stream(name: &str, profile: &str, enabled: bool) -> String {
    format!(
        "[[stream]]\nname = \"{name}\"\ninput = \"{LAVFI}\"\nprofile = \"{profile}\"\nenabled = {enabled}\n\n"
    )
}

/// Starts an engine on the config (write-back on, as in production).
pub fn start(config: &TempConfig) -> (Engine, EngineTask) {
    Engine::start(config.load(), EngineOptions::default()).expect("engine starts")
}

/// Waits until `check` holds for a snapshot, or panics with the last one.
pub async fn wait_for(
    engine: &Engine,
    within: Duration,
    what: &str,
    mut check: impl FnMut(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let deadline = Instant::now() + within;
    let mut rx = engine.subscribe();
    loop {
        let snapshot = rx.borrow_and_update().clone();
        // seq 0 is the placeholder before the engine's first picture.
        if snapshot.seq > 0 && check(&snapshot) {
            return snapshot;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!(
                "timed out after {within:?} waiting for {what}; last snapshot:\n{}",
                describe(&snapshot)
            );
        }
        let _ = tokio::time::timeout(left, rx.changed()).await;
    }
}

/// Waits for a plain condition (files, processes), polling every 50 ms.
pub async fn wait_until(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        if Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn describe(snapshot: &Snapshot) -> String {
    snapshot
        .streams
        .iter()
        .map(|s| {
            format!(
                "{} {:?} pid={:?} restarts={} stalls={} err={:?}",
                s.name, s.state, s.pid, s.restarts, s.stalls, s.last_error
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn stream<'a>(snapshot: &'a Snapshot, name: &str) -> &'a StreamSnapshot {
    snapshot
        .stream(name)
        .unwrap_or_else(|| panic!("no stream {name} in snapshot"))
}

pub fn running_pid(snapshot: &Snapshot, name: &str) -> Option<u32> {
    snapshot
        .stream(name)
        .filter(|s| s.state.label() == "running")
        .and_then(|s| s.pid)
}

pub fn is_running(snapshot: &Snapshot, name: &str) -> bool {
    running_pid(snapshot, name).is_some()
}

/// True while a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

pub fn kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a PID the test read from the snapshot.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// A playlist that a player can use: complete, and every segment it lists exists.
pub fn playlist_is_live(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("index.m3u8")) else {
        return false;
    };
    let segments: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    text.starts_with("#EXTM3U")
        && !segments.is_empty()
        && segments.iter().all(|s| dir.join(s).exists())
}

/// Every PID of a process whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                let ppid = stat
                    .rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if ppid == Some(parent) {
                    found.push(pid);
                }
            }
        }
    }
    found
}

/// The children of `parent` that run a stream (an ingest or an output, or
/// the one FFmpeg of a stream without fallback): those report `-progress`,
/// unlike a passing ffprobe or slate encoder.
pub fn stream_ffmpegs_of(parent: u32) -> Vec<u32> {
    children_of(parent)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.split(|b| *b == 0).any(|arg| arg == b"-progress"))
                .unwrap_or(false)
        })
        .collect()
}
