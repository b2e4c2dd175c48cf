//! What the engine tells every UI: a complete, serialisable picture of all
//! streams, published on a `watch` channel. UIs draw it; they never reach
//! into processes, so the console, headless mode, the HTTP API and a future
//! remote console all see exactly the same thing.

pub use super::audience::{
    Alarm, AlarmKind, AudioLevels, ChannelLevel, SILENCE_FLOOR_DBFS, Thumbnail,
};
use super::screens::ScreenReport;
use crate::config::{OutputKind, Profile, ScreenSpec};
use crate::ffmpeg::SourceInfo;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: plain numbers travel well through JSON.
pub type UnixMillis = u64;

/// The current wall-clock time as [`UnixMillis`].
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where a stream is in its life. Every state an operator must act on is
/// its own variant, carrying what the operator needs to know about it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StreamState {
    /// Not running, on purpose (disabled or stopped by the operator).
    #[default]
    Stopped,
    /// FFmpeg was started and has not produced output yet.
    Starting,
    /// FFmpeg is producing output.
    Running,
    /// FFmpeg stopped making progress; it is being killed and restarted.
    Stalled,
    /// FFmpeg exited; it will be started again at `retry_at`.
    Retrying {
        /// How many restarts in a row (resets after a minute of health).
        attempt: u32,
        /// When the next start happens.
        retry_at: UnixMillis,
    },
    /// onair cannot run this stream until the operator acts.
    Failed {
        /// What went wrong and what to do.
        reason: String,
    },
    /// The source is lost (or the operator holds the slate up): the outputs
    /// carry the slate and stay connected while the source is retried.
    Fallback {
        /// When the slate went on the air.
        since: UnixMillis,
        /// The source's last error, or why the slate is up.
        reason: String,
        /// The operator put the slate up by hand (the bumper).
        #[serde(default)]
        forced: bool,
    },
}

impl StreamState {
    /// A short lowercase word for tables, logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            StreamState::Stopped => "stopped",
            StreamState::Starting => "starting",
            StreamState::Running => "running",
            StreamState::Stalled => "stalled",
            StreamState::Retrying { .. } => "retrying",
            StreamState::Failed { .. } => "failed",
            StreamState::Fallback { .. } => "fallback",
        }
    }
}

/// One state change, for the detail pane's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    /// When it happened.
    pub at: UnixMillis,
    /// The new state's label, with a word on why.
    pub text: String,
}

/// Everything known about one stream right now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamSnapshot {
    /// Unique name (`cam1`, or `program/youtube` for a destination).
    pub name: String,
    /// Whether onair keeps it running.
    pub enabled: bool,
    /// Current state.
    #[serde(flatten)]
    pub state: StreamState,
    /// Latency profile.
    pub profile: Profile,
    /// Kind of output.
    pub output_kind: OutputKind,
    /// Output, with keys masked.
    pub output: String,
    /// Input, with credentials masked.
    pub input: String,
    /// The FFmpeg command, shell-quoted, with keys masked.
    pub command: String,
    /// PID of the FFmpeg process, while there is one.
    pub pid: Option<u32>,
    /// When the current process started producing output.
    pub running_since: Option<UnixMillis>,
    /// CPU use of the FFmpeg process, percent of one core.
    pub cpu_percent: Option<f32>,
    /// Resident memory of the FFmpeg process, bytes.
    pub rss_bytes: Option<u64>,
    /// Output frames per second.
    pub fps: Option<f64>,
    /// Output bitrate, kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Speed relative to real time.
    pub speed: Option<f64>,
    /// Frames written by the current process.
    pub frames: Option<u64>,
    /// Frames dropped by the current process.
    pub drop_frames: Option<u64>,
    /// Restarts since onair started (exits and stalls alike).
    pub restarts: u32,
    /// Restarts caused by the stall watchdog.
    pub stalls: u32,
    /// The last error FFmpeg printed or the reason of the last exit (masked).
    pub last_error: Option<String>,
    /// The newest state change (the table's "last event").
    #[serde(default)]
    pub last_change: Option<StateChange>,
    /// Changes whenever this stream's [`StreamDetails`] (stderr tail,
    /// history) change: a UI showing them asks for them again then.
    #[serde(default)]
    pub details_seq: u64,
    /// What the source sends, once FFmpeg has opened it.
    #[serde(default)]
    pub source: Option<SourceInfo>,
    /// What the stream does with the source's video: `copy`, `h264`,
    /// `h264 from hevc`, or `auto` until the source is known.
    #[serde(default)]
    pub handling: String,
    /// What will not play as configured, with what to do (the stream still runs).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Every process of the stream with its CPU and memory (ingest, output,
    /// slate encoder); `cpu_percent` and `rss_bytes` above are their sum.
    #[serde(default)]
    pub processes: Vec<ProcessSnapshot>,
    /// The fallback side of a stream that has it (`fallback = true`).
    #[serde(default)]
    pub fallback: Option<FallbackSnapshot>,
    /// Whether this stream's FFmpeg measures its content (levels, alarms,
    /// thumbnail).
    #[serde(default)]
    pub analysis: bool,
    /// The latest audio levels, while the stream runs with analysis on.
    #[serde(default)]
    pub audio: Option<AudioLevels>,
    /// Content alarms raised right now (silent, black, frozen).
    #[serde(default)]
    pub alarms: Vec<Alarm>,
    /// The latest thumbnail of the picture, while there is one.
    #[serde(default)]
    pub thumbnail: Option<Thumbnail>,
}

/// What a process does for its stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessRole {
    /// The one FFmpeg of a stream without fallback.
    #[default]
    Stream,
    /// Reads the source and feeds the relay.
    Ingest,
    /// Writes one destination from the relay.
    Output,
    /// Encodes the slate clip (briefly, when the source's format is new).
    Slate,
}

/// One process of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    /// What it does.
    pub role: ProcessRole,
    /// Its PID.
    pub pid: Option<u32>,
    /// CPU use, percent of one core.
    pub cpu_percent: Option<f32>,
    /// Resident memory, bytes.
    pub rss_bytes: Option<u64>,
    /// Its own state (`running`, `retrying`, ...).
    pub state: String,
}

/// The fallback side of a stream: what is on the air, how often the slate
/// was needed, and what the slate is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FallbackSnapshot {
    /// `live`, `slate`, or `none` while nothing reaches the outputs.
    pub on_air: String,
    /// The operator holds the slate up (key `b`).
    pub forced: bool,
    /// Times the slate replaced a lost source since onair started.
    pub fallbacks: u32,
    /// Seconds the current stretch of slate has lasted (0 on live).
    pub slate_seconds: f64,
    /// Seconds on the slate in all since onair started.
    pub slate_seconds_total: f64,
    /// What the slate shows (`built-in card` or a file name).
    pub slate: String,
    /// The slate clip: `encoding`, what it matches, or why it failed.
    pub clip: String,
    /// What the live feed carries, as last probed (codec, size, rate, audio).
    pub live_format: Option<String>,
    /// The ingest's command, shell-quoted, keys masked.
    pub ingest_command: String,
    /// The ingest's state (`running`, `retrying`, ...).
    pub ingest_state: String,
    /// Restarts of the ingest.
    pub ingest_restarts: u32,
    /// Megabytes the relay has handed to the outputs.
    pub relayed_mb: f64,
}

/// The machine as a whole, and onair itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostStats {
    /// All cores together, percent.
    pub cpu_percent: f32,
    /// Number of cores.
    pub cores: usize,
    /// RAM in use, bytes.
    pub mem_used_bytes: u64,
    /// RAM in all, bytes.
    pub mem_total_bytes: u64,
    /// onair's own CPU use, percent of one core.
    pub onair_cpu_percent: f32,
    /// onair's own resident memory, bytes.
    pub onair_rss_bytes: u64,
}

/// The state of `streams.toml` as the engine sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigStatus {
    /// The file.
    pub path: String,
    /// When the running config was last loaded.
    pub loaded_at: Option<UnixMillis>,
    /// The current problem with the file (`FILE:LINE:COL: message`), if the
    /// last save was invalid; the previous config keeps running meanwhile.
    pub error: Option<String>,
    /// Things worth knowing that do not stop anything.
    pub warnings: Vec<String>,
    /// Key presses not yet written to the file (it was invalid when pressed).
    pub pending_writes: Vec<String>,
}

/// One line of the engine's event log (state changes, reloads, errors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Increases with every entry, so a UI can tell which entries are new.
    pub seq: u64,
    /// When.
    pub at: UnixMillis,
    /// The stream concerned, if any.
    pub stream: Option<String>,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// What happened (masked).
    pub text: String,
}

/// The heavy part of one stream's picture: what only a UI that shows this
/// stream needs. Snapshots carry [`StreamSnapshot::details_seq`] instead,
/// so a UI asks for these (see `Engine::details`) only when they changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamDetails {
    /// The stream.
    pub name: String,
    /// Equals the stream's `details_seq` at the time these were read.
    #[serde(default)]
    pub seq: u64,
    /// The last lines FFmpeg printed on stderr (masked), oldest first.
    #[serde(default)]
    pub stderr: Vec<String>,
    /// Recent state changes, oldest first.
    #[serde(default)]
    pub history: Vec<StateChange>,
}

/// The whole picture.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Increases with every published snapshot.
    pub seq: u64,
    /// When it was taken.
    pub taken_at: UnixMillis,
    /// Host and onair resource use.
    pub host: HostStats,
    /// The config file's state.
    pub config: ConfigStatus,
    /// HTTP address from the config.
    pub listen: String,
    /// Every stream, in file order.
    pub streams: Vec<StreamSnapshot>,
    /// Every screen, in file order.
    pub screens: Vec<ScreenSpec>,
    /// The number of the newest engine log entry: a UI reads the entries it
    /// has not seen with `Engine::log_since`.
    #[serde(default)]
    pub log_seq: u64,
    /// What every open screen page says it shows, in the order they appeared.
    #[serde(default)]
    pub screen_reports: Vec<ScreenReport>,
}

impl Snapshot {
    /// A stream by name.
    pub fn stream(&self, name: &str) -> Option<&StreamSnapshot> {
        self.streams.iter().find(|s| s.name == name)
    }
}
