//! Starting the engine in the background, for a console that found none.
//!
//! The engine is the same binary run as `onair --headless CONFIG`, in a
//! session of its own (`setsid`: the terminal's hang-up never reaches it),
//! with no terminal: stdin from `/dev/null`, stdout and stderr appended to
//! `logs/engine.log` beside the config. The console waits for its socket;
//! if the engine dies first, the console shows what it wrote, which is
//! exactly what `onair --headless` would have printed.

use super::client::{AttachError, Session};
use super::lock::{EngineLock, Holder};
use super::place::Place;
use super::protocol::Role;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The engine's output file, in the config's `logs/` directory.
pub const ENGINE_LOG: &str = "engine.log";

/// How long a starting engine may take to open its socket (loading the
/// config, checking FFmpeg, binding the HTTP port): generous, for a loaded
/// machine; a failure ends the wait at once.
const START_WITHIN: Duration = Duration::from_secs(30);

/// How often the socket is tried while the engine starts.
const POLL: Duration = Duration::from_millis(25);

/// Why no engine could be started and attached.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The engine process could not be run at all.
    #[error("cannot start the engine ({program} --headless): {source}")]
    Spawn {
        /// The program.
        program: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The engine ended before it was ready; `output` is what it printed,
    /// lines that already start with `onair: `.
    #[error("{output}")]
    Died {
        /// The engine's own words (its stderr), or its exit status.
        output: String,
    },
    /// The engine neither became ready nor died in time.
    #[error("the engine (pid {pid}) did not open its control socket within {START_WITHIN:?}; see {}", log.display())]
    Slow {
        /// The engine.
        pid: u32,
        /// Its output file.
        log: PathBuf,
    },
    /// The engine is up but refused this client, or the socket failed.
    #[error(transparent)]
    Attach(#[from] AttachError),
}

/// Where a detached engine's stdout and stderr go.
pub fn engine_log(config: &Path) -> PathBuf {
    config
        .parent()
        .unwrap_or(Path::new("."))
        .join("logs")
        .join(ENGINE_LOG)
}

/// Starts `onair --headless CONFIG` detached and attaches to it once its
/// socket answers. If another console started one meanwhile, attaches to
/// that one instead.
pub async fn start_and_attach(
    config: &Path,
    place: &Place,
    role: Role,
) -> Result<Session, LaunchError> {
    let config = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf());
    let (log, output) = open_log(&config, place);
    let from = output
        .as_ref()
        .and_then(|f| f.metadata().ok())
        .map(|m| m.len())
        .unwrap_or(0);
    let program = std::env::current_exe().map_err(|source| LaunchError::Spawn {
        program: "onair".into(),
        source,
    })?;
    let mut command = Command::new(&program);
    command
        .arg("--headless")
        .arg(&config)
        .current_dir("/")
        .stdin(Stdio::null());
    match &output {
        Some(file) => {
            let stdout = file.try_clone().map(Stdio::from).unwrap_or(Stdio::null());
            let stderr = file.try_clone().map(Stdio::from).unwrap_or(Stdio::null());
            command.stdout(stdout).stderr(stderr);
        }
        None => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    // SAFETY: setsid and close_range are async-signal-safe system calls.
    // setsid makes the engine the leader of a new session with no
    // controlling terminal, so no hang-up of this console's terminal ever
    // reaches it; close_range marks every inherited descriptor above stderr
    // close-on-exec, so the engine keeps no terminal or socket of whoever
    // ran the console (a kernel without it leaves them, which is harmless).
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let child = command.spawn().map_err(|source| LaunchError::Spawn {
        program: program.display().to_string(),
        source,
    })?;
    let pid = child.id();
    let ended = reap(child);
    let deadline = Instant::now() + START_WITHIN;
    loop {
        match Session::connect(place, role).await {
            Ok(session) => return Ok(session),
            Err(AttachError::NoEngine { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let status = *ended.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(status) = status {
            // Another console's engine may have won the race for the lock.
            if let Holder::Engine(_) = EngineLock::holder(place) {
                if Instant::now() < deadline {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            }
            return Err(LaunchError::Died {
                output: what_it_said(&log, from, status),
            });
        }
        if Instant::now() >= deadline {
            return Err(LaunchError::Slow { pid, log });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Opens the engine's output file for appending: `logs/engine.log` beside
/// the config, or the socket directory when that cannot be written.
fn open_log(config: &Path, place: &Place) -> (PathBuf, Option<File>) {
    let open = |path: &Path| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        OpenOptions::new().create(true).append(true).open(path)
    };
    let beside = engine_log(config);
    if let Ok(file) = open(&beside) {
        return (beside, Some(file));
    }
    let fallback = place.socket.with_extension("log");
    if place.prepare().is_ok() {
        if let Ok(file) = open(&fallback) {
            return (fallback, Some(file));
        }
    }
    (beside, None)
}

/// Waits for the engine in a thread of its own, so that an engine that
/// dies is reaped (no zombie) and its status is known.
fn reap(mut child: std::process::Child) -> Arc<Mutex<Option<ExitStatus>>> {
    let ended = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&ended);
    std::thread::spawn(move || {
        if let Ok(status) = child.wait() {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
        }
    });
    ended
}

/// What the engine wrote after `from`, or its exit status if nothing.
fn what_it_said(log: &Path, from: u64, status: ExitStatus) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(log) {
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    let text = text.trim_end();
    if text.is_empty() {
        format!(
            "the engine ended before it was ready ({status}); see {}",
            log.display()
        )
    } else {
        text.to_string()
    }
}
