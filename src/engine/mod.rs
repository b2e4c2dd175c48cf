//! The engine: owns every stream's FFmpeg, keeps it alive, and publishes
//! snapshots. UIs send [`Command`]s in and read [`Snapshot`]s out; none of
//! them ever holds a process handle.

mod alarms;
mod audience;
mod child;
mod collector;
mod compose;
mod conductor;
mod content;
mod groups;
mod journal;
mod launch;
mod on_alarm;
mod pending;
mod relayed;
mod role;
mod roster;
mod screens;
mod slate;
mod snapshot;
mod source;
mod stats;
mod stream;
mod watchdog;

pub use child::{QUIT_GRACE, TERM_GRACE};
pub use screens::{
    CANNOT_PLAY_GRACE_MILLIS, MAX_SCREENS, MAX_SCREENS_PER_ADDRESS, ReportRefused,
    SCREEN_TIMEOUT_MILLIS, ScreenBoard, ScreenNews, ScreenReport, ScreenState,
};
pub use snapshot::*;

use crate::config::{Config, Profile};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// An operator's intent. Every UI (console, headless, HTTP, a remote
/// console) speaks only in these, so they all behave the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Enable a stream and start it (written back to `streams.toml`).
    Start {
        /// Stream name.
        stream: String,
    },
    /// Stop a stream and disable it (written back to `streams.toml`).
    Stop {
        /// Stream name.
        stream: String,
    },
    /// Restart a stream's FFmpeg now (also gets a failed stream going again).
    Restart {
        /// Stream name.
        stream: String,
    },
    /// Switch a stream's profile; restarts that stream only (written back).
    SetProfile {
        /// Stream name.
        stream: String,
        /// The new profile.
        profile: Profile,
    },
    /// Put a stream's slate on the air by hand, for a break (`on`), or take
    /// it off again (live comes back at its next keyframe). Streams with
    /// `fallback` only; the whole stream, every destination at once.
    Bumper {
        /// Stream name (or one of its destinations' row names).
        stream: String,
        /// True: the slate; false: back to live.
        on: bool,
    },
    /// Re-read `streams.toml` now and apply what changed.
    Reload,
    /// Stop every FFmpeg gracefully and end the engine.
    Shutdown,
}

/// How the engine behaves beyond what `streams.toml` says.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Write toggles and profile switches back into `streams.toml`, so they
    /// survive a restart of onair.
    pub write_back: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { write_back: true }
    }
}

/// Timings of the supervisor that an operator has no reason to change.
/// Tests shorten them to reach, in seconds, paths that take minutes.
#[derive(Debug, Clone)]
pub struct Timings {
    /// How long a run must make progress for its stream's restart delay to
    /// start again from 0.5 s (60 s).
    pub healthy_reset: std::time::Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            healthy_reset: stream::HEALTHY_RESET,
        }
    }
}

/// Why the engine cannot start; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The FFmpeg binary is not there.
    #[error(
        "ffmpeg not found (`{0}`): install it (`apt-get install ffmpeg`) or set [server].ffmpeg in streams.toml"
    )]
    FfmpegMissing(String),
    /// The HLS directory cannot be written.
    #[error("cannot write to hls_dir {}: {source} — set [server].hls_dir to a writable directory or fix its permissions", dir.display())]
    HlsDirUnwritable {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The process-spawning thread could not be started.
    #[error("cannot start the process spawner: {0}")]
    Spawner(std::io::Error),
}

/// A handle on the running engine; cheap to clone, one per UI.
#[derive(Clone)]
pub struct Engine {
    commands: mpsc::UnboundedSender<Command>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    config: watch::Receiver<Arc<Config>>,
    journal: journal::Journal,
    roster: roster::Roster,
    screens: Arc<screens::ScreenDesk>,
}

/// The engine's task; await it after [`Command::Shutdown`] to know that
/// every FFmpeg has stopped.
pub struct EngineTask(JoinHandle<()>);

impl EngineTask {
    /// Waits until the engine has stopped every stream and ended.
    pub async fn wait(self) {
        let _ = self.0.await;
    }
}

impl Engine {
    /// Checks that FFmpeg exists and `hls_dir` is writable, then starts
    /// every enabled stream. Must be called inside a tokio runtime.
    pub fn start(
        config: Config,
        options: EngineOptions,
    ) -> Result<(Engine, EngineTask), EngineError> {
        Engine::start_with(config, options, Timings::default())
    }

    /// [`Engine::start`] with other supervisor timings.
    pub fn start_with(
        config: Config,
        options: EngineOptions,
        timings: Timings,
    ) -> Result<(Engine, EngineTask), EngineError> {
        preflight(&config)?;
        let spawner = child::Spawner::new().map_err(EngineError::Spawner)?;
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
        let (config_tx, config_rx) = watch::channel(Arc::new(config.clone()));
        let conductor =
            conductor::Conductor::new(config, options, timings, spawner, config_tx, snapshot_tx);
        let journal = conductor.journal();
        let roster = conductor.roster();
        let screens = conductor.screen_desk();
        let task = tokio::spawn(conductor.run(command_rx));
        Ok((
            Engine {
                commands: command_tx,
                snapshots: snapshot_rx,
                config: config_rx,
                journal,
                roster,
                screens,
            },
            EngineTask(task),
        ))
    }

    /// Sends a command; never blocks. After shutdown it is ignored.
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }

    /// A receiver that wakes on every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshots.borrow())
    }

    /// The engine log's entries newer than `seq` (every kept entry for 0),
    /// oldest first. Snapshots carry the newest number as `log_seq`.
    pub fn log_since(&self, seq: u64) -> Vec<LogEntry> {
        self.journal.since(seq)
    }

    /// One stream's stderr tail and state history, as they are now. A UI
    /// that shows them asks again when the stream's `details_seq` changes.
    pub fn details(&self, stream: &str) -> Option<StreamDetails> {
        self.roster.details(stream)
    }

    /// The running config (after the last valid reload and key changes).
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.borrow())
    }

    /// Takes what a screen page says it shows. The HTTP server validates,
    /// bounds and rate-limits reports first; the report only ever changes
    /// the entry of the same page (address and id).
    pub fn report_screen(&self, report: ScreenReport) -> Result<(), ReportRefused> {
        let snapshot = self.snapshot();
        self.screens.report(report, &snapshot.streams, now_millis())
    }

    /// A screen page said it is closing: its report goes at once.
    pub fn screen_closed(&self, address: &str, id: &str) {
        self.screens.closed(address, id);
    }

    /// A receiver that wakes when the running config changes.
    pub fn subscribe_config(&self) -> watch::Receiver<Arc<Config>> {
        self.config.clone()
    }
}

/// The checks that turn a mistake into one clear message at start instead
/// of every stream failing on its own.
pub fn preflight(config: &Config) -> Result<(), EngineError> {
    if find_program(&config.server.ffmpeg).is_none() {
        return Err(EngineError::FfmpegMissing(
            config.server.ffmpeg.display().to_string(),
        ));
    }
    let dir = &config.server.hls_dir;
    let unwritable = |source| EngineError::HlsDirUnwritable {
        dir: dir.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    let probe = dir.join(".onair-write-test");
    std::fs::write(&probe, b"ok").map_err(unwritable)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

impl EngineError {
    /// Where in the file the value at fault was written, if it was.
    pub fn place(&self, config: &Config) -> Option<crate::config::Place> {
        match self {
            EngineError::FfmpegMissing(_) => config.server.ffmpeg_at,
            EngineError::HlsDirUnwritable { .. } => config.server.hls_dir_at,
            EngineError::Spawner(_) => None,
        }
    }
}

/// Resolves a program like the shell would: a path as is, a bare name in `PATH`.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.components().count() > 1 || program.is_absolute() {
        return executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}
