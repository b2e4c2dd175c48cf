//! End to end: the real `onair` binary in a real terminal (tmux), driven by
//! key presses, checked on screen and in the process table.
//!
//! The story: an operator with three streams on air stops one, starts it
//! again, switches its profile and quits. Each step must touch that
//! stream's FFmpeg only, and quitting must leave no FFmpeg behind.

mod common;

use common::free_port;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const STREAMS: [&str; 3] = ["cam1", "cam2", "cam3"];
const START_DEADLINE: Duration = Duration::from_secs(40);
const STEP_DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// A tmux server of its own, on a socket inside the test's directory (so
/// nothing else on the machine is touched and nothing is left behind),
/// killed with everything in it when the test ends, pass or fail.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, width: u16, height: u16, command: &str) -> Tmux {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmux = Tmux {
            socket: dir.join(format!("tmux-{}-{nanos}.sock", std::process::id())),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "console",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed (is tmux installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "console"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alternate_screen_on(&self) -> bool {
        let out = self.run(&["display-message", "-p", "-t", "console", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "console"];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys {keys:?} failed");
    }

    /// Polls the screen until `check` accepts it; fails with the last
    /// screen if it never does.
    fn wait_for_screen(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The PIDs of the FFmpeg processes writing each stream's HLS playlist in
/// `hls_dir`, read from the real process table.
fn ffmpeg_pids(hls_dir: &Path) -> BTreeMap<String, Vec<u32>> {
    let mut found: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_ffmpeg = args
            .first()
            .and_then(|a| Path::new(a).file_name())
            .is_some_and(|name| name == "ffmpeg");
        if !is_ffmpeg {
            continue;
        }
        for name in STREAMS {
            let playlist = hls_dir.join(name).join("index.m3u8");
            if args.iter().any(|a| Path::new(a) == playlist) {
                found.entry(name.to_string()).or_default().push(pid);
            }
        }
    }
    found
}

/// Any process whose command line mentions the test's directory, apart
/// from the test's own tmux server and the shell waiting in its pane.
fn processes_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let is_harness = text.starts_with("tmux ") || text.contains("onair exited with status");
        if text.contains(&needle) && !is_harness {
            found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// One PID per stream: waits until every listed stream has exactly one
/// FFmpeg and `check` accepts the set.
fn wait_for_pids(
    hls_dir: &Path,
    what: &str,
    deadline: Duration,
    check: impl Fn(&BTreeMap<String, u32>) -> bool,
) -> BTreeMap<String, u32> {
    let until = Instant::now() + deadline;
    loop {
        let all = ffmpeg_pids(hls_dir);
        let single: BTreeMap<String, u32> = all
            .iter()
            .filter(|(_, pids)| pids.len() == 1)
            .map(|(name, pids)| (name.clone(), pids[0]))
            .collect();
        let no_duplicates = all.values().all(|pids| pids.len() == 1);
        if no_duplicates && check(&single) {
            return single;
        }
        assert!(
            Instant::now() < until,
            "timed out waiting for {what}; ffmpeg processes: {all:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// The table row of a stream on screen (`▶ name ...` when selected).
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|line| {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("▶") => words.next() == Some(name),
            first => first == Some(name) && line.starts_with("  "),
        }
    })
}

fn write_config(dir: &Path) -> PathBuf {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\nhls_dir = \"hls\"\n",
        free_port()
    );
    for name in STREAMS {
        text.push_str(&format!(
            "\n[[stream]]\nname = \"{name}\"\ninput = \"lavfi:testsrc2=size=320x180:rate=15\"\n\
             profile = \"low-latency\"\naudio = \"none\"\n"
        ));
    }
    let path = dir.join("streams.toml");
    std::fs::write(&path, text).expect("write streams.toml");
    path
}

#[test]
fn operator_stops_starts_and_switches_one_stream_then_quits_leaving_no_ffmpeg() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_path = dir.path().canonicalize().expect("canonical temp dir");
    let config = write_config(&dir_path);
    let hls_dir = dir_path.join("hls");
    let command = format!(
        "'{}' '{}'; echo \"onair exited with status $?\"; exec sleep 600",
        env!("CARGO_BIN_EXE_onair"),
        config.display()
    );
    let tmux = Tmux::start(&dir_path, 120, 40, &command);

    // All three on air, the first one selected.
    let before = wait_for_pids(&hls_dir, "three ffmpeg", START_DEADLINE, |pids| {
        pids.len() == 3
    });
    tmux.wait_for_screen("three running streams", |screen| {
        STREAMS
            .iter()
            .all(|name| row(screen, name).is_some_and(|r| r.contains("running")))
    });
    assert!(
        tmux.alternate_screen_on(),
        "the console uses the alternate screen"
    );
    let screen = tmux.screen();
    assert!(
        row(&screen, "cam1").is_some_and(|r| r.starts_with('▶')),
        "first stream selected at start:\n{screen}"
    );

    // Shrink to 80x24: columns drop, every row stays one line.
    let out = tmux.run(&["resize-window", "-t", "console", "-x", "80", "-y", "24"]);
    assert!(out.status.success(), "tmux resize-window failed");
    let screen = tmux.wait_for_screen("the 80-column layout", |s| {
        s.lines()
            .any(|l| l.contains("STREAM") && !l.contains("OUTPUT"))
            && STREAMS.iter().all(|name| row(s, name).is_some())
    });
    assert!(
        screen.lines().all(|l| l.chars().count() <= 80),
        "a line is wider than the terminal:\n{screen}"
    );

    // Stop cam2: select it, Enter, answer y.
    tmux.keys(&["j"]);
    tmux.wait_for_screen("cam2 selected", |s| {
        row(s, "cam2").is_some_and(|r| r.starts_with('▶'))
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for_screen("the stop question", |s| s.contains("Stop cam2?"));
    assert_eq!(
        ffmpeg_pids(&hls_dir).get("cam2"),
        Some(&vec![before["cam2"]]),
        "nothing stops before the answer"
    );
    tmux.keys(&["y"]);
    let stopped = wait_for_pids(&hls_dir, "cam2 to stop", STEP_DEADLINE, |pids| {
        !pids.contains_key("cam2")
    });
    assert_eq!(stopped.get("cam1"), Some(&before["cam1"]), "cam1 untouched");
    assert_eq!(stopped.get("cam3"), Some(&before["cam3"]), "cam3 untouched");
    tmux.wait_for_screen("cam2 stopped on screen", |s| {
        row(s, "cam2").is_some_and(|r| r.contains("stopped"))
    });

    // Start it again: Enter on a stopped stream asks nothing.
    tmux.keys(&["Enter"]);
    let restarted = wait_for_pids(&hls_dir, "cam2 to start", STEP_DEADLINE, |pids| {
        pids.get("cam2").is_some_and(|pid| *pid != before["cam2"])
    });
    assert_eq!(
        restarted.get("cam1"),
        Some(&before["cam1"]),
        "cam1 untouched"
    );
    assert_eq!(
        restarted.get("cam3"),
        Some(&before["cam3"]),
        "cam3 untouched"
    );
    tmux.wait_for_screen("cam2 running again", |s| {
        row(s, "cam2").is_some_and(|r| r.contains("running"))
    });

    // Switch its profile: only cam2's FFmpeg is replaced.
    tmux.keys(&["p"]);
    let switched = wait_for_pids(
        &hls_dir,
        "cam2 to restart on the stable profile",
        STEP_DEADLINE,
        |pids| {
            pids.get("cam2")
                .is_some_and(|pid| *pid != restarted["cam2"] && *pid != before["cam2"])
        },
    );
    assert_eq!(
        switched.get("cam1"),
        Some(&before["cam1"]),
        "cam1 untouched"
    );
    assert_eq!(
        switched.get("cam3"),
        Some(&before["cam3"]),
        "cam3 untouched"
    );
    tmux.wait_for_screen("cam2 on the stable profile", |s| {
        row(s, "cam2").is_some_and(|r| r.contains("stable") && r.contains("running"))
            && row(s, "cam1").is_some_and(|r| r.contains("low-lat"))
    });

    // Quit: the question says how many streams stop; y ends onair.
    tmux.keys(&["q"]);
    tmux.wait_for_screen("the quit question", |s| {
        s.contains("Quit onair?") && s.contains("3 streams are live and will stop.")
    });
    assert_eq!(
        ffmpeg_pids(&hls_dir).len(),
        3,
        "nothing stops before the answer"
    );
    tmux.keys(&["y"]);
    let screen = tmux.wait_for_screen("onair to exit", |s| s.contains("onair exited with status"));
    assert!(
        screen.contains("onair exited with status 0"),
        "onair failed on quit:\n{screen}"
    );
    assert!(
        !tmux.alternate_screen_on(),
        "the terminal is restored after quit"
    );
    let left = ffmpeg_pids(&hls_dir);
    assert!(left.is_empty(), "ffmpeg still running after quit: {left:?}");
    let leftovers = processes_mentioning(&dir_path);
    assert!(leftovers.is_empty(), "processes left behind: {leftovers:?}");
}
