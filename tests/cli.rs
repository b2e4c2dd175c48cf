//! The `onair` binary as an operator runs it: `check`, the engine in
//! headless mode, signals, and no FFmpeg left behind however onair ends.

mod attach_support;
mod common;

use attach_support::Runtime;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn onair() -> Command {
    Command::new(env!("CARGO_BIN_EXE_onair"))
}

#[test]
fn check_accepts_the_demo_file() {
    let out = onair()
        .args([
            "check",
            concat!(env!("CARGO_MANIFEST_DIR"), "/streams.toml"),
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (3 streams"));
}

#[test]
fn check_reports_every_problem_as_file_line_col_and_exits_1() {
    let config = TempConfig::new(
        "[[stream]]\nname = \"a\"\ninput = \"lavfi:testsrc2\"\nprofile = \"fastest\"\n\n[[stream]]\nname = \"a\"\ninput = \"lavfi:testsrc2\"\n",
    );
    let out = onair()
        .arg("check")
        .arg(&config.path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = config.path.display().to_string();
    assert!(
        stderr.contains(&format!("{file}:4:11: unknown profile `fastest`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:7:8: duplicate stream name `a`")),
        "{stderr}"
    );
}

#[test]
fn check_warns_when_a_literal_key_is_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let config = TempConfig::new(
        "[[stream]]\nname = \"a\"\ninput = \"lavfi:testsrc2\"\noutput = \"rtmp://live.example/app/plain-key\"\n",
    );
    std::fs::set_permissions(&config.path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = onair()
        .arg("check")
        .arg(&config.path)
        .output()
        .expect("run");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("readable by other users") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("plain-key"),
        "the warning must not print the key: {stderr}"
    );

    std::fs::set_permissions(&config.path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = onair()
        .arg("check")
        .arg(&config.path)
        .output()
        .expect("run");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("readable by other users"));
}

#[test]
fn a_broken_file_at_start_is_refused_with_its_place() {
    let runtime = Runtime::new();
    let config = TempConfig::new("[server]\nlisten = \"nowhere\"\n");
    let out = runtime
        .onair()
        .arg("--headless")
        .arg(&config.path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:10:", config.path.display())),
        "{stderr}"
    );
}

/// A headless onair whose stderr lines arrive on a channel, in a runtime
/// directory of its own.
struct Headless {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    _runtime: Runtime,
}

impl Headless {
    fn start(config: &TempConfig) -> Headless {
        let runtime = Runtime::new();
        let mut child = runtime
            .onair()
            .arg("--headless")
            .arg(&config.path)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn onair");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Headless {
            child,
            lines,
            seen: Vec::new(),
            _runtime: runtime,
        }
    }

    /// Waits for a line containing all `parts` (or finds it among those
    /// already read: streams come up in any order), returns it.
    fn expect_line(&mut self, within: Duration, parts: &[&str]) -> String {
        if let Some(line) = self
            .seen
            .iter()
            .find(|line| parts.iter().all(|p| line.contains(p)))
        {
            return line.clone();
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if parts.iter().all(|p| line.contains(p)) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {parts:?} within {within:?}; saw:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The PID of a stream's output FFmpeg once it runs.
    fn pid_of(&mut self, stream: &str) -> u32 {
        self.pid_from(&format!("{stream}: running: pid "))
    }

    /// The PID of a stream's ingest FFmpeg (the one reading the source).
    fn source_pid_of(&mut self, stream: &str) -> u32 {
        self.pid_from(&format!("{stream}: source running: pid "))
    }

    /// Every FFmpeg of the two-stream config: each stream's ingest and output.
    fn every_ffmpeg(&mut self) -> Vec<u32> {
        let mut pids = Vec::new();
        for stream in ["one", "two"] {
            pids.push(self.pid_of(stream));
            pids.push(self.source_pid_of(stream));
        }
        pids.sort();
        pids
    }

    fn pid_from(&mut self, text: &str) -> u32 {
        let line = match self.seen.iter().find(|l| l.contains(text)) {
            Some(line) => line.clone(),
            None => self.expect_line(Duration::from_secs(15), &[text]),
        };
        line.rsplit("pid ")
            .next()
            .and_then(|p| p.trim().parse().ok())
            .expect("pid")
    }
}

impl Drop for Headless {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn two_stream_config() -> TempConfig {
    TempConfig::new(&config_text(&format!(
        "{}{}",
        lavfi_stream("one", "low-latency", true),
        lavfi_stream("two", "stable", true)
    )))
}

#[test]
fn sigterm_stops_every_ffmpeg_gracefully_and_exits_0() {
    let config = two_stream_config();
    let mut onair = Headless::start(&config);
    let pids = onair.every_ffmpeg();
    kill(onair.child.id(), libc::SIGTERM);
    onair.expect_line(Duration::from_secs(15), &["all ffmpeg processes stopped"]);
    let status = onair.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    let finished = onair
        .seen
        .iter()
        .filter(|l| l.contains("ffmpeg finished its output and exited"))
        .count();
    assert_eq!(finished, pids.len(), "{}", onair.seen.join("\n"));
    for pid in pids {
        assert!(!alive(pid), "ffmpeg {pid} outlived onair");
    }
}

#[test]
fn kill_9_of_onair_leaves_no_ffmpeg_behind() {
    let config = two_stream_config();
    let mut onair = Headless::start(&config);
    let streams = onair.every_ffmpeg();
    // Every stream's FFmpeg is a direct child of onair; so is an ffprobe or
    // a slate encoder that may be running right now, and they must go too.
    let pids = children_of(onair.child.id());
    for pid in &streams {
        assert!(
            pids.contains(pid),
            "ffmpeg {pid} is not a child of onair: {pids:?}"
        );
    }
    kill(onair.child.id(), libc::SIGKILL);
    let _ = onair.child.wait();
    let deadline = Instant::now() + Duration::from_secs(3);
    while pids.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < deadline, "orphaned ffmpeg: {pids:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_reloads_the_file() {
    let config = two_stream_config();
    let mut onair = Headless::start(&config);
    onair.pid_of("one");
    // The file is untouched, so only the signal can cause this reload.
    kill(onair.child.id(), libc::SIGHUP);
    onair.expect_line(
        Duration::from_secs(5),
        &["streams.toml reloaded: no change"],
    );
}

#[test]
fn a_console_without_a_terminal_says_so_and_starts_no_engine() {
    let runtime = Runtime::new();
    let config = two_stream_config();
    let out = runtime.onair().arg(&config.path).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the console needs a terminal"), "{stderr}");
    assert!(runtime.engine_pids().is_empty(), "an engine was started");
    assert!(
        !config.dir.path().join("hls").exists(),
        "something was started: hls/ exists"
    );
}
