//! The slate's background work for a stream with fallback: reading what a
//! live feed carries (ffprobe on its first seconds) and encoding the slate
//! clip to match it. Both run as child processes of the engine's spawner,
//! so they end with onair like every FFmpeg.

use super::child::{Extras, Spawner};
use super::relayed::RelayState;
use crate::ffmpeg::probe::{self, FeedFormat};
use crate::ffmpeg::slate::{self, SlateSource};
use crate::relay::Clip;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// ffprobe gets this long to read a live feed's first seconds.
const PROBE_LIMIT: Duration = Duration::from_secs(15);
/// The slate encoder gets this long (a video slate is up to 30 s long).
const ENCODE_LIMIT: Duration = Duration::from_secs(120);

/// The state of a stream's slate clip.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum ClipState {
    /// Nothing encoded yet.
    #[default]
    None,
    /// The encoder is running.
    Encoding,
    /// Ready to play: what it matches.
    Ready(String),
    /// The encoder failed: why.
    Failed(String),
}

/// What the slate shows, in a few words.
pub(crate) fn describe_slate(source: &SlateSource) -> String {
    match source {
        SlateSource::Card(_) => "built-in card".to_string(),
        SlateSource::Image(path) | SlateSource::Video(path) => path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
    }
}

/// Runs ffprobe on the first seconds of a live run.
pub(crate) async fn run_probe(
    spawner: &Spawner,
    argv: Vec<String>,
    head: Vec<u8>,
) -> Option<FeedFormat> {
    let mut child = spawner.spawn(argv).await.ok()?;
    let mut stdin = child.stdin.take()?;
    let feed = tokio::spawn(async move {
        let _ = stdin.write_all(&head).await;
    });
    let output = tokio::time::timeout(PROBE_LIMIT, child.wait_with_output())
        .await
        .ok()?
        .ok()?;
    feed.abort();
    probe::parse(&String::from_utf8_lossy(&output.stdout))
}

/// Runs the slate encoder; returns the clip, or why not and whether the
/// failure came from drawing text.
pub(crate) async fn run_encoder(
    spawner: &Spawner,
    argv: Vec<String>,
    state: &Arc<Mutex<RelayState>>,
    background: bool,
) -> (Result<Clip, String>, bool) {
    let extras = Extras {
        fd3: None,
        background,
        ..Extras::default()
    };
    let child = match spawner.spawn_with(argv, extras).await {
        Ok(child) => child,
        Err(e) => return (Err(format!("cannot start ffmpeg: {e}")), false),
    };
    if let Ok(mut s) = state.lock() {
        s.encoder_pid = child.id();
    }
    let output = tokio::time::timeout(ENCODE_LIMIT, child.wait_with_output()).await;
    if let Ok(mut s) = state.lock() {
        s.encoder_pid = None;
        s.encoder_usage = None;
    }
    let output = match output {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return (Err(e.to_string()), false),
        Err(_) => return (Err("the encoder took too long".to_string()), false),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    let text_failed = stderr.lines().any(slate::is_text_failure);
    if !output.status.success() {
        return (
            Err(format!("ffmpeg {}: {last}", output.status)),
            text_failed,
        );
    }
    (
        Clip::parse(&output.stdout).map_err(|e| e.to_string()),
        text_failed,
    )
}
