//! The `streams.toml` file exactly as written by the operator.
//!
//! These types mirror the file one to one so that serde can point at the
//! offending key of any mistake; [`super::load`] turns them into the resolved
//! [`super::Config`] that the rest of onair works with.

use serde::Deserialize;
use toml::Spanned;

/// A string value that keeps its place in the file, so that a `${VAR}` that
/// cannot be expanded, or a value that fails validation, is reported at its
/// own line and column.
pub type Text = Spanned<String>;

/// The whole file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// `[server]`: where onair listens, writes HLS and finds FFmpeg.
    #[serde(default)]
    pub server: ServerSection,
    /// `[profile.low-latency]` and `[profile.stable]` overrides.
    #[serde(default)]
    pub profile: ProfileSections,
    /// Every `[[stream]]`, in file order (the console shows them in this order).
    #[serde(default)]
    pub stream: Vec<StreamSection>,
    /// Every `[[screen]]`: a browser page that plays one stream with overlays.
    #[serde(default)]
    pub screen: Vec<ScreenSection>,
}

/// `[server]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address of the HTTP server that feeds the screens.
    pub listen: Option<Text>,
    /// Directory that receives `<stream>/index.m3u8`, relative to the file.
    pub hls_dir: Option<Text>,
    /// FFmpeg binary, a path or a name looked up in `PATH`.
    pub ffmpeg: Option<Text>,
    /// Seconds without progress before a stream counts as stalled.
    pub stall_timeout: Option<Spanned<f64>>,
    /// The slate of every stream (a picture or a video file), instead of
    /// the built-in card.
    pub slate: Option<Text>,
    /// Addresses and networks that may see operator data over HTTP.
    pub operator_allow: Option<Vec<Text>>,
    /// A program (and its arguments, no shell) run on alarms and failures.
    pub on_alarm: Option<Vec<Text>>,
    /// Levels, black/freeze detection and thumbnails for every stream
    /// (default true; a stream may say otherwise).
    pub analysis: Option<bool>,
    /// Default silence level, dBFS.
    pub silent_below: Option<Spanned<f64>>,
    /// Default seconds of silence before `silent` (0: off).
    pub silent_after: Option<Spanned<f64>>,
    /// Default seconds of black picture before `black` (0: off).
    pub black_after: Option<Spanned<f64>>,
    /// Default seconds of unchanged picture before `frozen` (0: off).
    pub frozen_after: Option<Spanned<f64>>,
}

/// `[profile.*]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProfileSections {
    /// Overrides of the low-latency profile.
    #[serde(rename = "low-latency")]
    pub low_latency: Option<ProfileSection>,
    /// Overrides of the stable profile.
    pub stable: Option<ProfileSection>,
}

/// One profile's overrides; anything left out keeps its built-in value.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProfileSection {
    /// Target HLS segment length in seconds.
    pub hls_time: Option<Spanned<f64>>,
    /// Segments kept in the live playlist.
    pub hls_list_size: Option<Spanned<i64>>,
    /// Keyframe interval, in seconds, when onair encodes the video.
    pub gop_seconds: Option<Spanned<f64>>,
    /// Extra input options for every stream on this profile.
    pub input_args: Option<Vec<Text>>,
    /// Extra output options for every stream on this profile.
    pub output_args: Option<Vec<Text>>,
    /// Seconds behind real time at which every screen shows the picture.
    pub screen_delay: Option<Spanned<f64>>,
}

/// `[[stream]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSection {
    /// Unique name; also the HLS directory and the URL path.
    pub name: Text,
    /// What FFmpeg reads: a URL, a file path or `lavfi:<filtergraph>`.
    pub input: Text,
    /// `"hls"` or one push URL (`rtmp://`, `rtmps://`, `srt://`).
    pub output: Option<Text>,
    /// Several push destinations for the same input, one FFmpeg each.
    pub outputs: Option<Vec<Spanned<DestinationSection>>>,
    /// `"low-latency"` or `"stable"`.
    pub profile: Option<Text>,
    /// Whether onair keeps this stream running.
    pub enabled: Option<bool>,
    /// `"auto"` (default), `"copy"` or `"h264"`.
    pub video: Option<Text>,
    /// `"auto"` (default), `"aac"`, `"copy"` or `"none"`.
    pub audio: Option<Text>,
    /// Loop a file input forever.
    #[serde(rename = "loop")]
    pub loop_input: Option<bool>,
    /// Seconds without progress before this stream counts as stalled.
    pub stall_timeout: Option<Spanned<f64>>,
    /// Expert options placed before `-i`.
    pub input_args: Option<Vec<Text>>,
    /// Expert options placed before the output.
    pub output_args: Option<Vec<Text>>,
    /// Whether a lost source is replaced by the slate (default true).
    pub fallback: Option<bool>,
    /// This stream's slate (a picture or a video file).
    pub slate: Option<Text>,
    /// Levels, black/freeze detection and thumbnails for this stream.
    pub analysis: Option<bool>,
    /// Silence level of this stream, dBFS.
    pub silent_below: Option<Spanned<f64>>,
    /// Seconds of silence before `silent` (0: off).
    pub silent_after: Option<Spanned<f64>>,
    /// Seconds of black picture before `black` (0: off).
    pub black_after: Option<Spanned<f64>>,
    /// Seconds of unchanged picture before `frozen` (0: off).
    pub frozen_after: Option<Spanned<f64>>,
}

/// One entry of `outputs = [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationSection {
    /// Short name; the row is called `<stream>/<name>`.
    pub name: Text,
    /// Push URL (`rtmp://`, `rtmps://`, `srt://`) or `"hls"`.
    pub url: Text,
    /// Whether this destination is pushed; defaults to the stream's.
    pub enabled: Option<bool>,
    /// Profile of this destination; defaults to the stream's.
    pub profile: Option<Text>,
    /// `"auto"`, `"copy"` or `"h264"`; defaults to the stream's.
    pub video: Option<Text>,
    /// `"auto"`, `"aac"`, `"copy"` or `"none"`; defaults to the stream's.
    pub audio: Option<Text>,
    /// Expert output options; defaults to the stream's.
    pub output_args: Option<Vec<Text>>,
}

/// `[[screen]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenSection {
    /// Unique name; the page is `/screen/<name>`.
    pub name: Text,
    /// The stream this screen plays.
    pub stream: Text,
    /// A line of text over the picture.
    pub banner: Option<Spanned<OverlaySection>>,
    /// Text that scrolls across the picture.
    pub ticker: Option<Spanned<OverlaySection>>,
    /// An image from `assets/`.
    pub logo: Option<Spanned<OverlaySection>>,
    /// A wall clock.
    pub clock: Option<Spanned<OverlaySection>>,
}

/// The settings of one overlay.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OverlaySection {
    /// Banner or ticker text.
    pub text: Option<Text>,
    /// Logo file name inside `assets/`.
    pub image: Option<Text>,
    /// `top-left`, `top`, `top-right`, `left`, `center`, `right`,
    /// `bottom-left`, `bottom`, `bottom-right`.
    pub position: Option<Text>,
    /// Clock format: `"24h"` or `"12h"`; seconds shown with `"24h:ss"`.
    pub format: Option<Text>,
}
