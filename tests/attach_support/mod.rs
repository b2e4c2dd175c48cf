//! Real engines and real consoles for the end-to-end tests of attaching.
//!
//! Every test gets its own socket directory (its `ONAIR_RUNTIME_DIR`), so
//! tests running in parallel, or another checkout's tests, never find each
//! other's engines; and a guard that stops whatever engine ran there when
//! the test ends, pass or fail, and waits until it is gone.
//!
//! A test using it declares `mod common;` too.
#![allow(dead_code)]

use crate::common::free_port;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a step may take on a loaded 2-core machine.
pub const STEP: Duration = Duration::from_secs(20);
/// How long streams may take to start there.
pub const START: Duration = Duration::from_secs(40);
/// How often a condition is looked at.
pub const POLL: Duration = Duration::from_millis(100);

/// A private socket directory (`ONAIR_RUNTIME_DIR`) inside a private temp
/// dir; dropping it stops every engine that runs there and waits for it to end.
pub struct Runtime {
    dir: tempfile::TempDir,
}

impl Runtime {
    pub fn new() -> Runtime {
        let dir = tempfile::Builder::new()
            .prefix("onair-rt-")
            .tempdir()
            .expect("runtime dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod runtime dir");
        Runtime { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The sockets' directory onair makes inside it (`ONAIR_RUNTIME_DIR`).
    pub fn sockets(&self) -> PathBuf {
        self.dir.path().join("onair")
    }

    /// `onair` with this runtime directory.
    pub fn onair(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_onair"));
        command.env("ONAIR_RUNTIME_DIR", self.sockets());
        command
    }

    /// A shell command line running `onair ARGS` with this runtime
    /// directory, then saying how it exited and staying (for tmux).
    pub fn console_line(&self, args: &str) -> String {
        format!(
            "ONAIR_RUNTIME_DIR='{}' '{}' {args}; echo \"onair exited with status $?\"; exec sleep 600",
            self.sockets().display(),
            env!("CARGO_BIN_EXE_onair"),
        )
    }

    /// The pids of the engines holding a lock here right now.
    pub fn engine_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.sockets()) else {
            return pids;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "lock") {
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            // A lock that can be shared is held by nobody: a dead engine's file.
            // SAFETY: flock on a descriptor this `File` owns.
            let free = unsafe {
                libc::flock(
                    std::os::fd::AsRawFd::as_raw_fd(&file),
                    libc::LOCK_SH | libc::LOCK_NB,
                )
            } == 0;
            if free {
                continue;
            }
            if let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| text.trim().parse().ok())
            {
                pids.push(pid);
            }
        }
        pids
    }

    /// The one engine running here; waits for it to hold its lock.
    pub fn engine_pid(&self) -> u32 {
        let deadline = Instant::now() + STEP;
        loop {
            if let [pid] = self.engine_pids()[..] {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no engine holds a lock in {:?}",
                self.sockets()
            );
            std::thread::sleep(POLL);
        }
    }

    /// The socket files here.
    pub fn socket_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.sockets())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sock"))
            .collect()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for pid in self.engine_pids() {
            signal(pid, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(15);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(pid) {
                signal(pid, libc::SIGKILL);
                while alive(pid) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
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

pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a pid the test found itself.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// A tmux server of its own, on a socket inside the test's directory (so
/// nothing else on the machine is touched), killed with every console in
/// it when the test ends, pass or fail.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    pub fn new(dir: &Path) -> Tmux {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Tmux {
            socket: dir.join(format!("tmux-{}-{nanos}.sock", std::process::id())),
        }
    }

    /// A new session `name` of `width`×`height` running `command`.
    pub fn open(&self, name: &str, width: u16, height: u16, command: &str) {
        let out = self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
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
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    pub fn screen(&self, name: &str) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn alternate_screen_on(&self, name: &str) -> bool {
        let out = self.run(&["display-message", "-p", "-t", name, "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    pub fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys {keys:?} failed");
    }

    /// Kills a session as an SSH drop would: its terminal goes away.
    pub fn kill_session(&self, name: &str) {
        let out = self.run(&["kill-session", "-t", name]);
        assert!(out.status.success(), "tmux kill-session failed");
    }

    /// Polls a session's screen until `check` accepts it; fails with the
    /// last screen if it never does.
    pub fn wait_for_screen(&self, name: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let screen = self.screen(name);
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen of {name}:\n{screen}"
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

/// The table row of a stream on screen (`▶ name ...` when selected).
pub fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|line| {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("▶") => words.next() == Some(name),
            first => first == Some(name) && line.starts_with("  "),
        }
    })
}

/// The pids of the FFmpeg processes writing each of `streams`' playlists
/// in `hls_dir`, read from the real process table.
pub fn ffmpeg_pids(hls_dir: &Path, streams: &[&str]) -> BTreeMap<String, Vec<u32>> {
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
        if !is_ffmpeg || !alive(pid) {
            continue;
        }
        for name in streams {
            let playlist = hls_dir.join(name).join("index.m3u8");
            if args.iter().any(|a| Path::new(a) == playlist) {
                found.entry(name.to_string()).or_default().push(pid);
            }
        }
    }
    found
}

/// One pid per stream: waits until every stream has at most one FFmpeg and
/// `check` accepts the set.
pub fn wait_for_pids(
    hls_dir: &Path,
    streams: &[&str],
    what: &str,
    deadline: Duration,
    check: impl Fn(&BTreeMap<String, u32>) -> bool,
) -> BTreeMap<String, u32> {
    let until = Instant::now() + deadline;
    loop {
        let all = ffmpeg_pids(hls_dir, streams);
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

/// Any process whose command line mentions `dir`, apart from the test's
/// own tmux server and the shells waiting in its panes.
pub fn processes_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let is_harness = text.starts_with("tmux ") || text.contains("onair exited with status");
        if text.contains(&needle) && !is_harness && alive(pid) {
            found.push(format!("{pid}: {text}"));
        }
    }
    found
}

/// Waits for a process to end.
pub fn wait_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + STEP;
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) is still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A config of lavfi streams (`name`, `profile`) on a free local port, in
/// `dir`; returns its path.
pub fn write_config(dir: &Path, streams: &[(&str, &str)]) -> PathBuf {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\nhls_dir = \"hls\"\n",
        free_port()
    );
    for (name, profile) in streams {
        text.push_str(&format!(
            "\n[[stream]]\nname = \"{name}\"\ninput = \"lavfi:testsrc2=size=320x180:rate=15\"\n\
             profile = \"{profile}\"\naudio = \"none\"\n"
        ));
    }
    let path = dir.join("streams.toml");
    std::fs::write(&path, text).expect("write streams.toml");
    path
}

/// A temp dir with its canonical path (what onair shows and runs FFmpeg with).
pub fn test_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().canonicalize().expect("canonical temp dir");
    (dir, path)
}
