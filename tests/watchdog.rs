//! The stall watchdog and the content alarms when onair itself is the one
//! that stopped: the real `onair --headless` binary, paused with `SIGSTOP`
//! for longer than the stream's `stall_timeout` (or `silent_after`), must
//! not take its healthy FFmpeg for stalled (or its sound for silence).

mod common;

use common::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `onair --headless` on a config; killed (and its FFmpeg with it) on drop.
struct Onair {
    child: Child,
    port: u16,
}

impl Onair {
    fn start(config: &TempConfig, port: u16) -> Onair {
        Onair::start_logging(config, port, Stdio::null())
    }

    /// With its log lines (stderr) going to `log`.
    fn start_logging(config: &TempConfig, port: u16, log: impl Into<Stdio>) -> Onair {
        let child = Command::new(env!("CARGO_BIN_EXE_onair"))
            .arg("--headless")
            .arg(&config.path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn onair");
        Onair { child, port }
    }

    /// The row of a stream in `/api/streams`, if onair answers.
    fn row(&self, name: &str) -> Option<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let body = agent
            .get(&format!("http://127.0.0.1:{}/api/streams", self.port))
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        let snapshot: Value = serde_json::from_str(&body).ok()?;
        snapshot["streams"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
    }

    /// Polls the row until `check` accepts it.
    fn wait_row(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let row = self.row(name);
            if let Some(row) = row.as_ref().filter(|r| check(r)) {
                return row.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last row: {row:#?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Onair {
    fn drop(&mut self) {
        kill(self.child.id(), libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn progress_written_while_onair_was_paused_counts_before_a_stall() {
    let port = free_port();
    let config = TempConfig::new(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nstall_timeout = 2\n\n{}",
        lavfi_stream("cam", "low-latency", true)
    ));
    let onair = Onair::start(&config, port);
    let running = onair.wait_row("cam", "cam running", |r| {
        r["state"] == "running" && r["frames"].as_u64().unwrap_or(0) > 0
    });
    let pid = running["pid"].as_u64().expect("pid");
    let frames = running["frames"].as_u64().unwrap_or(0);

    // The engine is paused well past stall_timeout; FFmpeg goes on writing.
    kill(onair.child.id(), libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(5));
    kill(onair.child.id(), libc::SIGCONT);

    // Once onair reads progress again, the watchdog has already decided.
    let after = onair.wait_row("cam", "progress after the pause", |r| {
        r["frames"].as_u64().unwrap_or(0) > frames + 15 * 5
    });
    assert_eq!(
        after["stalls"], 0,
        "a healthy ffmpeg was taken for stalled: {after:#}"
    );
    assert_eq!(after["pid"].as_u64(), Some(pid), "{after:#}");
    assert_eq!(after["state"], "running", "{after:#}");
}

#[test]
fn sound_measured_while_onair_was_paused_counts_before_a_silent_alarm() {
    let port = free_port();
    let config = TempConfig::new(&format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nsilent_after = 2\n\n{}",
        lavfi_stream("cam", "stable", true)
    ));
    let log_path = config.dir.path().join("headless.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut onair = Onair::start_logging(&config, port, log);
    let running = onair.wait_row("cam", "cam running with levels", |r| {
        r["state"] == "running" && r["audio"]["channels"][0]["peak_dbfs"].is_number()
    });
    let frames = running["frames"].as_u64().unwrap_or(0);

    // Paused well past silent_after; FFmpeg goes on measuring a steady tone.
    kill(onair.child.id(), libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(5));
    kill(onair.child.id(), libc::SIGCONT);
    onair.wait_row("cam", "progress after the pause", |r| {
        r["frames"].as_u64().unwrap_or(0) > frames + 15 * 5
    });

    // Every log line is out once onair has ended.
    kill(onair.child.id(), libc::SIGTERM);
    let status = onair.child.wait().expect("onair ends");
    assert!(status.success(), "onair exited with {status}");
    let log = std::fs::read_to_string(&log_path).expect("read log");
    assert!(
        log.contains("cam: running"),
        "the log has the stream's lines:\n{log}"
    );
    assert!(
        !log.contains("cam: silent"),
        "a steady tone was taken for silence while onair was paused:\n{log}"
    );
}
