//! `streams.toml`: what the operator wrote, checked and resolved.
//!
//! Everything downstream (the engine, the HTTP server, the console) sees only
//! the resolved [`Config`]: defaults filled in, `${VAR}` expanded, paths made
//! absolute, and every mistake already reported with its `FILE:LINE:COL`.

mod access;
mod alarms;
mod diff;
mod expand;
mod load;
mod problem;
mod resolve;
pub mod schema;
mod screens;
mod urls;
mod write_back;

pub use access::OperatorAllow;
pub use alarms::AlarmSettings;
pub use diff::{Plan, diff};
pub use load::{load_file, load_str};
pub use problem::{ConfigError, Place, Problem};
pub use write_back::{WriteBackError, apply_change, real_file, write_atomically, write_change};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The two latency profiles an operator can switch a stream between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// About one second glass to glass on a LAN; less margin for a bad network.
    LowLatency,
    /// Longer segments and a deeper buffer; survives network hiccups.
    #[default]
    Stable,
}

impl Profile {
    /// The name used in the file, the console and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::LowLatency => "low-latency",
            Profile::Stable => "stable",
        }
    }

    /// The other profile: what the `p` key switches to.
    pub fn other(self) -> Profile {
        match self {
            Profile::LowLatency => Profile::Stable,
            Profile::Stable => Profile::LowLatency,
        }
    }

    /// Parses the file's spelling.
    pub fn parse(text: &str) -> Option<Profile> {
        match text {
            "low-latency" => Some(Profile::LowLatency),
            "stable" => Some(Profile::Stable),
            _ => None,
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The FFmpeg-level settings of a profile, after the file's overrides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileSettings {
    /// Target segment length (`-hls_time`), seconds.
    pub hls_time: f64,
    /// Segments in the live playlist (`-hls_list_size`).
    pub hls_list_size: u32,
    /// Keyframe interval when encoding, seconds.
    pub gop_seconds: f64,
    /// Extra options before `-i` for every stream of the profile.
    pub input_args: Vec<String>,
    /// Extra options before the output for every stream of the profile.
    pub output_args: Vec<String>,
    /// How far behind real time every screen of the profile's streams
    /// shows the picture, seconds: one target for the whole room, so that
    /// neighbouring screens show the same frame.
    pub screen_delay: f64,
}

impl ProfileSettings {
    /// The values onair uses when the file does not override them.
    pub fn builtin(profile: Profile) -> ProfileSettings {
        let (hls_time, hls_list_size, gop_seconds) = match profile {
            Profile::LowLatency => (0.5, 6, 0.5),
            Profile::Stable => (4.0, 6, 2.0),
        };
        ProfileSettings {
            hls_time,
            hls_list_size,
            gop_seconds,
            input_args: Vec::new(),
            output_args: Vec::new(),
            screen_delay: ProfileSettings::default_screen_delay(hls_time),
        }
    }

    /// The screen delay used when `screen_delay` is not set: a whole
    /// segment (a screen can only show a segment once it is complete) plus
    /// a margin for its delivery and for a late one: half a segment, at
    /// least 0.4 s (0.9 s with 0.5 s segments, 6 s with 4 s ones).
    pub fn default_screen_delay(hls_time: f64) -> f64 {
        hls_time + (hls_time / 2.0).max(0.4)
    }
}

/// Both profiles' settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profiles {
    /// `[profile.low-latency]`.
    pub low_latency: ProfileSettings,
    /// `[profile.stable]`.
    pub stable: ProfileSettings,
}

impl Profiles {
    /// The settings of one profile.
    pub fn get(&self, profile: Profile) -> &ProfileSettings {
        match profile {
            Profile::LowLatency => &self.low_latency,
            Profile::Stable => &self.stable,
        }
    }
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles {
            low_latency: ProfileSettings::builtin(Profile::LowLatency),
            stable: ProfileSettings::builtin(Profile::Stable),
        }
    }
}

/// What FFmpeg reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `lavfi:<filtergraph>`: a synthetic source, always encoded to H.264.
    Lavfi(String),
    /// A local file, read at its native rate.
    File(PathBuf),
    /// A URL FFmpeg reads over the network.
    Network {
        /// `rtsp`, `rtmp`, `srt`, `udp`, `http`, ...
        scheme: String,
        /// The whole URL, as given (may hold credentials: never display it raw).
        url: String,
    },
}

/// Where a stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// HLS files under `hls_dir/<name>/`, served to the screens.
    Hls,
    /// A push to `rtmp://` or `rtmps://` (FLV).
    Rtmp(String),
    /// A push to `srt://` (MPEG-TS).
    Srt(String),
}

/// The kind of an output, without its URL: safe to show and to serialise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// HLS files.
    #[default]
    Hls,
    /// RTMP(S) push.
    Rtmp,
    /// SRT push.
    Srt,
}

impl Output {
    /// The kind of this output.
    pub fn kind(&self) -> OutputKind {
        match self {
            Output::Hls => OutputKind::Hls,
            Output::Rtmp(_) => OutputKind::Rtmp,
            Output::Srt(_) => OutputKind::Srt,
        }
    }
}

/// How the video is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoMode {
    /// Copy what every screen and platform plays (H.264), encode anything
    /// else; decided when the source is opened (see `ffmpeg::decide`).
    Auto,
    /// Pass the source's video through untouched (cheapest).
    Copy,
    /// Encode with libx264, keyframes every `gop_seconds`.
    H264,
}

/// How the audio is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioMode {
    /// Copy AAC, encode anything else to AAC; decided when the source is opened.
    Auto,
    /// Encode to AAC (what every player and platform accepts).
    Aac,
    /// Pass the source's audio through.
    Copy,
    /// Drop the audio.
    None,
}

/// One supervised FFmpeg: a stream, or one destination of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Unique name (`cam1`, or `program/youtube` for a destination).
    pub name: String,
    /// What FFmpeg reads.
    pub input: Input,
    /// Loop a file input.
    pub loop_input: bool,
    /// Where it goes.
    pub output: Output,
    /// The latency profile.
    pub profile: Profile,
    /// Whether onair keeps it running.
    pub enabled: bool,
    /// Video handling.
    pub video: VideoMode,
    /// Audio handling.
    pub audio: AudioMode,
    /// Expert options before `-i`.
    pub input_args: Vec<String>,
    /// Expert options before the output.
    pub output_args: Vec<String>,
    /// Time without progress before the watchdog restarts it.
    pub stall_timeout: Duration,
    /// This FFmpeg also measures the content (levels, black, freeze) and
    /// keeps a thumbnail; for a stream with several destinations, only the
    /// first one does.
    pub analysis: bool,
    /// When the content raises an alarm.
    pub alarms: AlarmSettings,
    /// Line of the stream in the file, for messages.
    pub line: usize,
    /// The `[[stream]]` this row belongs to (`program` for
    /// `program/youtube`): with `fallback`, the rows of one stream share its
    /// ingest, relay and slate.
    pub stream: String,
    /// How the stream's ingest reads the source: the `[[stream]]`'s own
    /// profile, video and audio (a destination may set others for itself).
    pub ingest: IngestSettings,
    /// A lost source is replaced by the slate and the outputs stay up
    /// (`fallback`, on by default); off, the outputs stop with the source.
    pub fallback: bool,
    /// The slate shown while the source is lost: a picture or a video file
    /// (`slate`, else `[server].slate`), or `None` for the built-in card.
    pub slate: Option<PathBuf>,
}

/// The stream-level settings the ingest runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSettings {
    /// The stream's latency profile (input buffering, encoder tuning).
    pub profile: Profile,
    /// The stream's video handling.
    pub video: VideoMode,
    /// The stream's audio handling.
    pub audio: AudioMode,
    /// The stream's own `output_args`: with fallback they go to the ingest,
    /// where the stream's video and audio are handled (filters, bitrates).
    pub output_args: Vec<String>,
}

/// Where an overlay sits on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    /// Top left corner.
    TopLeft,
    /// Top edge, centred.
    Top,
    /// Top right corner.
    TopRight,
    /// Left edge, centred.
    Left,
    /// The middle.
    Center,
    /// Right edge, centred.
    Right,
    /// Bottom left corner.
    BottomLeft,
    /// Bottom edge, centred.
    Bottom,
    /// Bottom right corner.
    BottomRight,
}

impl Position {
    /// Parses the file's spelling.
    pub fn parse(text: &str) -> Option<Position> {
        Some(match text {
            "top-left" => Position::TopLeft,
            "top" => Position::Top,
            "top-right" => Position::TopRight,
            "left" => Position::Left,
            "center" | "centre" => Position::Center,
            "right" => Position::Right,
            "bottom-left" => Position::BottomLeft,
            "bottom" => Position::Bottom,
            "bottom-right" => Position::BottomRight,
            _ => return None,
        })
    }
}

/// A text overlay (banner or ticker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextOverlay {
    /// What it says.
    pub text: String,
    /// Where it sits.
    pub position: Position,
}

/// A logo overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageOverlay {
    /// File name inside `assets/`, served at `/assets/<image>`.
    pub image: String,
    /// Where it sits.
    pub position: Position,
}

/// A clock overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockOverlay {
    /// `24h`, `24h:ss`, `12h` or `12h:ss`.
    pub format: String,
    /// Where it sits.
    pub position: Position,
}

/// A screen: one browser page playing one stream with overlays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenSpec {
    /// Unique name; the page is `/screen/<name>`.
    pub name: String,
    /// The stream it plays.
    pub stream: String,
    /// A line of text.
    pub banner: Option<TextOverlay>,
    /// Scrolling text.
    pub ticker: Option<TextOverlay>,
    /// An image.
    pub logo: Option<ImageOverlay>,
    /// A clock.
    pub clock: Option<ClockOverlay>,
}

/// `[server]`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// HTTP address.
    pub listen: SocketAddr,
    /// Absolute HLS directory.
    pub hls_dir: PathBuf,
    /// FFmpeg binary (path or name in `PATH`).
    pub ffmpeg: PathBuf,
    /// Where `ffmpeg` was written, if it was.
    pub ffmpeg_at: Option<Place>,
    /// Where `hls_dir` was written, if it was.
    pub hls_dir_at: Option<Place>,
    /// Program and arguments run on alarms and failures (empty: none).
    pub on_alarm: Vec<String>,
    /// Who may see operator data over HTTP (default: this machine only).
    pub operator_allow: OperatorAllow,
}

/// A valid `streams.toml`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from (absolute).
    pub path: PathBuf,
    /// `[server]`.
    pub server: ServerSettings,
    /// Profiles with the file's overrides applied.
    pub profiles: Profiles,
    /// Every stream and destination, in file order.
    pub streams: Vec<StreamSpec>,
    /// Every screen, in file order.
    pub screens: Vec<ScreenSpec>,
    /// Every value that came from `${VAR}`: masked wherever text is shown.
    pub secrets: Vec<String>,
    /// Problems that do not stop onair (a literal key in a file others can read).
    pub warnings: Vec<String>,
    /// Streams whose output URL holds a key written into the file itself.
    pub literal_keys: Vec<String>,
}

/// A change the operator made by key that must survive a restart of onair,
/// so it is written back into `streams.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The stream was switched on or off.
    Enabled(bool),
    /// The stream's latency profile was switched.
    Profile(Profile),
}

impl Change {
    /// Applies the change to a stream: the same edit whether it comes from a
    /// key press or is re-applied on top of a reloaded file.
    pub fn apply_to(&self, spec: &mut StreamSpec) {
        match self {
            Change::Enabled(on) => spec.enabled = *on,
            Change::Profile(profile) => {
                spec.profile = *profile;
                // A stream without destinations is its own ingest's row.
                if spec.name == spec.stream {
                    spec.ingest.profile = *profile;
                }
            }
        }
    }
}

impl Config {
    /// A stream by name.
    pub fn stream(&self, name: &str) -> Option<&StreamSpec> {
        self.streams.iter().find(|s| s.name == name)
    }

    /// A screen by name.
    pub fn screen(&self, name: &str) -> Option<&ScreenSpec> {
        self.screens.iter().find(|s| s.name == name)
    }

    /// The directory beside the config that holds `logs/` and the default `hls/`.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The HLS directory of one stream.
    pub fn stream_hls_dir(&self, name: &str) -> PathBuf {
        self.server.hls_dir.join(name)
    }

    /// Where a stream's thumbnail is kept: beside the HLS files, in a
    /// directory the HLS server never serves from (it serves HLS file
    /// types only).
    pub fn thumbnail_path(&self, name: &str) -> PathBuf {
        self.server
            .hls_dir
            .join(".thumbs")
            .join(format!("{}.jpg", name.replace('/', ".")))
    }
}
